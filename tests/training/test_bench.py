"""The training bench: rows with the right keys and consistent numbers (no timing assertions)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from k49.errors import K49Error
from k49.training import bench

ROW_KEYS = {"model", "images_per_s", "baseline_images_per_s", "speedup", "gflops",
            "matmul_gflops"}


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_run_bench_on_one_tiny_model():
    report = bench.run_bench(["NN_1_adam"], quiet=True, steps=2, warmup=1, repeats=1,
                             n_images=512, threads=1)
    (row,) = report["models"]
    assert ROW_KEYS <= set(row)
    assert row["model"] == "NN_1_adam"
    for key in ROW_KEYS - {"model"}:
        assert positive_finite(row[key]), (key, row[key])
    assert row["speedup"] == pytest.approx(row["images_per_s"] / row["baseline_images_per_s"])
    assert row["gflops"] == pytest.approx(
        row["images_per_s"] * row["train_flops_per_image"] / 1e9)
    assert row["steps"] == 2 and row["batch_size"] == bench.BATCH_SIZE
    assert positive_finite(row["data_ms"]) and positive_finite(row["baseline_data_ms"])
    assert row["channels_last"] is False and row["optimizer_step"] == "fused"
    assert row["matmul_gflops"] == report["matmul_gflops"]
    assert report["threads"] == 1 and report["train_images"] == 512
    assert "3 x forward FLOPs" in report["flops"]
    assert "rss" not in report and "jobs" not in report
    json.dumps(report)  # the CLI prints it as JSON


def test_training_flops_are_three_times_forward():
    from k49.models import count_flops, create_model

    x, y = bench.random_images(256)
    row = bench.bench_model("CNN_1_sgd", x, y, steps=1, warmup=1, repeats=1, matmul=100.0)
    assert row["train_flops_per_image"] == 3 * count_flops(create_model("CNN_1_sgd"))
    assert row["channels_last"] is True
    assert row["fraction_of_matmul"] == pytest.approx(row["gflops"] / 100.0)


def test_our_loop_runs_across_epochs_and_counts_images():
    x, y = bench.random_images(300)  # 3 steps per epoch, the last one of 44 images
    counts = np.bincount(y.numpy(), minlength=49)
    loop = bench.OurLoop("NN_1_sgd", x, y, torch.device("cpu"), counts)
    assert loop.run(4) == 300 + 128
    assert loop.epoch == 2 and loop.step == 1
    base = bench.BaselineLoop("NN_1_sgd", x, y, torch.device("cpu"), counts)
    assert base.run(4) == 300 + 128


def test_env_knobs_and_bad_values(monkeypatch):
    monkeypatch.setenv(bench.STEPS_ENV, "3")
    assert bench._env_int(bench.STEPS_ENV) == 3
    monkeypatch.setenv(bench.STEPS_ENV, "lots")
    with pytest.raises(K49Error, match=bench.STEPS_ENV):
        bench._env_int(bench.STEPS_ENV)
    with pytest.raises(K49Error, match="not a torch model"):
        bench.bench_model("knn4", *bench.random_images(256), steps=1)


def test_matmul_rate_is_positive():
    assert positive_finite(bench.matmul_gflops(size=128, seconds=0.0, min_reps=2))


def test_cli_bench_json(tmp_path):
    env = {**os.environ, bench.STEPS_ENV: "2", bench.IMAGES_ENV: "512", bench.THREADS_ENV: "1"}
    result = subprocess.run(
        [sys.executable, "-m", "k49", "bench", "--models", "NN_1_adam", "--json",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    assert ROW_KEYS <= set(rows[0])
    assert rows[0]["model"] == "NN_1_adam"
    for key in ROW_KEYS - {"model"}:
        assert positive_finite(rows[0][key]), key


def test_written_synthetic_files_load(tmp_path):
    from k49.data.load import load_dataset

    bench.write_synthetic_files(tmp_path, n_train=98, n_test=49)
    ds = load_dataset("synthetic", tmp_path, progress=False)
    assert ds.train_images.shape == (98, 28, 28) and ds.test_images.dtype == np.uint8
    assert np.bincount(ds.train_labels, minlength=49).min() == 2


def test_rss_measurement_in_a_child_process():
    report = bench.measure_rss("NN_1_sgd", max_steps=2, n_train=2_000, n_test=300, threads=1)
    assert report["steps"] == 2 and report["train_images"] == 2_000
    assert positive_finite(report["peak_rss_mb"])
    assert report["peak_rss_mb"] >= report["rss_after_data_mb"] > 0
    assert isinstance(report["goal_met"], bool)


def test_jobs_measurement_uses_the_real_runner(tmp_path):
    report = bench.measure_jobs(["NN_1_sgd", "NN_1_adam"], epochs=1, limit_train=None,
                                n_train=490, n_test=98)
    assert report["models"] == ["NN_1_sgd", "NN_1_adam"] and report["jobs"] == 2
    assert positive_finite(report["seconds_jobs1"]) and positive_finite(report["seconds_jobs2"])
    assert report["speedup"] == pytest.approx(report["seconds_jobs1"] / report["seconds_jobs2"])
