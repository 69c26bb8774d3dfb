"""Findings are written from the numbers: change the numbers and the words change."""

from __future__ import annotations

import numpy as np
from fake_study import fake_run, make_study

from k49.data.datasets import DATASETS
from k49.report.aggregate import metric_mean, summary_rows
from k49.report.collect import RunRecord, Study, load_study
from k49.report.findings import compare, findings


def test_findings_follow_the_numbers(fake_study):
    study = load_study(fake_study)
    text = "\n".join(findings(study))
    # in make_study, later models are better: NN_1_adam (index 2) beats NN_1_sgd (index 0)
    assert "Optimizer (NN_1): NN_1_adam beat NN_1_sgd" in text
    gap = metric_mean(study, "NN_1_adam") - metric_mean(study, "NN_1_sgd")
    assert f"by {100 * gap:.2f} points" in text
    assert "Best model: CNN_dense_batch_norm" in text
    assert "Best CNN against best NN: CNN_dense_batch_norm beat NN_dense_batch_norm" in text


def test_reversed_numbers_reverse_the_finding(tmp_path):
    root = tmp_path / "study"
    fake_run(root / "NN_1_sgd" / "seed-0", "NN_1_sgd", 0, skill=0.9)
    fake_run(root / "NN_1_adam" / "seed-0", "NN_1_adam", 0, skill=0.3)
    line = compare(load_study(root), "NN_1_adam", "NN_1_sgd", "Optimizer (NN_1)")
    assert line.startswith("Optimizer (NN_1): NN_1_sgd beat NN_1_adam")


def test_seeds_give_a_significance_test_and_failed_runs_are_listed(fake_study_seeds):
    study = load_study(fake_study_seeds)
    text = "\n".join(findings(study))
    assert "Welch t-test p =" in text
    assert "CNN_dense seed 0 (incomplete)" in text


def test_missing_pair_is_skipped(tmp_path):
    root = make_study(tmp_path / "s", models=["NN_1_adam", "CNN_1_adam"])
    text = "\n".join(findings(load_study(root)))
    assert "Optimizer" not in text and "BatchNorm" not in text
    assert "Best CNN against best NN" in text


def test_summary_rows_have_mean_and_sd(fake_study_seeds):
    study = load_study(fake_study_seeds)
    rows = summary_rows(study)
    mean = next(r for r in rows if r["model"] == "NN_1_sgd" and r["seed"] == "mean")
    values = [r["balanced_accuracy"] for r in rows
              if r["model"] == "NN_1_sgd" and isinstance(r["seed"], int)]
    assert len(values) == 3
    assert mean["balanced_accuracy"] == np.mean(values)


def _run(label, seed, balanced_accuracy):
    return RunRecord(label, seed, None, "ok", metrics={
        "model": label, "family": "mlp", "balanced_accuracy": balanced_accuracy})


def test_a_seed_without_a_value_is_left_out_not_nan():
    """A NaN or missing metric in one seed: the mean of the others, never "nan points"."""
    runs = [_run("NN_1_adam", 0, 0.6), _run("NN_1_adam", 1, 0.7),
            _run("NN_1_sgd", 0, float("nan")), _run("NN_1_sgd", 1, 0.5),
            _run("NN_1_sgd", 2, None)]
    study = Study(None, runs, DATASETS["synthetic"])
    line = compare(study, "NN_1_sgd", "NN_1_adam", "Optimizer (NN_1)")
    assert line == ("Optimizer (NN_1): NN_1_adam beat NN_1_sgd by 15.00 points of balanced "
                    "accuracy (NN_1_sgd 50.00% vs NN_1_adam 65.00% ± 7.07).")
