"""One NaN policy for every mean, sd and "best" of the report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from k49.data.datasets import DATASETS
from k49.report import aggregate
from k49.report.aggregate import (
    SUMMARY_COLUMNS,
    best,
    mean,
    mean_sd,
    pareto_front,
    sd,
    summary_rows,
)
from k49.report.collect import CollectedRuns, RunRecord


def run(label: str, seed: int, **metrics) -> RunRecord:
    return RunRecord(label, seed, None, "ok", metrics={"model": label, **metrics})


def study_of(*runs: RunRecord) -> CollectedRuns:
    return CollectedRuns(None, list(runs), DATASETS["synthetic"])


def test_missing_nan_and_inf_values_are_left_out():
    values = [0.5, None, float("nan"), float("inf"), "n/a", True, np.float32(0.7)]
    assert mean(values) == pytest.approx(0.6)
    assert sd(values) == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert math.isnan(mean([])) and math.isnan(mean([None, float("nan")]))
    assert math.isnan(sd([0.5])) and math.isnan(sd([0.5, None]))  # ddof=1: two values needed


def test_column_mean_leaves_out_missing_values_per_column():
    out = aggregate.column_mean([[1.0, None, float("nan")], [3.0, 4.0, None]])
    assert out[:2].tolist() == [2.0, 4.0] and math.isnan(out[2])


def test_best_ignores_labels_without_values_and_keeps_the_first_of_a_tie():
    study = study_of(run("NN_1_sgd", 0, balanced_accuracy=float("nan")),
                     run("NN_2_sgd", 0, balanced_accuracy=0.4),
                     run("NN_1_adam", 0, balanced_accuracy=0.4),
                     run("NN_1_adam", 1, balanced_accuracy=None))
    assert best(study, ["NN_1_sgd", "NN_2_sgd", "NN_1_adam"]) == "NN_2_sgd"
    assert best(study, ["NN_1_adam", "NN_2_sgd"]) == "NN_1_adam"
    assert best(study, ["NN_1_sgd"]) is None and best(study, []) is None
    assert aggregate.best_label(study) == "NN_2_sgd"


def test_mean_sd_per_label():
    study = study_of(run("NN_1_sgd", 0, accuracy=0.2), run("NN_1_sgd", 1, accuracy=0.4),
                     run("NN_2_sgd", 0, accuracy=0.3))
    means, sds = mean_sd(study, ["NN_1_sgd", "NN_2_sgd", "CNN_1_sgd"], "accuracy")
    assert means[:2] == pytest.approx([0.3, 0.3]) and math.isnan(means[2])
    assert sds[0] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert math.isnan(sds[1]) and math.isnan(sds[2])


def test_summary_rows_follow_the_same_policy():
    study = study_of(run("NN_1_sgd", 0, accuracy=0.2, ece=None, params=10),
                     run("NN_1_sgd", 1, accuracy=float("nan"), ece=0.1, params=10),
                     run("NN_1_sgd", 2, accuracy=0.4, ece=None, params=10),
                     run("CNN_1_sgd", 0, accuracy=0.9))
    rows = summary_rows(study)
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("NN_1_sgd", 0), ("NN_1_sgd", 1), ("NN_1_sgd", 2), ("NN_1_sgd", "mean"),
        ("NN_1_sgd", "sd"), ("CNN_1_sgd", 0)]
    assert all(list(r) == list(SUMMARY_COLUMNS) for r in rows if isinstance(r["seed"], int))
    mean_row, sd_row = rows[3], rows[4]
    assert mean_row["accuracy"] == pytest.approx(0.3)  # the NaN seed is left out
    assert sd_row["accuracy"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert mean_row["ece"] == pytest.approx(0.1) and sd_row["ece"] is None  # one value: no sd
    assert mean_row["params"] == 10.0 and sd_row["params"] == 0.0
    assert mean_row["f1_macro"] is None and sd_row["f1_macro"] is None  # no value at all


def test_intervals_come_from_the_runs_or_the_seeds():
    ci = {"balanced_accuracy": [0.5, 0.6], "accuracy": [0.4, None]}
    one = study_of(run("NN_1_sgd", 0, balanced_accuracy=0.55, intervals=ci),
                   run("CNN_1_sgd", 0, balanced_accuracy=0.7))  # evaluated by an older k49
    assert aggregate.interval(one, "NN_1_sgd") == (0.5, 0.6)  # the run's bootstrap interval
    assert all(math.isnan(x) for x in aggregate.interval(one, "NN_1_sgd", "accuracy"))
    assert all(math.isnan(x) for x in aggregate.interval(one, "CNN_1_sgd"))
    seeds = study_of(*(run("NN_1_sgd", s, balanced_accuracy=v, intervals=ci)
                       for s, v in enumerate((0.5, 0.6, 0.7))))
    assert aggregate.interval(seeds, "NN_1_sgd") == pytest.approx(
        aggregate.t_interval([0.5, 0.6, 0.7]))  # several seeds: the t interval of the mean
    lows, highs = aggregate.intervals(one, ["NN_1_sgd", "CNN_1_sgd"], "balanced_accuracy")
    assert lows[0] == 0.5 and math.isnan(highs[1])


def test_still_improving_lists_the_seeds_and_marks_the_rows():
    study = study_of(run("NN_1_sgd", 0, convergence={"still_improving": True}),
                     run("NN_1_sgd", 1, convergence={"still_improving": False}),
                     run("NN_1_sgd", 2, convergence=None),
                     run("CNN_1_sgd", 0))
    assert aggregate.still_improving(study, "NN_1_sgd") == [0]
    assert aggregate.still_improving(study, "CNN_1_sgd") == []
    rows = {(r["model"], r["seed"]): r for r in summary_rows(study)}
    assert [rows[("NN_1_sgd", s)]["still_improving"] for s in (0, 1, 2, "mean", "sd")] == \
        [True, False, None, True, None]
    assert rows[("CNN_1_sgd", 0)]["still_improving"] is None


def test_pareto_front_keeps_what_no_cheaper_point_beats():
    costs = [3.0, 1.0, 2.0, 2.0, 5.0, 4.0]
    scores = [0.90, 0.50, 0.70, 0.60, 0.95, 0.80]
    # 1.0/0.50, 2.0/0.70, 3.0/0.90, 5.0/0.95; 2.0/0.60 and 4.0/0.80 are beaten by cheaper ones
    assert pareto_front(costs, scores).tolist() == [1, 2, 0, 4]
    assert pareto_front([], []).tolist() == []
    # a tie: the same cost and score twice is one point on the front
    assert pareto_front([1.0, 1.0], [0.5, 0.5]).tolist() == [0]


@pytest.mark.slow
def test_runs_evaluated_by_several_processes_score_as_one_process_scores(tmp_path):
    """load_study evaluates runs in processes at once: the same records, in the same order."""
    from fake_study import make_study

    from k49.report.collect import load_study

    root = make_study(tmp_path / "study", models=("NN_1_adam", "NN_2_adam", "CNN_1_adam"))
    one = load_study(root, recompute=True, jobs=1)
    two = load_study(root, recompute=True, jobs=2)
    assert [(r.label, r.seed, r.status) for r in two.runs] == [
        (r.label, r.seed, r.status) for r in one.runs]
    for a, b in zip(one.runs, two.runs, strict=True):
        # the same numbers to 1e-6: a process's thread count can change the order in which a
        # sum adds up (the resampled AUCs differed by about 1e-9)
        assert _close(a.metrics, b.metrics), a.label
        assert np.array_equal(a.predictions[1], b.predictions[1])


def _close(a, b) -> bool:
    """Equal, floats within a relative 1e-6, through nested dicts and lists."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6) or (math.isnan(a) and math.isnan(b))
    return a == b
