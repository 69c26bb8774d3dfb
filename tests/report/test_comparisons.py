"""Every comparison is a paired test, the family is Holm-adjusted, the words follow the tests."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from fake_study import fake_run, make_study

from k49.data.datasets import DATASETS
from k49.evaluation import stats
from k49.formats import format_p, points
from k49.report.collect import CollectedRuns, RunRecord, load_study
from k49.report.comparisons import (
    PAIRED,
    WELCH,
    compare_all,
    pairs,
    statistics_note,
    write_comparisons,
)
from k49.report.findings import comparison_findings, comparison_sentence

SPEC = DATASETS["synthetic"]


def _probs(label: str, seed: int, y: np.ndarray, skill: float) -> np.ndarray:
    rng = np.random.default_rng([len(label), seed, int(skill * 100)])
    logits = rng.normal(size=(len(y), SPEC.n_classes))
    logits[np.arange(len(y)), y] += skill * 4
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def record(label: str, seed: int, y: np.ndarray, probs: np.ndarray, *, family: str = "mlp",
           improving: bool | None = False) -> RunRecord:
    """A good run held in memory: its predictions, and the metrics the report reads."""
    point = stats.point_estimates(y, probs)
    r = RunRecord(label, seed, None, "ok", metrics={
        "model": label, "family": family, "params": 1000, **point,
        "convergence": {"still_improving": improving}})
    r.__dict__["predictions"] = (y, probs)
    return r


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    return np.repeat(np.arange(SPEC.n_classes), 12)


def study_of(*runs: RunRecord) -> CollectedRuns:
    return CollectedRuns(None, list(runs), SPEC)


# --- the words ----------------------------------------------------------------------------------

def test_p_and_points_formats():
    assert format_p(1e-9) == "p < 0.001" and format_p(0.0412) == "p = 0.041"
    assert format_p(0.41) == "p = 0.41" and format_p(1.0) == "p = 1"
    assert format_p(float("nan")) == "p —"
    assert points(0.092, 0.079, 0.106) == ["9.2", "7.9", "10.6"]
    assert points(-0.008, 0.033) == ["−0.8", "3.3"]
    # an interval that excludes 0 never reads "0.0"
    assert points(0.0002, 0.0004) == ["0.02", "0.04"]


def test_identical_predictions_give_no_detectable_difference(tmp_path):
    root = make_study(tmp_path / "s", models=["NN_1_sgd", "NN_1_adam"])
    shutil.copy(root / "NN_1_sgd" / "seed-0" / "test_predictions.npz",
                root / "NN_1_adam" / "seed-0" / "test_predictions.npz")
    study = load_study(root)
    result = compare_all(study)
    (c,) = result["comparisons"]
    assert (c["a"], c["b"], c["test"]) == ("NN_1_adam", "NN_1_sgd", PAIRED)
    assert c["difference"] == 0 and c["ci"][0] <= 0 <= c["ci"][1]
    assert c["mcnemar"] == {"a_only": 0, "b_only": 0, "p": 1.0}
    assert not c["significant"] and c["winner"] is None
    line = comparison_sentence(study, c)
    assert line.startswith("Optimizer (NN_1): no detectable difference in balanced accuracy "
                           "between NN_1_adam and NN_1_sgd")
    assert "NN_1_adam − NN_1_sgd: 0.0 points, 95% CI 0.0 to 0.0; McNemar p = 1, " \
           "Holm-adjusted" in line
    assert "beat" not in line


def test_a_clearly_better_model_beats_the_other(tmp_path):
    root = tmp_path / "s"
    fake_run(root / "NN_1_sgd" / "seed-0", "NN_1_sgd", 0, skill=0.9)
    fake_run(root / "NN_1_adam" / "seed-0", "NN_1_adam", 0, skill=0.3)
    study = load_study(root)
    result = compare_all(study)
    (c,) = result["comparisons"]
    assert c["significant"] and c["winner"] == "NN_1_sgd"
    assert c["ci"][1] < 0 < -c["difference"]  # A − B: Adam minus SGD, well below 0
    line = comparison_sentence(study, c)
    gap = points(-c["difference"], -c["ci"][1], -c["ci"][0])
    assert line.startswith(f"Optimizer (NN_1): NN_1_sgd beat NN_1_adam by {gap[0]} points of "
                           "balanced accuracy")
    assert f"(95% CI {gap[1]}–{gap[2]}; McNemar p < 0.001, Holm-adjusted)" in line
    # the fake runs' validation accuracy climbs every epoch: both were still improving
    assert line.endswith("NN_1_adam and NN_1_sgd were still improving when training stopped: "
                         "the optimizer comparison holds for this budget only.")


@pytest.mark.slow
def test_comparisons_json_can_be_recomputed_and_is_holm_adjusted(tmp_path):
    root = make_study(tmp_path / "s", models=["NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam"])
    study = load_study(root)
    result = compare_all(study)
    path = write_comparisons(result, tmp_path / "report" / "comparisons.json")
    saved = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    cs = saved["comparisons"]
    assert [(c["a"], c["b"]) for c in cs] == [
        ("NN_1_adam", "NN_1_sgd"), ("NN_2_adam", "NN_2_sgd"),
        ("NN_2_sgd", "NN_1_sgd"), ("NN_2_adam", "NN_1_adam")]
    assert saved["family_size"] == 4
    assert [c["p_adjusted"] for c in cs] == pytest.approx(stats.holm([c["p"] for c in cs]))
    for c in cs:
        assert c["significant"] == (c["p_adjusted"] < 0.05 and (c["ci"][0] > 0 or c["ci"][1] < 0))
        assert c["still_improving"] == {c["a"]: [0], c["b"]: [0]}
        # every number again, from the runs' saved predictions
        y, pa = study.representative(c["a"]).predictions
        _, pb = study.representative(c["b"]).predictions
        again = stats.paired_difference(y, pa, pb, n_resamples=c["n_resamples"],
                                        seed=c["bootstrap_seed"])
        assert (c["seed_a"], c["seed_b"]) == (0, 0)
        assert c["difference"] == pytest.approx(again["difference"])
        assert c["ci"] == pytest.approx(again["ci"])
        assert c["mcnemar"] == again["mcnemar"] and c["p"] == again["mcnemar"]["p"]
    lines = comparison_findings(study, result)
    assert lines[-1].startswith("p-values are Holm-adjusted over the 4 comparisons of this report")


def test_several_seeds_use_welch_and_report_mcnemar_per_seed(y):
    runs = [record(lb, s, y, _probs(lb, s, y, skill + 0.02 * s), family="cnn")
            for lb, skill in (("CNN_2_adam", 0.7), ("CNN_1_adam", 0.45)) for s in (0, 1, 2)]
    study = study_of(*runs)
    (c,) = compare_all(study)["comparisons"]
    values = [r.metrics["balanced_accuracy"] for r in runs]
    w = stats.welch(values[:3], values[3:])
    assert c["test"] == WELCH and c["p"] == w["p"] and c["ci"] == w["ci"]
    assert [r["seed"] for r in c["per_seed"]] == [0, 1, 2]
    assert c["significant"] and c["winner"] == "CNN_2_adam"
    line = comparison_sentence(study, c)
    assert "Depth (CNN, Adam): CNN_2_adam beat CNN_1_adam by" in line
    assert "over 3 seeds each" in line and "Welch t-test p < 0.001, Holm-adjusted" in line
    assert "per seed, unadjusted McNemar p < 0.05 for CNN_2_adam on 3 of 3" in line
    assert "still improving" not in line  # no run was


def test_one_seed_against_several_pairs_the_lowest_shared_seed(y):
    runs = [record("NN_1_adam", s, y, _probs("NN_1_adam", s, y, 0.6)) for s in (0, 1, 2)]
    runs.append(record("NN_1_sgd", 1, y, _probs("NN_1_sgd", 1, y, 0.6), improving=True))
    study = study_of(*runs)
    (c,) = compare_all(study)["comparisons"]
    assert c["test"] == PAIRED and (c["seed_a"], c["seed_b"]) == (1, 1)
    line = comparison_sentence(study, c)
    assert " on seed 1" in line
    assert line.endswith("NN_1_sgd was still improving when training stopped: the optimizer "
                         "comparison holds for this budget only.")


def test_without_predictions_or_on_different_test_sets_no_winner_is_claimed(y):
    other = y[::-1].copy()
    runs = [record("NN_1_adam", 0, y, _probs("a", 0, y, 0.9)),
            record("NN_1_sgd", 0, other, _probs("b", 0, other, 0.1)),
            RunRecord("NN_2_adam", 0, None, "ok", metrics={"family": "mlp",
                                                           "balanced_accuracy": 0.6}),
            record("NN_2_sgd", 0, y, _probs("c", 0, y, 0.1))]
    study = study_of(*runs)
    result = compare_all(study)
    by = {(c["a"], c["b"]): c for c in result["comparisons"]}
    for key, why in ((("NN_1_adam", "NN_1_sgd"), "different test sets"),
                     (("NN_2_adam", "NN_2_sgd"), "could not be read")):
        c = by[key]
        assert c["test"] is None and math.isnan(c["p"]) and math.isnan(c["p_adjusted"])
        assert not c["significant"] and why in c["reason"]
        line = comparison_sentence(study, c)
        assert "no paired test was possible" in line
        assert f"{key[0]} beat" not in line and f"{key[1]} beat" not in line
    # the untested comparisons are not counted in the family
    assert result["family_size"] == sum(c["test"] is not None for c in result["comparisons"])


def test_pairs_and_statistics_note(y):
    runs = [record(lb, 0, y, _probs(lb, 0, y, skill), family=fam)
            for lb, fam, skill in (("NN_dense", "mlp", 0.4), ("NN_dense_batch_norm", "mlp", 0.5),
                                   ("CNN_1_sgd", "cnn", 0.6))]
    runs[0].metrics["intervals"] = {"n_resamples": 1000, "seed": 0, "level": 0.95}
    study = study_of(*runs)
    assert [(p.kind, p.a, p.b) for p in pairs(study)] == [
        ("architecture", "CNN_1_sgd", "NN_dense_batch_norm"),
        ("batchnorm", "NN_dense_batch_norm", "NN_dense")]
    note = statistics_note(study, compare_all(study))
    assert "1,000 resamples" in note and "95% percentile intervals" in note
    assert "2 run(s) evaluated by an older k49 have none" in note
    assert "Holm-adjusted over the 2 comparisons" in note


@pytest.mark.slow
def test_build_report_writes_comparisons_json_and_the_notes(tmp_path, monkeypatch):
    from k49.report import build

    monkeypatch.setattr(build, "report_figures", lambda *a, **k: {})  # figures: tested elsewhere
    root = tmp_path / "s"
    fake_run(root / "NN_1_sgd" / "seed-0", "NN_1_sgd", 0, skill=0.9)
    fake_run(root / "NN_1_adam" / "seed-0", "NN_1_adam", 0, skill=0.3)
    result = build.build_report(root, extra_notes={"protocol": "two runs"})
    assert result["comparisons"] == root / "report" / "comparisons.json"
    saved = json.loads(result["comparisons"].read_text())
    (c,) = saved["comparisons"]
    assert c["winner"] == "NN_1_sgd" and c["p_adjusted"] == c["p"]  # a family of one
    assert any(line.startswith("Optimizer (NN_1): NN_1_sgd beat NN_1_adam")
               for line in result["findings"])
    md = result["markdown"].read_text()
    assert "- **Statistics**: each run's intervals are 95% percentile intervals of a " \
           "stratified bootstrap of its test images (1,000 resamples" in md
    assert "Holm-adjusted over the 1 comparison of this report" in md
    assert "- **Convergence**: a run is still improving when" in md
    assert "- **Protocol**: two runs" in md
    assert "comparisons" in result["seconds"]
