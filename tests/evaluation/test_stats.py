"""Intervals and tests checked against answers known in advance (issue 9, section 5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from sklearn.metrics import roc_auc_score

from k49.errors import InvalidInput
from k49.evaluation import metrics as M
from k49.evaluation import stats as S


def probs_from_correct(y: np.ndarray, correct: np.ndarray, n_classes: int,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Probabilities whose top class is y where `correct`, the next class elsewhere."""
    pred = np.where(correct, y, (y + 1) % n_classes)
    noise = (rng.random((len(y), n_classes)) if rng is not None
             else np.zeros((len(y), n_classes)))
    logits = noise + 3.0 * np.eye(n_classes)[pred]
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def imbalanced_labels(sizes) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


def random_probs(y, n_classes, strength, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += strength
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def test_point_estimates_equal_the_metrics_module():
    y = imbalanced_labels([30, 200, 80, 5, 120])
    p = random_probs(y, 5, 1.5, 0)
    got = S.point_estimates(y, p)
    want = M.evaluate(y, p)
    for k in S.INTERVAL_METRICS:
        assert got[k] == pytest.approx(want[k], abs=1e-9)


def test_identical_predictions_differ_by_zero_with_an_interval_containing_zero():
    y = imbalanced_labels([40, 300, 90, 12])
    p = random_probs(y, 4, 1.0, 1)
    for metric in S.INTERVAL_METRICS:
        d = S.paired_difference(y, p, p.copy(), metric=metric, n_resamples=300)
        assert d["difference"] == 0
        assert d["ci"][0] <= 0 <= d["ci"][1]
    assert d["mcnemar"] == {"a_only": 0, "b_only": 0, "p": 1.0}


def test_mcnemar_matches_a_worked_case_and_scipy():
    # 1 image only A gets right, 9 only B: two-sided exact p = 2 * (1 + 10) / 2**10.
    a = np.array([True] + [False] * 9 + [True] * 50)
    b = np.array([False] + [True] * 9 + [True] * 50)
    res = S.mcnemar(a, b)
    assert (res["a_only"], res["b_only"]) == (1, 9)
    assert res["p"] == pytest.approx(22 / 1024)
    assert res["p"] == pytest.approx(st.binomtest(1, 10, 0.5).pvalue)


def test_holm_matches_a_hand_computed_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    out = S.holm([0.02, float("nan")])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1])  # NaN does not count towards m


@pytest.mark.slow
def test_a_known_better_model_is_detected_at_the_expected_power():
    # A and B disagree on 60 images of 2,000; B is the one right on each with probability 0.7.
    # McNemar's power is then P(binomial test rejects | k ~ Binomial(60, 0.7)), exactly.
    n_disc, share, alpha, sims = 60, 0.7, 0.05, 300
    rejects = [k for k in range(n_disc + 1) if st.binomtest(k, n_disc, 0.5).pvalue < alpha]
    expected = st.binom.pmf(rejects, n_disc, share).sum()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    detected = 0
    for _ in range(sims):
        both = rng.random(2000) < 0.8
        disc = rng.choice(2000, n_disc, replace=False)
        a, b = both.copy(), both.copy()
        b_wins = rng.random(n_disc) < share
        a[disc], b[disc] = ~b_wins, b_wins
        res = S.mcnemar(b, a)
        detected += res["p"] < alpha and res["a_only"] > res["b_only"]
    assert abs(detected / sims - expected) < 0.08, (detected / sims, expected)
    # And a large difference is found by the paired bootstrap of balanced accuracy too.
    a[:300], b[:300] = False, True
    d = S.paired_difference(y, probs_from_correct(y, b, 10), probs_from_correct(y, a, 10),
                            n_resamples=400)
    assert d["ci"][0] > 0 and d["mcnemar"]["p"] < 1e-3


