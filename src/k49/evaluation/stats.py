"""Uncertainty: stratified bootstrap intervals, paired comparisons of two models on the same
test images, tests across seeds, and Holm's adjustment.

Everything here is a pure function of labels and probabilities (what `test_predictions.npz`
holds), so every interval and p-value of a report can be recomputed from a run's files:

- `bootstrap_intervals(y, probs)`: 95% percentile intervals of accuracy, balanced accuracy,
  macro F1, macro AUC and inverse-frequency AUC over 1,000 resamples of the test images drawn
  within each class (so every resample keeps the test set's class counts).
- `paired_difference(y, probs_a, probs_b)`: the same resamples for both models, so the interval
  is of the difference itself; `mcnemar(correct_a, correct_b)`: the exact test on the images
  one model gets right and the other does not.
- `t_interval(values)`, `welch(values_a, values_b)`: across seeds.
- `holm(pvalues)`: Holm's step-down adjustment within a family of comparisons.

The resampled AUCs use each image's placement value (DeLong's structural components): a
resample's AUC is the original AUC plus the mean change in placement of the resampled
positives and negatives. This is the bootstrap to first order (the omitted term shrinks as
1 / (positives x negatives)) and is what makes 1,000 resamples of 49 AUCs over 38,547 images
take a second; a test checks it against AUCs recomputed on resampled sets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy import stats as st

from k49.errors import InvalidInput
from k49.evaluation.metric_table import INTERVAL_METRICS
from k49.evaluation.metrics import check_int, check_labels, check_probs

#: Defaults of every interval k49 reports.
N_RESAMPLES, LEVEL, BOOTSTRAP_SEED = 1000, 0.95, 0
#: Resamples drawn at a time (bounds memory: CHUNK x N float32 counts).
CHUNK = 200


def check_level(level: Any) -> float:
    """A confidence level in (0, 1) as a float, or InvalidInput."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise InvalidInput(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}")
    return float(level)


def _labels_key(y: np.ndarray, n: int, seed: int) -> tuple[str, int, int]:
    return hashlib.blake2b(y.tobytes(), digest_size=16).hexdigest(), n, seed


_CACHE: dict[tuple[str, int, int], list[np.ndarray]] = {}


