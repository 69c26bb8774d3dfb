"""Findings are written from the numbers: change the numbers and the words change."""

from __future__ import annotations

from fake_study import fake_run, make_study

from k49.report.collect import load_study, summary_rows
from k49.report.findings import compare, findings


def test_findings_follow_the_numbers(fake_study):
    study = load_study(fake_study)
    text = "\n".join(findings(study))
    # in make_study, later models are better: NN_1_adam (index 2) beats NN_1_sgd (index 0)
    assert "Optimizer (NN_1): NN_1_adam beat NN_1_sgd" in text
    gap = study.mean("NN_1_adam", "balanced_accuracy") - study.mean("NN_1_sgd",
                                                                    "balanced_accuracy")
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
    import numpy as np

    study = load_study(fake_study_seeds)
    rows = summary_rows(study)
    mean = next(r for r in rows if r["model"] == "NN_1_sgd" and r["seed"] == "mean")
    values = [r["balanced_accuracy"] for r in rows
              if r["model"] == "NN_1_sgd" and isinstance(r["seed"], int)]
    assert len(values) == 3
    assert mean["balanced_accuracy"] == np.mean(values)
