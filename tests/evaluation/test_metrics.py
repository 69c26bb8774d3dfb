"""Every metric against scikit-learn (or a direct computation), on random inputs and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from k49.evaluation import metrics as m

C = 7


def random_case(seed: int, n: int = 300, c: int = C, missing: int | None = None):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 2
    y = rng.integers(0, c, n)
    if missing is not None:
        y[y == missing] = (missing + 1) % c
    logits[np.arange(n), y] += 1.5  # better than chance
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p.astype(np.float32)


CASES = {
    "random": random_case(0),
    "random-large": random_case(1, n=2000, c=49),
    "missing-class": random_case(2, missing=3),
    "ties": (np.arange(60) % C, np.full((60, C), 1.0 / C)),
    "perfect": (np.arange(70) % C, np.eye(C)[np.arange(70) % C]),
    "constant": (np.arange(70) % C, np.tile(np.eye(C)[2] * 0.9 + 0.1 / C, (70, 1))),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    return CASES[request.param]


def test_scalar_metrics_match_sklearn(case):
    y, p = case
    pred = p.argmax(1)
    labels = np.arange(p.shape[1])
    assert m.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected_bal = skm.balanced_accuracy_score(y, pred)
    assert m.balanced_accuracy(y, p) == pytest.approx(expected_bal)
    assert m.top_k_accuracy(y, p, 5) == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=5, labels=labels))
    assert m.log_loss(y, p) == pytest.approx(
        skm.log_loss(y, p / p.sum(1, keepdims=True, dtype=np.float64), labels=labels), rel=1e-6)
    assert m.f1(y, p, "macro") == pytest.approx(
        skm.f1_score(y, pred, average="macro", zero_division=0))
    assert m.f1(y, p, "weighted") == pytest.approx(
        skm.f1_score(y, pred, average="weighted", zero_division=0))


def test_per_class_and_confusion_match_sklearn(case):
    y, p = case
    pred, labels = p.argmax(1), np.arange(p.shape[1])
    scores = m.per_class_scores(y, p)
    expected = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for got, want in zip((scores[k] for k in ("precision", "recall", "f1", "support")), expected,
                         strict=True):
        np.testing.assert_allclose(got, want)
    cm = m.confusion(y, p)
    np.testing.assert_array_equal(cm["counts"], skm.confusion_matrix(y, pred, labels=labels))
    rows = cm["counts"].sum(1)
    np.testing.assert_allclose(cm["normalised"].sum(1), (rows > 0).astype(float))


def test_roc_auc_matches_sklearn(case):
    y, p = case
    roc = m.roc_curves(y, p)
    present = np.unique(y)
    for c in range(p.shape[1]):
        if c in present:
            assert roc["auc"][c] == pytest.approx(skm.roc_auc_score(y == c, p[:, c]))
        else:
            assert np.isnan(roc["auc"][c])
    assert roc["auc_macro"] == pytest.approx(np.mean([skm.roc_auc_score(y == c, p[:, c])
                                                      for c in present]))
    onehot = np.eye(p.shape[1])[y]
    assert roc["auc_micro"] == pytest.approx(skm.roc_auc_score(onehot.ravel(), p.ravel()))
    if len(present) == p.shape[1]:
        assert roc["auc_macro"] == pytest.approx(
            skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    grid, tpr = roc["macro"]
    assert np.all(np.diff(grid) >= 0) and tpr[-1] == pytest.approx(1.0)


def test_perfect_and_constant_classifiers():
    y, p = CASES["perfect"]
    assert m.accuracy(y, p) == 1 and m.balanced_accuracy(y, p) == 1
    assert m.roc_curves(y, p)["auc_macro"] == 1
    assert m.calibration(y, p)["ece"] == pytest.approx(0)
    y, p = CASES["constant"]
    assert m.balanced_accuracy(y, p) == pytest.approx(1 / C)
    assert m.roc_curves(y, p)["auc_macro"] == pytest.approx(0.5)


def test_inverse_frequency_auc():
    aucs = np.array([0.9, 0.6, np.nan, 0.8])
    counts = np.array([100, 10, 5, 0])
    w = np.array([1 / 100, 1 / 10])
    expected = (w * aucs[:2]).sum() / w.sum()
    assert m.inverse_frequency_auc(aucs, counts) == pytest.approx(expected)
    # the rare class dominates
    assert m.inverse_frequency_auc(aucs, counts) < np.nanmean(aucs[:2])
    with pytest.raises(ValueError, match="same length"):
        m.inverse_frequency_auc(aucs, counts[:2])


def test_calibration_against_direct_computation(case):
    y, p = case
    cal = m.calibration(y, p, n_bins=10)
    conf, correct = p.max(1), p.argmax(1) == y
    ece = 0.0
    for lo, hi in zip(np.linspace(0, 1, 11)[:-1], np.linspace(0, 1, 11)[1:], strict=True):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert cal["ece"] == pytest.approx(ece, abs=1e-6)
    assert cal["count"].sum() == len(y)


def test_most_confused():
    cm = np.array([[5, 3, 0], [0, 4, 7], [1, 0, 2]])
    assert m.most_confused(cm, k=2) == [(1, 2, 7), (0, 1, 3)]


def test_evaluate_is_json_ready():
    import json

    y, p = CASES["missing-class"]
    result = m.evaluate(y, p)
    json.dumps(result, allow_nan=False)
    assert result["per_class"]["auc"][3] is None


@pytest.mark.parametrize("y, p, match", [
    (np.array([0, 1]), np.full((3, 2), 0.5), "same number of samples"),
    (np.array([0, 1]), np.full((2,), 0.5), "2-D"),
    (np.array([0, 1]), np.array([[np.nan, 1.0], [0.5, 0.5]]), "finite"),
    (np.array([0, 1]), np.array([[np.inf, 0.0], [0.5, 0.5]]), "finite"),
    (np.array([0, 1]), np.array([[0.7, 0.7], [0.5, 0.5]]), "sum to 1"),
    (np.array([0, 5]), np.full((2, 2), 0.5), "must lie in 0..1"),
    (np.array([0.0, 1.0]), np.full((2, 2), 0.5), "integer"),
    (np.array([[0, 1]]), np.full((2, 2), 0.5), "1-D"),
])
def test_bad_inputs_are_rejected_with_clear_messages(y, p, match):
    with pytest.raises(ValueError, match=match):
        m.accuracy(y, p)