def bootstrap_counts(y_true: Any, n_resamples: int = N_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> Iterator[np.ndarray]:
    """The stratified bootstrap, as chunks of (resamples, N) float32 counts: how often each test
    image is drawn in each resample. Within each class, its n_c images are drawn n_c times with
    replacement. The same labels, count and seed give the same resamples, so two models
    evaluated on the same test set are resampled on the same images (a paired bootstrap)."""
    y = check_labels(y_true)
    n_resamples = check_int(n_resamples, "n_resamples", 1, 100_000)
    seed = check_int(seed, "seed", 0)
    key = _labels_key(y, n_resamples, seed)
    if key in _CACHE:  # the report resamples one test set for many runs and comparisons
        yield from _CACHE[key]
        return
    chunks = []
    members = [np.flatnonzero(y == c) for c in np.unique(y)]
    for i, start in enumerate(range(0, n_resamples, CHUNK)):
        b = min(CHUNK, n_resamples - start)
        rng = np.random.default_rng([seed, i])
        counts = np.zeros((b, len(y)), dtype=np.float32)
        for idx in members:
            n = len(idx)
            draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
            counts[:, idx] = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        chunks.append(counts)
        yield counts
    _CACHE.clear()
    _CACHE[key] = chunks


def placement_values(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest AUC of every class (NaN where undefined) and an (N, C) matrix whose
    weighted column sums give a resample's AUCs to first order: row i, column c holds image
    i's placement value divided by its side's count (positives: the fraction of negatives
    scored below it; negatives: the fraction of positives scored above it; ties count half)."""
    n, n_classes = probs.shape
    auc = np.full(n_classes, np.nan)
    table = np.zeros((n, n_classes), dtype=np.float32)
    for c in range(n_classes):
        pos = y == c
        n_pos = int(pos.sum())
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        s = probs[:, c]
        rank_all = st.rankdata(s)
        below = np.empty(n)
        below[pos] = rank_all[pos] - st.rankdata(s[pos])  # negatives below each positive
        below[~pos] = rank_all[~pos] - st.rankdata(s[~pos])  # positives below each negative
        v10 = below[pos] / n_neg
        v01 = (n_pos - below[~pos]) / n_pos
        auc[c] = v10.mean()
        table[pos, c] = (v10 - auc[c]) / n_pos
        table[~pos, c] = (v01 - auc[c]) / n_neg
    return auc, table


AUC_METRICS = ("auc_macro", "auc_inverse_frequency")


def _sufficient(y: np.ndarray, probs: np.ndarray, aucs: bool = True) -> dict[str, Any]:
    """What a resample's metrics are computed from: an (N, 2C or 3C) matrix whose
    resample-weighted column sums are each class's true positives, predicted count and (with
    `aucs`) AUC change; the AUCs; and the class counts."""
    n_classes = probs.shape[1]
    pred = probs.argmax(1)
    eye = np.eye(n_classes, dtype=np.float32)
    parts = [eye[y] * (pred == y)[:, None], eye[pred]]
    auc = np.full(n_classes, np.nan)
    if aucs:
        auc, placement = placement_values(y, probs)
        parts.append(placement)
    return {"table": np.hstack(parts), "auc": auc, "n": len(y),
            "support": np.bincount(y, minlength=n_classes).astype(np.float64)}


def _resampled_metrics(sums: np.ndarray, suff: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each resample's metrics from its column sums (see `_sufficient`); no AUCs when the
    sums have none."""
    support, auc, n = suff["support"], suff["auc"], suff["n"]
    c = len(support)
    tp, predicted, d_auc = sums[:, :c], sums[:, c:2 * c], sums[:, 2 * c:]
    present = support > 0
    f1_denominator = support + predicted
    scored = f1_denominator > 0  # sklearn's labels: those in y_true or predicted
    f1 = np.divide(2 * tp, f1_denominator, out=np.zeros_like(tp), where=scored)
    out = {
        "accuracy": tp.sum(1) / n,
        "balanced_accuracy": (tp[:, present] / support[present]).mean(1),
        "f1_macro": f1.sum(1) / scored.sum(1),
    }
    if d_auc.shape[1]:
        defined = ~np.isnan(auc)
        aucs = np.clip(auc[defined] + d_auc[:, defined], 0, 1)
        weights = 1.0 / support[defined]
        nan = np.full(len(sums), np.nan)
        out["auc_macro"] = aucs.mean(1) if defined.any() else nan
        out["auc_inverse_frequency"] = aucs @ weights / weights.sum() if defined.any() else nan
    return out


def point_estimates(y_true: Any, probs: Any) -> dict[str, float]:
    """INTERVAL_METRICS on the test set itself (every image counted once): the same values as
    `k49.evaluation.metrics`, from the same sums the resamples use."""
    y, p = check_probs(y_true, probs)
    return _point(_sufficient(y, p))


def _point(suff: dict[str, Any]) -> dict[str, float]:
    ones = suff["table"].sum(0, keepdims=True, dtype=np.float64)
    return {k: float(v[0]) for k, v in _resampled_metrics(ones, suff).items()}


def _distribution(y: np.ndarray, suff: dict[str, Any], n_resamples: int,
                  seed: int) -> dict[str, np.ndarray]:
    parts = [_resampled_metrics((w @ suff["table"]).astype(np.float64), suff)
             for w in bootstrap_counts(y, n_resamples, seed)]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def bootstrap_distribution(y_true: Any, probs: Any, n_resamples: int = N_RESAMPLES,
                           seed: int = BOOTSTRAP_SEED) -> dict[str, np.ndarray]:
    """Each INTERVAL_METRICS metric on each stratified resample: {metric: (n_resamples,)}."""
    y, p = check_probs(y_true, probs)
    return _distribution(y, _sufficient(y, p), n_resamples, seed)


def percentile_interval(samples: Any, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap `samples` (NaN if none is finite)."""
    level = check_level(level)
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if not len(s):
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_intervals(y_true: Any, probs: Any, *, n_resamples: int = N_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> dict[str, Any]:
    """Percentile intervals of INTERVAL_METRICS over stratified resamples of the test images,
    with how they were made: {"method", "n_resamples", "seed", "level", metric: [lo, hi]}."""
    level = check_level(level)
    dist = bootstrap_distribution(y_true, probs, n_resamples, seed)
    return {"method": "stratified bootstrap (percentile)", "n_resamples": n_resamples,
            "seed": seed, "level": level,
            **{k: list(percentile_interval(v, level)) for k, v in dist.items()}}


def mcnemar(correct_a: Any, correct_b: Any) -> dict[str, Any]:
    """McNemar's exact test on paired right/wrong outcomes: the binomial test of the images only
    A gets right (`a_only`) against those only B gets right (`b_only`)."""
    a, b = (np.asarray(x) for x in (correct_a, correct_b))
    for name, x in (("correct_a", a), ("correct_b", b)):
        if x.ndim != 1 or x.dtype != bool:
            raise InvalidInput(f"{name} must be a 1-D boolean array (right or wrong per image), "
                               f"got {x.dtype} of shape {x.shape}")
    if a.shape != b.shape:
        raise InvalidInput(f"correct_a and correct_b must cover the same images, got "
                           f"{a.shape[0]} and {b.shape[0]}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = 1.0 if n == 0 else float(st.binomtest(a_only, n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def paired_difference(y_true: Any, probs_a: Any, probs_b: Any, *,
                      metric: str = "balanced_accuracy", n_resamples: int = N_RESAMPLES,
                      seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> dict[str, Any]:
    """Model A minus model B on the same test images: the difference in `metric`, its paired
    bootstrap interval (both models scored on each resample), and McNemar's exact test."""
    if metric not in INTERVAL_METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(INTERVAL_METRICS)}, got {metric!r}")
    y, pa = check_probs(y_true, probs_a)
    _, pb = check_probs(y, probs_b)
    if pa.shape != pb.shape:
        raise InvalidInput(f"probs_a and probs_b must have the same shape, got {pa.shape} and "
                           f"{pb.shape}")
    sa, sb = (_sufficient(y, p, aucs=metric in AUC_METRICS) for p in (pa, pb))
    da, db = (_distribution(y, s, n_resamples, seed)[metric] for s in (sa, sb))
    lo, hi = percentile_interval(da - db, level)
    test = mcnemar(pa.argmax(1) == y, pb.argmax(1) == y)
    return {"metric": metric, "difference": _point(sa)[metric] - _point(sb)[metric],
            "ci": [lo, hi],
            "level": check_level(level), "n_resamples": n_resamples, "seed": seed,
            "mcnemar": test}


def _values(values: Any, name: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a 1-D sequence of numbers, got "
                           f"{type(values).__name__}") from None
    if v.ndim != 1 or not np.isfinite(v).all():
        raise InvalidInput(f"{name} must be a 1-D sequence of finite numbers, got shape "
                           f"{v.shape}")
    return v


def t_interval(values: Any, level: float = LEVEL) -> tuple[float, float]:
    """Student's t interval of the mean of `values` (one per seed); NaN for fewer than two."""
    level = check_level(level)
    v = _values(values, "values")
    if len(v) < 2:
        return float("nan"), float("nan")
    mean = float(v.mean())
    if v.std() == 0:
        return mean, mean
    lo, hi = st.t.interval(level, len(v) - 1, loc=mean, scale=st.sem(v))
    return float(lo), float(hi)


def welch(values_a: Any, values_b: Any, level: float = LEVEL) -> dict[str, Any]:
    """Welch's t-test of mean(A) - mean(B) across seeds, with its interval; each side needs
    at least two values."""
    level = check_level(level)
    a, b = _values(values_a, "values_a"), _values(values_b, "values_b")
    if len(a) < 2 or len(b) < 2:
        raise InvalidInput(f"values_a and values_b need at least 2 values each (seeds), got "
                           f"{len(a)} and {len(b)}")
    diff = float(a.mean() - b.mean())
    if a.std() == 0 and b.std() == 0:  # no spread: the t statistic is undefined
        return {"difference": diff, "ci": [diff, diff], "p": 1.0 if diff == 0 else 0.0,
                "n_a": len(a), "n_b": len(b), "level": level}
    res = st.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(level)
    return {"difference": diff, "ci": [float(ci.low), float(ci.high)], "p": float(res.pvalue),
            "n_a": len(a), "n_b": len(b), "level": level}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the k-th smallest of m p-values is multiplied by m - k + 1,
    kept non-decreasing and capped at 1. NaN stays NaN and does not count towards m."""
    try:
        p = np.asarray([np.nan if x is None else x for x in pvalues], dtype=np.float64)
    except (TypeError, ValueError):
        p = np.array([-1.0])
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise InvalidInput("pvalues must be a 1-D sequence of numbers in [0, 1] (or NaN)")
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = len(order), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out.tolist()
