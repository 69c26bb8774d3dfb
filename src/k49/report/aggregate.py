"""Means, standard deviations and the best model over a study's seeds, under one NaN policy.

Every number the report aggregates (figures, findings, summary.csv/json, the results table) is
computed here, so that all of them agree:

- missing values (None), NaN, ±inf and non-numbers are left out;
- the mean of no value is NaN;
- the sd has ddof=1 and is NaN for fewer than two values;
- the best of several labels is the one with the highest mean; a label whose mean is NaN is
  never the best, and a tie goes to the first label given (the study's order).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Any

import numpy as np

from k49.evaluation.metric_table import INTERVAL_METRICS
from k49.evaluation.stats import t_interval
from k49.formats import finite_or_none
from k49.report.collect import CollectedRuns

#: The metric models are ranked by (the K49 authors' headline metric).
RANKING_METRIC = "balanced_accuracy"

#: Columns of summary.csv / summary.json, in order. A run's row has the bootstrap interval of
#: each INTERVAL_METRICS metric (<metric>_ci_low/_ci_high); a "mean" row, the t interval over
#: the seeds; `still_improving` is the convergence verdict (a mean row: any seed).
NUMBER_COLUMNS = (
    "accuracy", "balanced_accuracy", "top5_accuracy", "auc_macro", "auc_inverse_frequency",
    "f1_macro", "ece", "params", "flops", "train_seconds",
)
SUMMARY_COLUMNS = (
    "model", "seed", "dataset", *NUMBER_COLUMNS,
    *(f"{m}_ci_{end}" for m in INTERVAL_METRICS for end in ("low", "high")),
    "still_improving",
)


def finite(values: Iterable[Any]) -> np.ndarray:
    """The finite numbers among `values`, as float64 (None, NaN, ±inf and the rest left out)."""
    return np.array([float(v) for v in values if isinstance(v, Real) and not isinstance(v, bool)
                     and math.isfinite(v)], dtype=np.float64)


def mean(values: Iterable[Any]) -> float:
    """Mean of the finite values; NaN if there are none."""
    v = finite(values)
    return float(v.mean()) if len(v) else math.nan


def sd(values: Iterable[Any]) -> float:
    """Sample standard deviation (ddof=1) of the finite values; NaN for fewer than two."""
    v = finite(values)
    return float(v.std(ddof=1)) if len(v) > 1 else math.nan


def column_mean(rows: Sequence[Sequence[Any]]) -> np.ndarray:
    """The mean of each column of equal-length `rows`, each under `mean`'s policy."""
    a = np.array([[np.nan if x is None else float(x) for x in row] for row in rows],
                 dtype=np.float64)
    a[~np.isfinite(a)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column without a value: NaN
        return np.nanmean(a, axis=0)


# ---------------------------------------------------------------------------------------------
# Over the seeds of a study's labels


def metric_values(study: CollectedRuns, label: str, key: str) -> np.ndarray:
    """The finite values of metric `key` over the good runs (seeds) of `label`."""
    return finite(r.metrics.get(key) for r in study.by_label(label))


def metric_mean(study: CollectedRuns, label: str, key: str = RANKING_METRIC) -> float:
    """Mean over the seeds of `label` of metric `key` (NaN if none has it)."""
    return mean(metric_values(study, label, key))


def mean_sd(study: CollectedRuns, labels: Sequence[str], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Means and sds over seeds of metric `key`, one per label."""
    values = [metric_values(study, lb, key) for lb in labels]
    return np.array([mean(v) for v in values]), np.array([sd(v) for v in values])


def per_class_mean(study: CollectedRuns, label: str, key: str) -> np.ndarray | None:
    """Mean over the seeds of `label` of metrics["per_class"][key], class by class; None if no
    seed has it for every class."""
    rows = [v for r in study.by_label(label)
            if (v := r.metrics.get("per_class", {}).get(key)) is not None
            and len(v) == study.spec.n_classes]
    return column_mean(rows) if rows else None


def run_interval(metrics: dict[str, Any], key: str) -> tuple[float, float]:
    """A run's bootstrap interval of `key` from its metrics.json (NaN when it has none)."""
    ci = (metrics.get("intervals") or {}).get(key)
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return math.nan, math.nan
    lo, hi = (finite_or_none(v) for v in ci)
    return (math.nan, math.nan) if lo is None or hi is None else (lo, hi)


def interval(study: CollectedRuns, label: str, key: str = RANKING_METRIC) -> tuple[float, float]:
    """The 95% interval shown for `label`'s `key`: with several seeds, Student's t interval of
    the mean over the seeds; with one, its bootstrap interval over the test images."""
    runs = study.by_label(label)
    values = metric_values(study, label, key)
    if len(values) > 1:  # clipped: every interval metric lies in [0, 1]
        lo, hi = t_interval(values)
        return max(lo, 0.0), min(hi, 1.0)
    return run_interval(runs[0].metrics, key) if len(runs) == 1 else (math.nan, math.nan)


def intervals(study: CollectedRuns, labels: Sequence[str],
              key: str) -> tuple[np.ndarray, np.ndarray]:
    """`interval` of each label: (lows, highs)."""
    pairs = [interval(study, lb, key) for lb in labels]
    return (np.array([p[0] for p in pairs], dtype=np.float64),
            np.array([p[1] for p in pairs], dtype=np.float64))


def still_improving(study: CollectedRuns, label: str) -> list[int | None]:
    """The seeds of `label` that were still improving when training stopped."""
    return [r.seed for r in study.by_label(label)
            if (r.metrics.get("convergence") or {}).get("still_improving")]


def best(study: CollectedRuns, labels: Sequence[str], key: str = RANKING_METRIC) -> str | None:
    """The label among `labels` with the highest mean of `key` over its seeds (None if none
    has a value)."""
    scored = [(v, lb) for lb in labels if math.isfinite(v := metric_mean(study, lb, key))]
    return max(scored, key=lambda t: t[0])[1] if scored else None


def best_label(study: CollectedRuns) -> str | None:
    """The study's best model by mean balanced accuracy (the one shown alone in figures)."""
    return best(study, study.labels())


def summary_rows(study: CollectedRuns) -> list[dict[str, Any]]:
    """One row per good run, plus, for a model with several seeds, a mean and an sd row.

    A value that is missing (or a mean or sd of no value) is None.
    """
    rows = []
    for label in study.labels():
        runs = sorted(study.by_label(label), key=lambda r: r.seed or 0)
        for r in runs:
            row = {c: r.metrics.get(c) for c in SUMMARY_COLUMNS}
            row.update(model=label, seed=r.seed, dataset=study.spec.name,
                       still_improving=(r.metrics.get("convergence") or {}).get("still_improving"))
            for m in INTERVAL_METRICS:
                lo, hi = run_interval(r.metrics, m)
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = finite_or_none(lo), finite_or_none(hi)
            rows.append(row)
        if len(runs) > 1:
            for stat, fn in (("mean", mean), ("sd", sd)):
                row = {"model": label, "seed": stat, "dataset": study.spec.name}
                for c in NUMBER_COLUMNS:
                    v = fn(r.metrics.get(c) for r in runs)
                    row[c] = v if math.isfinite(v) else None
                for m in INTERVAL_METRICS:
                    lo, hi = (interval(study, label, m) if stat == "mean"
                              else (math.nan, math.nan))
                    row[f"{m}_ci_low"], row[f"{m}_ci_high"] = (finite_or_none(lo),
                                                               finite_or_none(hi))
                row["still_improving"] = bool(still_improving(study, label)) if stat == "mean" \
                    else None
                rows.append(row)
    return rows


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point beats (a lower or equal cost with a higher score),
    by increasing cost: the one Pareto front of the report's and the sweep's figures."""
    costs, scores = np.asarray(costs, dtype=float), np.asarray(scores, dtype=float)
    front, best = [], -np.inf
    for i in np.lexsort((-scores, costs)):
        if scores[i] > best:
            front.append(i)
            best = scores[i]
    return np.array(front, dtype=int)
