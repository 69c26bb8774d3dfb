"""Findings are written from the numbers: change the numbers and the words change."""

from __future__ import annotations

import numpy as np
import pytest
from fake_study import fake_run, make_study

from k49.data.datasets import DATASETS
from k49.report import aggregate
from k49.report.aggregate import metric_mean, summary_rows
from k49.report.collect import CollectedRuns, RunRecord, load_study
from k49.report.comparisons import compare_all
from k49.report.findings import findings

pytestmark = pytest.mark.slow

SKILLS = {"NN_1_sgd": 0.3, "NN_1_adam": 0.6, "CNN_1_sgd": 0.5, "CNN_1_adam": 0.8}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four models, one seed each, far apart: Adam beats SGD, a CNN beats its NN."""
    root = tmp_path_factory.mktemp("f") / "study"
    for model, skill in SKILLS.items():
        fake_run(root / model / "seed-0", model, 0, skill)
    return load_study(root)


@pytest.fixture(scope="module")
def seeds_study(tmp_path_factory):
    """Two models with three seeds each, and a broken run."""
    root = make_study(tmp_path_factory.mktemp("s") / "study", models=["NN_1_sgd", "NN_1_adam"],
                      seeds=(0, 1, 2))
    broken = root / "CNN_dense" / "seed-0"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text('{"config": {"model": "CNN_dense"}}')
    return load_study(root)


def test_findings_follow_the_numbers(study):
    text = "\n".join(findings(study))
    assert "Optimizer (NN_1): NN_1_adam beat NN_1_sgd by" in text
    assert "Optimizer (CNN_1): CNN_1_adam beat CNN_1_sgd by" in text
    gap = metric_mean(study, "NN_1_adam") - metric_mean(study, "NN_1_sgd")
    assert f"by {100 * gap:.1f} points of balanced accuracy" in text
    assert "Best CNN against best NN: CNN_1_adam beat NN_1_adam" in text
    # the best model with its interval over the test images
    lo, hi = aggregate.run_interval(study.representative("CNN_1_adam").metrics,
                                    "balanced_accuracy")
    best = metric_mean(study, "CNN_1_adam")
    assert (f"Best model: CNN_1_adam {100 * best:.1f}% balanced accuracy "
            f"(95% CI {100 * lo:.1f}–{100 * hi:.1f})") in text
    assert "p-values are Holm-adjusted over the 3 comparisons of this report" in text
    # every fake run was still improving: every comparison says it holds for this budget only
    compared = [line for line in findings(study) if line.startswith(("Optimizer", "Best CNN"))]
    assert len(compared) == 3
    assert compared and all(line.endswith("holds for this budget only.") for line in compared)


def test_a_converged_study_has_no_budget_caveat(study):
    for r in study.ok_runs:
        r.metrics = {**r.metrics, "convergence": {"still_improving": False}}
    try:
        assert "still improving" not in "\n".join(findings(study))
    finally:
        for r in study.ok_runs:
            r.metrics = {**r.metrics, "convergence": {"still_improving": True}}


def test_reversed_numbers_reverse_the_finding(tmp_path):
    root = tmp_path / "study"
    fake_run(root / "NN_1_sgd" / "seed-0", "NN_1_sgd", 0, skill=0.9)
    fake_run(root / "NN_1_adam" / "seed-0", "NN_1_adam", 0, skill=0.3)
    text = "\n".join(findings(load_study(root)))
    assert "Optimizer (NN_1): NN_1_sgd beat NN_1_adam" in text
    assert "McNemar p < 0.001, Holm-adjusted" in text


def test_seeds_give_a_welch_test_and_failed_runs_are_listed(seeds_study):
    text = "\n".join(findings(seeds_study))
    assert "over 3 seeds each" in text and "Welch t-test p" in text
    assert "per seed, unadjusted McNemar p < 0.05" in text
    assert "CNN_dense seed 0 (incomplete)" in text
    assert "(all 3 seeds) were still improving" in text


def test_missing_pair_is_skipped(study):
    runs = [r for r in study.runs if r.label in ("NN_1_adam", "CNN_1_adam")]
    text = "\n".join(findings(CollectedRuns(study.root, runs, study.spec)))
    assert "Optimizer" not in text and "BatchNorm" not in text
    assert "Best CNN against best NN" in text
    assert "over the 1 comparison of this report" in text


def test_summary_rows_have_mean_and_sd(seeds_study):
    rows = summary_rows(seeds_study)
    mean = next(r for r in rows if r["model"] == "NN_1_sgd" and r["seed"] == "mean")
    values = [r["balanced_accuracy"] for r in rows
              if r["model"] == "NN_1_sgd" and isinstance(r["seed"], int)]
    assert len(values) == 3
    assert mean["balanced_accuracy"] == np.mean(values)
    assert mean["still_improving"] is True


def _run(label, seed, balanced_accuracy):
    return RunRecord(label, seed, None, "ok", metrics={
        "model": label, "family": "mlp", "balanced_accuracy": balanced_accuracy})


def test_a_seed_without_a_value_is_left_out_not_nan():
    """A NaN or missing metric in one seed: the mean of the others, never "nan points"; runs
    whose predictions cannot be read are not tested, and no winner is claimed."""
    runs = [_run("NN_1_adam", 0, 0.6), _run("NN_1_adam", 1, 0.7),
            _run("NN_1_sgd", 0, float("nan")), _run("NN_1_sgd", 1, 0.5),
            _run("NN_1_sgd", 2, None)]
    study = CollectedRuns(None, runs, DATASETS["synthetic"])
    lines = findings(study)
    line = next(x for x in lines if x.startswith("Optimizer"))
    assert line == ("Optimizer (NN_1): NN_1_adam 65.0 ± 7.1% against NN_1_sgd 50.0%; no paired "
                    "test was possible (the test predictions of NN_1_adam seed 0 and NN_1_sgd "
                    "seed 0 could not be read), so neither is said to beat the other.")
    assert "nan" not in "\n".join(lines).lower()
    assert lines[0].startswith("Best model: NN_1_adam 65.0 ± 7.1% balanced accuracy over 2 "
                               "seeds (t 95% CI ")
    assert compare_all(study)["family_size"] == 0


def test_an_interval_clear_of_zero_without_a_significant_test_is_no_win(study):
    """The win rule needs both: here the interval excludes 0 but Holm's p does not reject."""
    from k49.report.findings import comparison_sentence

    c = next(c for c in compare_all(study)["comparisons"] if c["a"] == "NN_1_adam")
    c = {**c, "ci": [0.01, 0.03], "difference": 0.02, "p_adjusted": 0.07, "significant": False,
         "winner": None}
    line = comparison_sentence(study, c)
    assert "no significant difference in balanced accuracy between NN_1_adam and NN_1_sgd" in line
    assert "95% CI 1.0 to 3.0, but McNemar p = 0.07, Holm-adjusted" in line
    assert "beat" not in line
