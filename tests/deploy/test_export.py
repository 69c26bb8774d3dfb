"""`k49 export`: ONNX graphs that match torch, their metadata and model card, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from cli_runner import k49
from k49.data.datasets import REAL_SAMPLE, get_spec
from k49.data.load import load_dataset
from k49.deploy import export
from k49.deploy.export import export_onnx, onnx_proba, read_metadata
from k49.deploy.model_card import model_card, render_model_card
from k49.errors import K49Error
from k49.models import create_model, list_models, model_info
from k49.models.inference import predict_proba
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.training.trainer import train

pytestmark = pytest.mark.slow

MODELS = [*list_models(tag="original"), "resnet_small"]
CHARS = get_spec("synthetic").chars


@pytest.fixture(scope="module")
def synth(synth_dir):
    return load_dataset("synthetic", synth_dir, offline=True, progress=False)


@pytest.fixture(scope="module")
def real_images():
    with np.load(REAL_SAMPLE) as npz:
        return npz["arr_0"]


def make_run(synth, path: Path, model: str, *, test: bool = True) -> RunDir:
    """A real run: one optimizer step on 200 synthetic images (a full fit for kNN)."""
    config = TrainConfig(model=model, dataset="synthetic", data_dir=str(synth.data_dir),
                         epochs=1, limit_train=200, device="cpu", threads=1)
    train(config, path, dataset=synth, quiet=True, max_steps=1, test=test)
    return RunDir(path)


def torch_model(run: RunDir) -> torch.nn.Module:
    cfg = run.read_config()["config"]
    model = create_model(cfg["model"], num_classes=49, **cfg["model_args"])
    run.load_weights(model)
    return model.eval()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.suffix in (".onnx", ".md") or ".part" in p.name)


@pytest.mark.parametrize("name", MODELS)
def test_export_matches_torch_with_dynamic_batch_metadata_and_card(name, synth, real_images,
                                                                   tmp_path):
    run = make_run(synth, tmp_path / "run", name)
    result = export_onnx(run)
    path = Path(result["onnx"])
    assert path == run.file("model.onnx") and path.stat().st_size == result["bytes"]
    assert result["max_abs_diff"] <= 1e-4
    assert result["n_checked"] == len(synth.test_images)  # fewer than 1,000: all of them
    print(f"{name}: max abs diff {result['max_abs_diff']:.2e}, {result['exporter']}")

    # The batch axis is symbolic, and batches of 1 and 7 real images match torch.
    graph = onnx.load(str(path))
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [28, 28]
    model = torch_model(run)
    for images in (real_images[:1], real_images[1:8], synth.test_images[:7]):
        got = onnx_proba(path, images)
        assert got.shape == (len(images), 49)
        np.testing.assert_allclose(got, predict_proba(model, images), atol=1e-4, rtol=0)

    meta = read_metadata(path)
    assert json.loads(meta["classes"]) == list(CHARS)
    assert meta["config_hash"] == run.read_config()["config_hash"]
    assert (meta["model"], meta["dataset"], meta["synthetic"]) == (name, "synthetic", "true")
    assert "to_k49" in meta["preprocessing"] and "uint8" in meta["preprocessing"]
    metrics = json.loads(meta["metrics"])
    assert 0 <= metrics["balanced_accuracy"] <= 1 and len(metrics["intervals"]["accuracy"]) == 2

    card = Path(result["model_card"]).read_text(encoding="utf-8")
    assert Path(result["model_card"]).parent == path.parent
    assert card.splitlines()[2].startswith("**Trained and tested on synthetic data, not K49")
    assert f"Trainable parameters: {model_info(name)['params']:,}" in card
    for section in ("## Architecture", "## Training data and protocol", "## Test metrics",
                    "| Balanced accuracy |", "95% CI", "## Rarest classes",
                    "## Intended use", "## Limitations", "## The ONNX file"):
        assert section in card, section
    assert leftovers(run.path) == ["model.md", "model.onnx"]


def test_model_card_facts_are_json_ready_and_rank_the_rarest_classes(synth, tmp_path):
    run = make_run(synth, tmp_path / "run", "NN_1_adam", test=False)
    facts = model_card(run)
    assert json.loads(json.dumps(facts)) == facts
    assert facts["metrics"] is None and facts["intervals"] is None
    assert facts["synthetic"] and facts["synthetic_notice"].startswith("Trained and tested")
    assert facts["params"] == model_info("NN_1_adam")["params"]
    assert facts["classes"] == list(CHARS)
    rare = facts["rarest_classes"]
    counts = np.bincount(synth.train_labels, minlength=49)
    assert facts["rarity_basis"] == "training images" and len(rare) == 5
    assert [r["count"] for r in rare] == sorted(counts)[:5]
    assert all(CHARS[r["index"]] == r["char"] and r["recall"] is None for r in rare)
    card = render_model_card(facts)
    assert "No test metrics yet" in card and "95% CI" not in card


def test_the_torchscript_fallback_exports_with_a_dynamic_batch(synth, real_images, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(export, "_export_dynamo", lambda *a: None)  # as on torch < 2.5
    run = make_run(synth, tmp_path / "run", "CNN_1_adam")
    out = tmp_path / "out" / "cnn.onnx"
    result = export_onnx(run, out, check_images=real_images)
    assert "TorchScript" in result["exporter"] and result["n_checked"] == 100
    assert result["max_abs_diff"] <= 1e-4 and (out.parent / "cnn.md").exists()
    got = onnx_proba(out, real_images[:7])
    np.testing.assert_allclose(got, predict_proba(torch_model(run), real_images[:7]), atol=1e-4)


def test_a_mismatch_fails_the_export_and_leaves_nothing(synth, tmp_path, monkeypatch):
    run = make_run(synth, tmp_path / "run", "NN_1_sgd")
    real = export.onnx_proba
    monkeypatch.setattr(export, "onnx_proba", lambda model, images: real(model, images) + 1e-3)
    with pytest.raises(K49Error, match=r"disagrees with torch: .* nothing was written"):
        export_onnx(run, tmp_path / "out.onnx")
    assert leftovers(tmp_path) == [] and leftovers(run.path) == []


def test_knn_is_refused_in_one_line(synth, tmp_path):
    run = make_run(synth, tmp_path / "run", "knn4")
    with pytest.raises(K49Error) as err:
        export_onnx(run)
    message = str(err.value)
    assert "\n" not in message and "cannot be exported to ONNX" in message
    assert "k49 predict" in message and "k49 serve" in message
    assert leftovers(run.path) == []
    facts = model_card(run)  # `GET /model` serves kNN runs too
    assert (facts["family"], facts["layers"], facts["flops"]) == ("knn", None, None)
    assert "## Limitations" in render_model_card(facts)


def test_cli_exports_and_prints_paths_difference_and_size(synth, tmp_path):
    run = make_run(synth, tmp_path / "run", "CNN_1_sgd")
    out = tmp_path / "exported" / "cnn.onnx"
    proc = k49("export", str(run.path), "--format", "onnx", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    size = out.stat().st_size
    assert f"wrote {out} ({size / 1024:.1f} kB" in proc.stdout
    assert "largest absolute difference torch vs onnxruntime" in proc.stdout
    assert f"wrote {out.parent / 'cnn.md'}" in proc.stdout
    assert read_metadata(out)["model"] == "CNN_1_sgd"


def test_cli_refuses_knn_and_unknown_formats(synth, tmp_path):
    run = make_run(synth, tmp_path / "run", "knn4")
    proc = k49("export", str(run.path), "--format", "onnx", "--out", str(tmp_path / "k.onnx"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be exported to ONNX" in lines[0], proc.stderr
    assert leftovers(tmp_path) == []
    proc = k49("export", str(run.path), "--format", "tflite")
    assert proc.returncode != 0 and "--format onnx" in proc.stderr


def test_exports_into_one_folder_keep_their_own_cards_and_other_files_are_kept(synth, tmp_path):
    """Each .onnx gets the card named after it; a file k49 did not write is never replaced
    without --force, and then nothing at all is written; k49's own files are re-exported."""
    run_a = make_run(synth, tmp_path / "a", "NN_1_sgd")
    run_b = make_run(synth, tmp_path / "b", "NN_1_adam")
    out = tmp_path / "out"
    export_onnx(run_a, out / "a.onnx")
    export_onnx(run_b, out / "b.onnx")
    assert leftovers(out) == ["a.md", "a.onnx", "b.md", "b.onnx"]
    assert "Model card: " in (out / "a.md").read_text() and "NN_1_sgd" in (out / "a.md").read_text()
    assert read_metadata(out / "b.onnx")["model"] == "NN_1_adam"
    export_onnx(run_b, out / "a.onnx")  # k49's own pair: replaced
    assert read_metadata(out / "a.onnx")["model"] == "NN_1_adam"

    (out / "mine.md").write_text("my notes\n")
    (out / "theirs.onnx").write_bytes(b"not k49's")
    for target, theirs in ((out / "mine.onnx", out / "mine.md"),
                           (out / "theirs.onnx", out / "theirs.onnx")):
        before, files = theirs.read_bytes(), leftovers(out)
        proc = k49("export", str(run_a.path), "--out", str(target))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"{theirs} exists and was not written by k49 export" in proc.stderr
        assert "--force" in proc.stderr
        assert theirs.read_bytes() == before and leftovers(out) == files
    proc = k49("export", str(run_a.path), "--out", str(out / "mine.onnx"), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "Model card: " in (out / "mine.md").read_text()
    with pytest.raises(K49Error, match=r"ending in \.onnx"):
        export_onnx(run_a, out / "model.md")
