"""Reading the sweep summary (a plain dict, see `k49.report.sweep`): trials, objectives,
importance, and how values are written for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from k49.formats import finite_or_none
from k49.report.aggregate import pareto_front

Summary = Mapping[str, Any]

#: Readable names of the objectives a sweep may have.
OBJECTIVE_NAMES = {"val_balanced_accuracy": "validation balanced accuracy",
                   "train_seconds": "training time"}
#: Parameters searched on a log scale (any other is when its values look log-uniform).
LOG_PARAMS = ("lr", "learning_rate", "weight_decay")


def objective_name(key: str) -> str:
    """"val_balanced_accuracy" -> "validation balanced accuracy"."""
    return OBJECTIVE_NAMES.get(key, str(key).replace("_", " "))


def objectives(summary: Summary) -> list[str]:
    return list(summary.get("objectives") or ["val_balanced_accuracy"])


def maximize(summary: Summary, i: int = 0) -> bool:
    """Whether objective `i` is maximised (the default when the summary does not say)."""
    directions = list(summary.get("directions") or [])
    return i >= len(directions) or str(directions[i]).lower() != "minimize"


def is_fraction(key: str) -> bool:
    """Whether objective `key` is a fraction shown as a percentage (an accuracy)."""
    return "accuracy" in str(key)


def values(trial: Mapping[str, Any]) -> list[float | None]:
    """A trial's objective values (None where missing)."""
    v = trial.get("values")
    if v is None:
        return []
    return [finite_or_none(x) for x in (v if isinstance(v, (list, tuple)) else [v])]


def value(trial: Mapping[str, Any], i: int = 0) -> float | None:
    v = values(trial)
    return v[i] if i < len(v) else None


def trials(summary: Summary, state: str | None = None) -> list[dict[str, Any]]:
    """The summary's trials (of one state if given), in number order."""
    out = [t for t in summary.get("trials") or [] if isinstance(t, Mapping)]
    if state is not None:
        out = [t for t in out if str(t.get("state", "")).upper() == state]
    return sorted(out, key=lambda t: t.get("number", 0))


def complete(summary: Summary) -> list[dict[str, Any]]:
    """Complete trials with a finite first objective, in number order."""
    return [t for t in trials(summary, "COMPLETE") if value(t) is not None]


def intermediate(trial: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, per-epoch scores) of a trial, by epoch."""
    pts = sorted((int(k), v) for k, x in (trial.get("intermediate") or {}).items()
                 if str(k).lstrip("-").isdigit() and (v := finite_or_none(x)) is not None)
    return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float)


def ranking(summary: Summary) -> list[tuple[str, float]]:
    """(parameter, importance) by decreasing importance; [] when not computed."""
    imp = (summary.get("importance") or {}).get("values") or {}
    pairs = [(str(k), v) for k, x in imp.items() if (v := finite_or_none(x)) is not None]
    return sorted(pairs, key=lambda p: -p[1])


def param_names(summary: Summary) -> list[str]:
    """Every parameter searched: by importance, then in order of first appearance."""
    names = dict.fromkeys(name for name, _ in ranking(summary))
    for t in trials(summary):
        names.update(dict.fromkeys(t.get("params") or {}))
    return list(names)


def best(summary: Summary, ts: Sequence[Mapping[str, Any]] | None = None) -> dict | None:
    """The trial with the best first objective among `ts` (default: the complete ones)."""
    ts = complete(summary) if ts is None else ts
    if not ts:
        return None
    sign = 1 if maximize(summary) else -1
    return max(ts, key=lambda t: sign * value(t))


def pareto_numbers(summary: Summary) -> list[int]:
    """The trial numbers on the Pareto front of the first two objectives (`pareto_front`), by
    increasing cost (the second objective)."""
    pts = [t for t in complete(summary) if value(t, 1) is not None]
    sign0, sign1 = (1 if maximize(summary, i) else -1 for i in (0, 1))
    front = pareto_front([-sign1 * value(t, 1) for t in pts], [sign0 * value(t) for t in pts])
    return [int(pts[i]["number"]) for i in front]


def title(summary: Summary, text: str) -> str:
    """`text` and the dataset's label; synthetic data is always called synthetic."""
    label = str(summary.get("dataset") or "unknown data")
    if summary.get("synthetic") and "synthetic data, not k49" not in label.lower():
        label += " (synthetic data, not K49)"
    return f"{text} — {label}"


def format_param(v: Any) -> str:
    """A parameter's value for people: 0.00312 -> "0.00312", True -> "yes"."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return "—" if v is None else str(v)


def is_numeric(vals: Sequence[Any]) -> bool:
    present = [v for v in vals if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in present)


def log_scaled(vals: Sequence[Any], name: str = "") -> bool:
    """Shown on a log scale: numeric, all positive, spanning more than a decade, and either a
    rate or decay (`LOG_PARAMS`) or sampled log-uniformly (the median in the lowest quarter)."""
    if not is_numeric(vals):
        return False
    xs = np.array([float(v) for v in vals if v is not None])
    if xs.min() <= 0 or xs.max() / xs.min() <= 10:
        return False
    return name in LOG_PARAMS or np.median(xs) < xs.min() + 0.25 * (xs.max() - xs.min())


def counts(summary: Summary) -> str:
    states = {str(k).upper(): v for k, v in (summary.get("states") or {}).items()}
    n = summary.get("n_trials", len(trials(summary)))
    parts = [f"{states.get(s, 0)} {w}" for s, w in
             (("COMPLETE", "complete"), ("PRUNED", "pruned"), ("FAIL", "failed"))]
    return f"{n} trials: " + ", ".join(parts)


def format_objective(key: str, v: float | None) -> str:
    if v is None:
        return "—"
    if is_fraction(key):
        return f"{100 * v:.2f}%"
    return f"{v:.1f} s" if "seconds" in key else f"{v:.4g}"


def importance_method(summary: Summary) -> str:
    """How the importances were computed ("fANOVA", "PED-ANOVA", ...)."""
    return str((summary.get("importance") or {}).get("method") or "importance")


def importance_target(summary: Summary) -> str:
    """The name of the objective the importances are for."""
    imp = summary.get("importance") or {}
    return objective_name(imp.get("target") or objectives(summary)[0])
