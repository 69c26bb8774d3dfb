"""The GPU benchmark's CPU side: it plans the extra runs to fit its budget from each model's
FLOPs and steps, judges precision against the fp32 interval, skips the CUDA tests and refuses
in one line without CUDA, and runs its smallest path anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bench_gpu
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FULL_TRAIN = round(232_365 * 0.7)


ALL = (*bench_gpu.SEED_MODELS, *bench_gpu.EXTRA_MODELS)


def test_the_plan_keeps_each_models_protocol_when_it_fits():
    runs, estimate = bench_gpu.plan(ALL, FULL_TRAIN, budget=10_000, jobs=4)
    by_model = {r["model"]: r for r in runs}
    assert list(by_model) == [*ALL]
    assert all(r["epochs"] == 10 for m, r in by_model.items() if m != "resnet_fast")
    assert by_model["resnet_fast"]["epochs"] == 5  # its recipe
    assert not any(r["cut"] for r in runs) and estimate <= 10_000


def test_the_plan_cuts_the_most_expensive_models_first_to_fit_the_budget():
    runs, estimate = bench_gpu.plan(bench_gpu.EXTRA_MODELS, FULL_TRAIN, budget=60, jobs=2)
    by_model = {r["model"]: r for r in runs}
    assert estimate <= 60
    assert by_model["preact_resnet18"]["cut"]  # 911.6 MFLOPs an image: cut first
    assert by_model["resnet_fast"]["epochs"] == 5
    cheaper = bench_gpu.estimate_seconds("NN_2_adam", 10, FULL_TRAIN, 128)
    dearer = bench_gpu.estimate_seconds("CNN_dense_batch_norm", 10, FULL_TRAIN, 128)
    assert dearer > cheaper > 0


def test_one_run_alone_bounds_the_estimate_of_concurrent_runs():
    runs, estimate = bench_gpu.plan(("NN_2_adam", "CNN_dense"), FULL_TRAIN, budget=10_000,
                                    jobs=4)
    assert estimate == pytest.approx(max(r["estimated_seconds"] for r in runs))


def test_precision_is_judged_against_the_fp32_runs_interval():
    auto = [{"model": "A", "test_balanced_accuracy": 0.91, "autocast": "bfloat16"},
            {"model": "B", "test_balanced_accuracy": 0.80, "autocast": "bfloat16"}]
    fp32 = [{"model": "A", "test_balanced_accuracy": 0.912, "images_per_s": 1.0,
             "test_balanced_accuracy_interval": [0.905, 0.918]},
            {"model": "B", "test_balanced_accuracy": 0.85, "images_per_s": 1.0,
             "test_balanced_accuracy_interval": [0.84, 0.86]}]
    rows = bench_gpu.precision_check(auto, fp32)
    assert [(r["model"], r["within"]) for r in rows] == [("A", True), ("B", False)]


def test_the_plain_loop_and_the_steady_rate_count_every_image():
    x = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8)
    y = torch.arange(300) % 49
    loop = bench_gpu.PlainLoop("NN_1_adam", x, y, torch.device("cpu"), np.ones(49))
    before = [p.detach().clone() for p in loop.model.parameters()]
    assert loop.run(5) == 5 * 128  # the third batch starts a new permutation
    assert any(not torch.equal(a, b) for a, b in zip(before, loop.model.parameters(),
                                                     strict=True))
    rate = bench_gpu.steady_rate(loop, torch.device("cpu"), warmup=1, seconds=0.0,
                                 min_steps=3)
    assert rate["steps"] == 3 and rate["images_per_s"] > 0
    assert rate["step_ms"] == pytest.approx(1000 * 3 * 128 / rate["images_per_s"] / 3, rel=1e-3)


@pytest.mark.slow
def test_the_script_without_cuda_skips_the_tests_and_stops_cleanly(tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_JSON": str(tmp_path / "gpu.json")}
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh"), str(tmp_path / "no-wheels"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no CUDA device" in done.stdout and "skipped" in done.stdout  # torch's line, tests
    # the check itself: one line naming the problem and the fix, nothing written
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no CUDA device") and "--smoke" in done.stderr
    assert not (tmp_path / "gpu.json").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_smoke_path_runs_on_the_cpu_and_writes_its_json(tmp_path):
    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--smoke", "--quiet", "--out", str(tmp_path / "check"), "--json",
                           str(out), "--no-report"]) == 0  # the report's tests are elsewhere
    result = json.loads(out.read_text())
    assert result["smoke"] and result["synthetic"] and "not a measurement" in result["what"]
    models = list(bench_gpu.SMOKE["models"])
    assert [r["model"] for r in result["throughput"]] == models
    for r in result["throughput"]:
        assert r["k49"] == {"skipped": f"{r['model']}: no CUDA graph (not on CUDA)"}
        for loop in ("k49_eager", "plain"):
            assert r[loop]["images_per_s"] > 0 and r[loop]["steps"] >= 6
        assert r["k49_over_plain"] > 0
    assert result["throughput"][0]["k49_over_keras"] > 0  # NN_2_adam has a Keras figure
    assert [r["model"] for r in result["study"]] == models
    for r in result["study"]:
        assert r["epochs_trained"] == 1 and r["cuda_graph"] is None
        assert 0 <= r["test_balanced_accuracy"] <= 1 and r["images_per_s"] > 0
        low, high = r["test_balanced_accuracy_interval"]
        assert low <= r["test_balanced_accuracy"] <= high
    [check] = result["precision"]["runs"]  # NN_2_adam again in float32: on a CPU, the same
    assert check["model"] == "NN_2_adam" and check["within"] and check["auto"] == check["fp32"]
    assert result["seconds"]["report"] is None and result["dataset"]["scale"] == 0.01
    assert result["extra"] == {"skipped": "smoke"}
    assert (tmp_path / "check" / "study" / "NN_2_adam" / "seed-0" / "timings.json").is_file()
    assert not list(tmp_path.glob("*.part"))


def test_a_failed_loop_or_run_is_recorded_and_the_tables_still_print():
    row = {"model": "NN_2_adam", "k49": {"failed": "RuntimeError: boom"},
           "k49_eager": {"images_per_s": 1000.0, "step_ms": 1.0, "tflops": 0.1},
           "plain": {"failed": "RuntimeError: boom"}}
    assert bench_gpu.ratios(row) == {"k49_over_plain": None, "keras_images_per_s": 108_000,
                                     "k49_over_keras": 0.01}
    study = [{"model": "NN_2_adam", "epochs": 10, "failed": "CUDA out of memory"}]
    text = bench_gpu.tables({"throughput": [{**row, **bench_gpu.ratios(row)}],
                             "study": study})
    assert "| NN_2_adam | - | - | - | 1,000 | failed | - | 0.01 |" in text
    assert "failed: CUDA out of memory" in text
    assert bench_gpu.precision_check(study, [{"model": "NN_2_adam"}]) == []
