"""Predictions of trained runs on images in K49's form and on files, and `k49 predict`."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_runner import Result, k49
from k49.data.datasets import get_spec
from k49.data.load import load_dataset
from k49.deploy.images import load_k49_image
from k49.deploy.predict import Prediction, Predictor, predict_paths
from k49.errors import K49Error
from k49.runs.rundir import RunDir

pytestmark = pytest.mark.slow

CHARS = get_spec("synthetic").chars


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_run(trained_run, device="cpu")


@pytest.fixture(scope="module")
def synth(synth_dir):
    return load_dataset("synthetic", synth_dir, offline=True, progress=False)


def document(image: np.ndarray, path) -> None:
    """A K49 image saved as a user would have it: black ink on white, 96x96 with a margin."""
    canvas = Image.new("L", (96, 96), 255)
    canvas.paste(Image.fromarray(255 - image).resize((80, 80), Image.Resampling.BICUBIC), (8, 8))
    canvas.save(path)


def test_facts(predictor, trained_run):
    assert predictor.run == RunDir(trained_run)
    assert predictor.model_name == "cnn" and predictor.label == "cnn" and predictor.is_torch
    assert predictor.dataset == "synthetic" and predictor.synthetic is True
    assert predictor.chars == CHARS and predictor.num_classes == 49
    assert str(predictor.device) == "cpu"
    assert predictor.config_hash == RunDir(trained_run).read_config()["config_hash"]
    assert predictor.provenance.config == RunDir(trained_run).train_config()


def test_proba_reproduces_the_runs_test_predictions(predictor, trained_run, synth):
    """The weights loaded from model.safetensors give the probabilities saved by training."""
    _, saved = RunDir(trained_run).read_predictions()
    probs = predictor.proba(synth.test_images)
    assert probs.dtype == np.float32 and probs.shape == (len(synth.test_images), 49)
    np.testing.assert_allclose(probs, saved, atol=1e-5)


def test_knn_run_is_rebuilt(knn_run, synth):
    knn = Predictor.from_run(knn_run, device="cpu")
    assert knn.model_name == "knn4" and not knn.is_torch and knn.num_classes == 49
    _, saved = RunDir(knn_run).read_predictions()
    np.testing.assert_allclose(knn.proba(synth.test_images), saved, atol=1e-6)
    (top,) = knn.predict(synth.test_images[:1], top_k=3)
    assert len(top.top) == 3


def test_predict_top_k(predictor, real_sample):
    predictions = predictor.predict(real_sample[0][:4], top_k=5)
    probs = predictor.proba(real_sample[0][:4])
    assert len(predictions) == 4 and all(isinstance(p, Prediction) for p in predictions)
    for prediction, row in zip(predictions, probs, strict=True):
        top = prediction.to_dict()["top"]
        assert len(top) == 5 and top == prediction.top
        assert [t["probability"] for t in top] == sorted((t["probability"] for t in top),
                                                         reverse=True)
        assert top[0]["class"] == int(row.argmax())
        for t in top:
            assert set(t) == {"class", "char", "codepoint", "probability"}
            assert t["char"] == CHARS[t["class"]]
            assert t["codepoint"] == f"U+{ord(t['char']):04X}"
            assert t["probability"] == pytest.approx(float(row[t["class"]]))
    assert len(predictor.predict(real_sample[0][:1], top_k=49)[0].top) == 49
    json.dumps([p.to_dict() for p in predictions])


@pytest.mark.parametrize("top_k", [0, 50, -1, 2.5, "3", True])
def test_bad_top_k_is_named(predictor, real_sample, top_k):
    with pytest.raises(K49Error, match="top_k"):
        predictor.predict(real_sample[0][:1], top_k=top_k)


def test_bad_arrays_are_refused(predictor):
    with pytest.raises(K49Error, match="uint8"):
        predictor.proba(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(K49Error, match="to_k49"):
        predictor.proba(np.zeros((2, 32, 32), np.uint8))
    assert predictor.proba(np.zeros((28, 28), np.uint8)).shape == (1, 49)
    assert predictor.proba(np.zeros((0, 28, 28), np.uint8)).shape == (0, 49)


def test_round_tripped_images_get_the_same_top_1(predictor, real_sample, tmp_path):
    """The model's top-1 on the 100 real images, saved as black-on-white documents and brought
    back by load_k49_image, agrees with its top-1 on the originals (measured: 98 of 100 with
    the synthetic set's generator version 5; 92 with version 4)."""
    originals = real_sample[0]
    for i, image in enumerate(originals):
        document(image, tmp_path / f"{i:03d}.png")
    back = np.stack([load_k49_image(tmp_path / f"{i:03d}.png") for i in range(len(originals))])
    agree = (predictor.proba(back).argmax(1) == predictor.proba(originals).argmax(1)).mean()
    print(f"top-1 agreement after the round trip: {agree:.0%}")
    assert agree >= 0.9


def test_proba_from_threads(predictor, real_sample):
    expected = predictor.proba(real_sample[0])
    results = [None] * 4

    def work(i):
        results[i] = predictor.proba(real_sample[0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-6)


def test_predict_paths(predictor, real_sample, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in (2, 0, 1):
        document(real_sample[0][i], folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image, and not taken from the folder")
    (folder / "bad.png").write_bytes(b"not a png")
    single = tmp_path / "single.png"
    document(real_sample[0][3], single)
    results = predict_paths(predictor, [folder, single, tmp_path / "missing.png"], top_k=3)
    names = [f for f, _, _ in results]
    assert names == [str(folder / n) for n in ("0.png", "1.png", "2.png", "bad.png")] + [
        str(single), str(tmp_path / "missing.png")]
    for file, prediction, error in results:
        if file.endswith(("bad.png", "missing.png")):
            assert prediction is None and file in error and "\n" not in error
        else:
            assert error is None and len(prediction.top) == 3
            expected = predictor.predict(load_k49_image(file)[None], top_k=3)[0]
            # batched and alone: the same classes, probabilities to float rounding
            assert [t["class"] for t in prediction.top] == [t["class"] for t in expected.top]
            assert [t["probability"] for t in prediction.top] == pytest.approx(
                [t["probability"] for t in expected.top], abs=1e-5)


def test_a_bad_folder_among_the_paths_is_reported_and_the_others_predicted(
        predictor, real_sample, tmp_path, monkeypatch):
    """An empty folder, or one that cannot be listed, gives its error line in its place; the
    image beside it is still predicted (the README's promise)."""
    empty, locked = tmp_path / "empty", tmp_path / "locked"
    empty.mkdir()
    locked.mkdir()
    image = tmp_path / "one.png"
    document(real_sample[0][0], image)
    listdir = Path.iterdir

    def iterdir(self):
        if self == locked:  # chmod cannot lock root out, so refuse the listing here
            raise PermissionError(13, "Permission denied", str(self))
        return listdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    results = predict_paths(predictor, [empty, image, locked], top_k=2)
    assert [f for f, _, _ in results] == [str(empty), str(image), str(locked)]
    (_, p_empty, e_empty), (_, p_image, e_image), (_, p_locked, e_locked) = results
    assert p_empty is None and "holds no image files" in e_empty
    assert p_locked is None and "Permission denied" in e_locked and str(locked) in e_locked
    assert e_image is None and len(p_image.top) == 2


def test_from_run_errors(trained_run, tmp_path):
    with pytest.raises(K49Error, match="not a run directory"):
        Predictor.from_run(tmp_path / "nothing")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / RunDir.WEIGHTS).write_bytes(b"\x80\x04K\x01.")  # a pickle: never unpickled
    with pytest.raises(K49Error, match="never pickles"):
        Predictor.from_run(run, device="cpu")
    (run / RunDir.WEIGHTS).unlink()
    with pytest.raises(K49Error, match=RunDir.WEIGHTS):
        Predictor.from_run(run, device="cpu")
    with pytest.raises(K49Error, match="device"):
        Predictor.from_run(trained_run, device="tpu")


# --- the command line ---------------------------------------------------------------------------

def k49_predict(*args) -> Result:
    return k49("predict", *map(str, args))


@pytest.fixture(scope="module")
def files(real_sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    good = folder / "good.png"
    document(real_sample[0][0], good)
    bad = folder / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 cut short")
    blank = folder / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    return good, bad, blank


def test_cli_good_and_bad_files(trained_run, files):
    good, bad, blank = files
    result = k49_predict(trained_run, good, bad, blank, "--top-k", "3", "--device", "cpu")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 2, result.stderr
    assert str(bad) in errors[0] and str(blank) in errors[1] and "no ink" in errors[1]
    assert str(good) in result.stdout and str(bad) not in result.stdout
    assert "trained on synthetic data, not K49" in result.stdout
    (expected,) = Predictor.from_run(trained_run, device="cpu").predict(
        load_k49_image(good)[None], top_k=3)
    for t in expected.top:
        assert t["char"] in result.stdout and t["codepoint"] in result.stdout


def test_cli_an_empty_folder_among_files_does_not_stop_the_others(trained_run, files,
                                                                   tmp_path):
    good, _, _ = files
    result = k49_predict(trained_run, tmp_path, good, "--top-k", "1", "--device", "cpu")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert str(tmp_path) in error and "no image files" in error
    assert str(good) in result.stdout


def test_cli_json(trained_run, files):
    good, bad, _ = files
    result = k49_predict(trained_run, good, bad, "--json", "--top-k", "2", "--device", "cpu")
    assert result.returncode == 1
    rows = json.loads(result.stdout)
    assert [r["file"] for r in rows] == [str(good), str(bad)]
    assert len(rows[0]["top"]) == 2 and rows[0]["error"] is None and rows[0]["synthetic"] is True
    assert rows[1]["top"] is None and str(bad) in rows[1]["error"]


def test_cli_knn_run(knn_run, files):
    result = k49_predict(knn_run, files[0], "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["error"] is None and len(row["top"]) == 5


def test_cli_bad_run_dir_and_top_k(trained_run, files, tmp_path):
    for args in ((tmp_path / "nothing", files[0]), (trained_run, files[0], "--top-k", "50")):
        result = k49_predict(*args)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