@pytest.mark.slow
def test_bootstrap_interval_of_accuracy_covers_the_truth_at_the_nominal_rate():
    sizes = [15, 40, 120, 60, 25, 200, 80, 10]
    true_acc = np.array([0.6, 0.9, 0.8, 0.7, 0.5, 0.85, 0.75, 0.4])
    y = imbalanced_labels(sizes)
    truth = float(np.sum(np.array(sizes) * true_acc) / len(y))  # class counts are fixed
    rng = np.random.default_rng(2026)
    covered, sims = 0, 500
    for _ in range(sims):
        correct = rng.random(len(y)) < true_acc[y]
        dist = S.bootstrap_distribution(y, probs_from_correct(y, correct, 8), 1000, seed=7)
        lo, hi = S.percentile_interval(dist["accuracy"])
        covered += lo <= truth <= hi
    assert 0.92 <= covered / sims <= 0.98, covered / sims


@pytest.mark.slow
def test_resampled_aucs_match_aucs_recomputed_on_the_resampled_images():
    y = imbalanced_labels([300, 120, 60, 500, 30])
    p = random_probs(y, 5, 1.2, 3)
    dist = S.bootstrap_distribution(y, p, n_resamples=40, seed=5)
    counts = np.concatenate(list(S.bootstrap_counts(y, 40, 5)))
    for b in range(40):
        idx = np.repeat(np.arange(len(y)), counts[b].astype(int))
        aucs = [roc_auc_score(y[idx] == c, p[idx, c]) for c in range(5)]
        assert dist["auc_macro"][b] == pytest.approx(np.mean(aucs), abs=2e-3)
        # Every other metric is exact on the resample.
        assert dist["balanced_accuracy"][b] == pytest.approx(
            M.balanced_accuracy(y[idx], p[idx]), abs=1e-9)
        assert dist["f1_macro"][b] == pytest.approx(M.f1(y[idx], p[idx]), abs=1e-9)


def test_stratified_resamples_keep_the_class_counts_and_are_seeded():
    y = imbalanced_labels([7, 50, 3])
    first = np.concatenate(list(S.bootstrap_counts(y, 450, 1)))
    again = np.concatenate(list(S.bootstrap_counts(y, 450, 1)))
    other = np.concatenate(list(S.bootstrap_counts(y, 450, 2)))
    assert first.shape == (450, len(y))
    for c, n in enumerate([7, 50, 3]):
        assert (first[:, y == c].sum(1) == n).all()
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_intervals_record_how_they_were_made_and_hold_the_estimate():
    y = imbalanced_labels([30, 200, 80, 5, 120])
    p = random_probs(y, 5, 1.5, 0)
    iv = S.bootstrap_intervals(y, p, n_resamples=300, seed=3)
    assert (iv["n_resamples"], iv["seed"], iv["level"]) == (300, 3, 0.95)
    point = M.evaluate(y, p)
    for k in S.INTERVAL_METRICS:
        lo, hi = iv[k]
        assert lo < point[k] < hi


def test_t_interval_and_welch_follow_scipy():
    a, b = [0.80, 0.82, 0.81, 0.79], [0.70, 0.75, 0.72]
    lo, hi = S.t_interval(a)
    half = st.t.ppf(0.975, 3) * st.sem(a)
    assert (lo, hi) == pytest.approx((np.mean(a) - half, np.mean(a) + half))
    w = S.welch(a, b)
    assert w["p"] == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)
    assert w["ci"][0] < w["difference"] < w["ci"][1]
    assert np.isnan(S.t_interval([0.5])[0])
    assert S.welch([0.5, 0.5], [0.5, 0.5])["p"] == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: S.bootstrap_intervals([0, 1], [[1, 0], [0, 1]], level=1.5), "level must be"),
    (lambda: S.bootstrap_intervals([0, 1], [[1, 0], [0, 1]], n_resamples=0), "n_resamples must"),
    (lambda: S.paired_difference([0, 1], [[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0]]),
     "probs_a and probs_b"),
    (lambda: S.paired_difference([0, 1], [[1, 0], [0, 1]], [[1, 0], [0, 1]], metric="ece"),
     "metric must be one of"),
    (lambda: S.mcnemar([1, 0], [1, 0]), "correct_a must be a 1-D boolean"),
    (lambda: S.mcnemar(np.array([True]), np.array([True, False])), "same images"),
    (lambda: S.welch([0.1], [0.2, 0.3]), "at least 2 values"),
    (lambda: S.holm([0.5, 2.0]), "pvalues must"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(InvalidInput, match=message):
        call()
