"""k49 on a CUDA device: the trainer with the training set on the device and autocast, the
training step captured as a CUDA graph (against the eager step), resume, determinism,
`--compile`, `--precision fp32`, predict and serve, and the ONNX export of a CUDA-trained run
checked against onnxruntime on the CPU. Marked `cuda`; skipped where torch sees no CUDA
device (every machine k49 is developed on), and run by scripts/gpu-check.sh where it does."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from crash import train_through_a_crash
from k49.data.load import load_dataset
from k49.deploy.export import export_onnx, onnx_proba
from k49.deploy.predict import Predictor
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.training.trainer import train

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def data(synth_dir):
    return load_dataset("synthetic", synth_dir, progress=False)


def config(synth_dir, model="NN_2_adam", **kw):
    return TrainConfig(model=model, data_dir=str(synth_dir), limit_train=600, epochs=2,
                       device="cuda", **kw)


def weights(run_dir) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(RunDir(run_dir).file(RunDir.WEIGHTS))


@pytest.mark.parametrize("model", ["NN_2_adam", "CNN_1_adam", "resnet_small"])
def test_trains_on_the_device_with_autocast_and_records_it(synth_dir, data, tmp_path, model):
    result = train(config(synth_dir, model), tmp_path / model, dataset=data, quiet=True)
    assert all(np.isfinite(h["train_loss"]) for h in result.history)
    assert result.timings["peak_device_memory_mib"] > 0
    record = RunDir(tmp_path / model).read_config()
    assert record["device"]["device"].startswith("cuda"), record["device"]
    labels, probs = RunDir(tmp_path / model).read_predictions()
    assert probs.shape == (len(labels), 49) and np.allclose(probs.sum(1), 1, atol=1e-3)


def test_the_same_seed_gives_the_same_weights_on_cuda(synth_dir, data, tmp_path):
    """An MLP's kernels are deterministic on CUDA: two runs of one seed end bit-identical."""
    a = train(config(synth_dir), tmp_path / "a", dataset=data, quiet=True)
    b = train(config(synth_dir), tmp_path / "b", dataset=data, quiet=True)
    wa, wb = weights(a.run_dir), weights(b.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("model", ["NN_2_adam", "keras_simple_cnn"])  # the second has dropout
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(synth_dir, data, tmp_path,
                                                                        monkeypatch, model):
    """A crash right after the first epoch's checkpoint, then a rerun, equals a clean run:
    the checkpoint carries the CUDA generator's state (dropout) with the CPU's."""
    train(config(synth_dir, model), tmp_path / "clean", dataset=data, quiet=True)
    train_through_a_crash(config(synth_dir, model), tmp_path / "crashed", data, monkeypatch)
    clean, resumed = weights(tmp_path / "clean"), weights(tmp_path / "crashed")
    if model == "NN_2_adam":
        assert all(torch.equal(clean[k], resumed[k]) for k in clean)
    else:  # cuDNN's convolution backward may sum in any order: equal to rounding, while a
        # lost dropout state would move the weights by orders of magnitude more
        assert all(torch.allclose(clean[k], resumed[k], atol=1e-3) for k in clean)


def test_compile_trains_on_cuda_inside_the_graph_and_reports_its_warm_up(synth_dir, data,
                                                                         tmp_path):
    plain = train(config(synth_dir, epochs=1), tmp_path / "p", dataset=data, quiet=True)
    result = train(config(synth_dir, compile=True, epochs=1), tmp_path / "c", dataset=data,
                   quiet=True)
    assert result.timings["cuda_graph"] is True
    assert 0 < result.timings["warmup_seconds"] < result.timings["train_seconds"]
    assert result.history[-1]["train_loss"] == pytest.approx(plain.history[-1]["train_loss"],
                                                             rel=1e-2)


@pytest.mark.parametrize(("model", "extra"), [
    ("NN_2_adam", {}),
    ("NN_1_sgd", {}),
    ("NN_2_adam", {"schedule": "onecycle", "ema": 0.9}),
    ("CNN_dense_batch_norm", {}),
])
def test_the_graphed_step_trains_as_the_eager_step(synth_dir, data, tmp_path, monkeypatch,
                                                   model, extra):
    """Full batches replayed from one CUDA graph give the eager loop's weights, to rounding
    (cuBLAS and cuDNN may pick other kernels on the capture's stream); a wrongly gathered
    batch or a baked learning rate would move them by an Adam step, 1e-3, or more."""
    graphed = train(config(synth_dir, model, **extra), tmp_path / "g", dataset=data,
                    quiet=True)
    assert graphed.timings["cuda_graph"] is True and graphed.timings["eager_because"] is None
    assert graphed.timings["autocast"] in ("bfloat16", "float16") and graphed.timings["tf32"]
    monkeypatch.setenv("K49_CUDA_GRAPHS", "0")
    eager = train(config(synth_dir, model, **extra), tmp_path / "e", dataset=data, quiet=True)
    assert eager.timings["cuda_graph"] is False
    assert eager.timings["eager_because"] == "K49_CUDA_GRAPHS=0"
    wg, we = weights(graphed.run_dir), weights(eager.run_dir)
    # cuDNN's weight gradients sum with atomics: a CNN drifts further apart, still well
    # inside a step.
    tolerance = {"rtol": 1e-3, "atol": 1e-4} if model.startswith("NN") else \
        {"rtol": 1e-2, "atol": 5e-4}
    for k in wg:
        torch.testing.assert_close(wg[k], we[k], msg=k, **tolerance)
    for a, b in zip(graphed.history, eager.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=0.01)


def test_a_run_with_host_randomness_trains_eagerly_and_says_why(synth_dir, data, tmp_path):
    result = train(config(synth_dir, "resnet_small", mixup="input", epochs=1), tmp_path / "m",
                   dataset=data, quiet=True)
    assert result.timings["cuda_graph"] is False
    assert "mixup" in result.timings["eager_because"]


def test_fp32_precision_turns_autocast_and_tf32_off(synth_dir, data, tmp_path):
    result = train(config(synth_dir, precision="fp32", epochs=1), tmp_path / "f",
                   dataset=data, quiet=True)
    assert result.timings["autocast"] is None and result.timings["tf32"] is False
    assert not torch.backends.cuda.matmul.allow_tf32
    assert result.timings["cuda_graph"] is True


@pytest.fixture(scope="module")
def cuda_run(synth_dir, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda-run") / "CNN_1_adam" / "seed-0"
    train(config(synth_dir, "CNN_1_adam"), out, dataset=data, quiet=True)
    return out


def test_predict_on_cuda_agrees_with_the_cpu(cuda_run, data):
    images = data.test_images[:256]
    on_gpu = Predictor.from_run(cuda_run, device="cuda")
    on_cpu = Predictor.from_run(cuda_run, device="cpu")
    assert on_gpu.device.type == "cuda"
    gpu, cpu = on_gpu.proba(images), on_cpu.proba(images)
    # CUDA inference runs under autocast (bfloat16): probabilities agree to about 1e-2
    assert np.abs(gpu - cpu).max() < 5e-2
    assert (gpu.argmax(1) == cpu.argmax(1)).mean() > 0.95


def test_serve_on_cuda_answers_a_prediction(cuda_run, data):
    from fastapi.testclient import TestClient

    from k49.deploy.server import create_app

    buffer = io.BytesIO()
    Image.fromarray(data.test_images[0]).save(buffer, "PNG")
    with TestClient(create_app(cuda_run, device="cuda"), base_url="http://localhost") as client:
        response = client.post("/predict", files={"file": ("a.png", buffer.getvalue(),
                                                           "image/png")})
    assert response.status_code == 200, response.text
    assert len(response.json()["top"]) == 5


def test_onnx_export_of_a_cuda_trained_run_matches_onnxruntime_on_the_cpu(cuda_run, data,
                                                                          tmp_path):
    result = export_onnx(cuda_run, tmp_path / "cnn.onnx")
    assert result["max_abs_diff"] <= result["tolerance"]
    probs = onnx_proba(tmp_path / "cnn.onnx", data.test_images[:64])
    cpu = Predictor.from_run(cuda_run, device="cpu").proba(data.test_images[:64])
    assert np.abs(probs - cpu).max() < 1e-4
