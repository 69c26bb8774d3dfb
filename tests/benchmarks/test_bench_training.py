"""The training bench: rows with the right keys and consistent numbers (no timing assertions)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import bench_training
import numpy as np
import pytest
import torch
import training_scale
import training_speed

from k49.data.load import load_dataset
from k49.errors import K49Error
from k49.models import count_flops, create_model

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
ROW_KEYS = {"model", "images_per_s", "baseline_images_per_s", "speedup", "gflops",
            "matmul_gflops"}


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_run_bench_on_one_tiny_model():
    report = bench_training.run_bench(["NN_1_adam"], quiet=True, steps=2, warmup=1, repeats=1,
                                      n_images=512, threads=1)
    (row,) = report["models"]
    assert ROW_KEYS <= set(row)
    assert row["model"] == "NN_1_adam"
    for key in ROW_KEYS - {"model"}:
        assert positive_finite(row[key]), (key, row[key])
    assert row["speedup"] == pytest.approx(row["images_per_s"] / row["baseline_images_per_s"])
    assert row["gflops"] == pytest.approx(
        row["images_per_s"] * row["train_flops_per_image"] / 1e9)
    assert row["steps"] == 2 and row["batch_size"] == training_speed.BATCH_SIZE
    assert positive_finite(row["data_ms"]) and positive_finite(row["baseline_data_ms"])
    assert row["channels_last"] is False and row["optimizer_step"] == "fused"
    assert row["matmul_gflops"] == report["matmul_gflops"]
    assert report["threads"] == 1 and report["train_images"] == 512
    assert report["min_speedup"] == row["speedup"]
    assert "3 x forward FLOPs" in report["flops"]
    assert "rss" not in report and "jobs" not in report
    json.dumps(report)  # written as JSON


def test_training_flops_are_three_times_forward():
    x, y = training_speed.random_images(256)
    row = training_speed.bench_model("CNN_1_sgd", x, y, steps=1, warmup=1, repeats=1,
                                     matmul=100.0)
    assert row["train_flops_per_image"] == 3 * count_flops(create_model("CNN_1_sgd"))
    assert row["channels_last"] is True
    assert row["fraction_of_matmul"] == pytest.approx(row["gflops"] / 100.0)


def test_our_loop_runs_across_epochs_and_counts_images():
    x, y = training_speed.random_images(300)  # 3 steps per epoch, the last one of 44 images
    counts = np.bincount(y.numpy(), minlength=49)
    loop = training_speed.OurLoop("NN_1_sgd", x, y, torch.device("cpu"), counts)
    assert loop.run(4) == 300 + 128
    assert loop.epoch == 2 and loop.step == 1
    assert loop.tally.seen == 128  # a new tally for the second epoch
    base = training_speed.BaselineLoop("NN_1_sgd", x, y, torch.device("cpu"), counts)
    assert base.run(4) == 300 + 128
    assert math.isfinite(base.running_loss) and base.running_loss > 0


def test_env_knobs_and_bad_values(monkeypatch):
    monkeypatch.setenv(bench_training.STEPS_ENV, "3")
    assert training_speed.env_int(bench_training.STEPS_ENV) == 3
    monkeypatch.setenv(bench_training.STEPS_ENV, "lots")
    with pytest.raises(K49Error, match=bench_training.STEPS_ENV):
        training_speed.env_int(bench_training.STEPS_ENV)
    monkeypatch.setenv(bench_training.STEPS_ENV, "0")
    with pytest.raises(K49Error, match="positive integer"):
        training_speed.env_int(bench_training.STEPS_ENV)
    with pytest.raises(K49Error, match="not a torch model"):
        training_speed.bench_model("knn4", *training_speed.random_images(256), steps=1)
    with pytest.raises(K49Error, match="at least 128 images"):
        bench_training.run_bench(["NN_1_adam"], quiet=True, steps=1, n_images=100)


def test_matmul_rate_is_positive():
    assert positive_finite(training_speed.matmul_gflops(size=128, seconds=0.0, min_reps=2))


def test_script_json_and_out_file(tmp_path):
    env = {**os.environ, bench_training.STEPS_ENV: "2", bench_training.IMAGES_ENV: "512",
           bench_training.THREADS_ENV: "1"}
    out = tmp_path / "training.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_training.py"), "--models", "NN_1_adam",
         "--no-full", "--json", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert json.loads(out.read_text()) == report
    assert report["quick"] is False and report["threads"] == 1
    (row,) = report["models"]
    assert ROW_KEYS <= set(row) and row["model"] == "NN_1_adam" and row["steps"] == 2
    for key in ROW_KEYS - {"model"}:
        assert positive_finite(row[key]), key
    assert "rss" not in report and "jobs" not in report


def test_table_shows_every_model_and_the_full_results():
    report = bench_training.run_bench(["NN_1_adam"], quiet=True, steps=1, warmup=1, repeats=1,
                                      n_images=256, threads=1)
    report["rss"] = {"peak_rss_mb": 900.0, "model": "CNN_1_adam", "steps": 20,
                     "train_images": 232_365, "test_images": 38_547, "rss_after_data_mb": 300.0,
                     "goal_mb": 1536.0}
    report["jobs"] = {"jobs": 2, "seconds_jobs2": 10.0, "seconds_jobs1": 15.0, "speedup": 1.5,
                      "goal": 1.4, "models": ["NN_1_sgd"], "epochs": 2, "limit_train": 6000}
    text = bench_training.table(report)
    assert "NN_1_adam" in text
    assert "peak RSS: 900 MiB (CNN_1_adam, 20 steps on 232,365 + 38,547 images" in text
    assert "run_suite jobs=2: 10.0 s vs jobs=1 15.0 s: 1.50x" in text


def test_written_synthetic_files_load(tmp_path):
    folder = training_scale.write_synthetic_files(tmp_path, n_train=98, n_test=49)
    assert folder == tmp_path / "synthetic"
    ds = load_dataset("synthetic", tmp_path, progress=False)
    assert ds.train_images.shape == (98, 28, 28) and ds.test_images.dtype == np.uint8
    assert np.bincount(ds.train_labels, minlength=49).min() == 2
    assert len(ds.test_labels) == 49


def test_full_size_dataset_keeps_k49_proportions(tmp_path):
    ds = training_scale.full_size_dataset(23_237, 3_855, tmp_path)
    assert ds.train_images.shape == (23_237, 28, 28) and ds.train_images.dtype == np.uint8
    counts = np.bincount(ds.train_labels, minlength=49)
    assert counts.sum() == 23_237 and counts.min() >= 1
    assert counts.max() > 5 * counts.min()  # imbalanced like K49, not uniform


def test_rss_measurement_in_a_child_process():
    report = training_scale.measure_rss("NN_1_sgd", max_steps=2, n_train=2_000, n_test=300,
                                        threads=1)
    assert report["steps"] == 2 and report["train_images"] == 2_000
    assert positive_finite(report["peak_rss_mb"])
    assert report["peak_rss_mb"] >= report["rss_after_data_mb"] > 0
    assert isinstance(report["goal_met"], bool)


def test_rss_child_trains_only_max_steps(tmp_path):
    # 2,000 images minus the validation share is several batches of 128: 2 steps is fewer.
    report = training_scale.rss_child("NN_1_sgd", 2, 2_000, 300, 1)
    assert report["steps"] == 2
    assert positive_finite(report["images_per_s"]) and positive_finite(report["seconds"])


def test_jobs_measurement_uses_the_real_runner():
    report = training_scale.measure_jobs(["NN_1_sgd", "NN_1_adam"], epochs=1, limit_train=None,
                                         n_train=490, n_test=98)
    assert report["models"] == ["NN_1_sgd", "NN_1_adam"] and report["jobs"] == 2
    assert report["data"].startswith("temporary K49-format set")
    assert positive_finite(report["seconds_jobs1"]) and positive_finite(report["seconds_jobs2"])
    assert report["speedup"] == pytest.approx(report["seconds_jobs1"] / report["seconds_jobs2"])
