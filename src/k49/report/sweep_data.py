"""The sweep summary, `SweepSummary`: what `k49 sweep` records of its trials (filled by
`k49.study.sweep.summarize`, written as OUT/sweep.json) and everything the report reads from
it; plus how its values are written for people. The report never reads the Optuna study."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from k49.formats import finite_or_none
from k49.report.aggregate import pareto_front

#: Readable names of the objectives a sweep may have.
OBJECTIVE_NAMES = {"val_balanced_accuracy": "validation balanced accuracy",
                   "train_seconds": "training time"}
#: Parameters searched on a log scale (any other is when its values look log-uniform).
LOG_PARAMS = ("lr", "learning_rate", "weight_decay")
#: The objective when a summary names none.
DEFAULT_OBJECTIVE = "val_balanced_accuracy"


def objective_name(key: str) -> str:
    """"val_balanced_accuracy" -> "validation balanced accuracy"."""
    return OBJECTIVE_NAMES.get(key, str(key).replace("_", " "))


def is_fraction(key: str) -> bool:
    """Whether objective `key` is a fraction shown as a percentage (an accuracy)."""
    return "accuracy" in str(key)


def _values(raw: Any) -> tuple[float | None, ...] | None:
    """Objective values as recorded: a list, one number, or None (Optuna recorded none)."""
    if raw is None:
        return None
    return tuple(finite_or_none(x) for x in (raw if isinstance(raw, (list, tuple)) else [raw]))


@dataclass(frozen=True)
class SweepTrial:
    """One trial: its number, state (COMPLETE, PRUNED, FAIL, ...), objective values (None
    when it has none), parameters, training seconds and per-epoch validation scores."""

    number: int
    state: str = "COMPLETE"
    values: tuple[float | None, ...] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    intermediate: Mapping[int, float | None] = field(default_factory=dict)

    def value(self, i: int = 0) -> float | None:
        """Objective `i` (None where missing or not finite)."""
        return self.values[i] if self.values is not None and i < len(self.values) else None

    def epochs(self) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, validation scores) of the finite per-epoch scores, by epoch."""
        pts = sorted((k, v) for k, v in self.intermediate.items() if v is not None)
        return (np.array([p[0] for p in pts], dtype=float),
                np.array([p[1] for p in pts], dtype=float))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepTrial:
        inter = {int(k): finite_or_none(v) for k, v in (data.get("intermediate") or {}).items()
                 if str(k).lstrip("-").isdigit()}
        return cls(number=int(data.get("number", 0)), state=str(data.get("state", "")).upper(),
                   values=_values(data.get("values")), params=dict(data.get("params") or {}),
                   seconds=finite_or_none(data.get("seconds")), intermediate=inter)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state,
                "values": None if self.values is None else list(self.values),
                "params": dict(self.params), "seconds": self.seconds,
                "intermediate": {str(k): v for k, v in self.intermediate.items()}}


@dataclass(frozen=True)
class BestTrial:
    """One of the best configurations: its rank, trial number, the label it is retrained
    under, its parameters and objective values."""

    rank: int
    number: int
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    values: tuple[float | None, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BestTrial:
        return cls(rank=int(data.get("rank", 0)), number=int(data.get("number", -1)),
                   label=str(data.get("label") or ""), params=dict(data.get("params") or {}),
                   values=_values(data.get("values")) or ())

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "number": self.number, "label": self.label,
                "params": dict(self.params), "values": list(self.values)}


@dataclass(frozen=True)
class SweepSummary:
    """A sweep's record: its search space and dataset (`dataset` is the label titles end
    with), the trials, the hyperparameter importances, the best configurations, the Pareto
    front's trial numbers (two objectives) and a one-line protocol."""

    name: str = "sweep"
    space_file: str = ""
    objectives: tuple[str, ...] = (DEFAULT_OBJECTIVE,)
    directions: tuple[str, ...] = ()
    dataset: str = "unknown data"
    synthetic: bool = False
    n_trials: int = 0
    states: Mapping[str, int] = field(default_factory=dict)
    trials: tuple[SweepTrial, ...] = ()
    importance_method: str = "importance"
    importance_target: str = DEFAULT_OBJECTIVE
    importance: Mapping[str, float] = field(default_factory=dict)
    best: tuple[BestTrial, ...] = ()
    pareto: tuple[int, ...] = ()
    protocol: str = ""

    # --- sweep.json ---

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSummary:
        """The summary from its JSON form (missing entries take their defaults)."""
        trials = tuple(SweepTrial.from_json(t) for t in data.get("trials") or []
                       if isinstance(t, Mapping))
        objectives = tuple(data.get("objectives") or (DEFAULT_OBJECTIVE,))
        imp = data.get("importance") or {}
        return cls(
            name=str(data.get("name") or "sweep"), space_file=str(data.get("space_file") or ""),
            objectives=objectives, directions=tuple(data.get("directions") or ()),
            dataset=str(data.get("dataset") or "unknown data"),
            synthetic=bool(data.get("synthetic")),
            n_trials=int(data.get("n_trials", len(trials))),
            states={str(k).upper(): int(v) for k, v in (data.get("states") or {}).items()},
            trials=trials, importance_method=str(imp.get("method") or "importance"),
            importance_target=str(imp.get("target") or objectives[0]),
            importance={str(k): v for k, x in (imp.get("values") or {}).items()
                        if (v := finite_or_none(x)) is not None},
            best=tuple(BestTrial.from_json(b) for b in data.get("best") or []
                       if isinstance(b, Mapping)),
            pareto=tuple(int(n) for n in data.get("pareto") or ()),
            protocol=str(data.get("protocol") or ""))

    def to_json(self) -> dict[str, Any]:
        """The JSON form `k49 sweep` writes as OUT/sweep.json."""
        return {"name": self.name, "space_file": self.space_file,
                "objectives": list(self.objectives), "directions": list(self.directions),
                "dataset": self.dataset, "synthetic": self.synthetic, "n_trials": self.n_trials,
                "states": dict(self.states), "trials": [t.to_json() for t in self.trials],
                "importance": {"method": self.importance_method,
                               "target": self.importance_target,
                               "values": dict(self.importance)},
                "best": [b.to_json() for b in self.best], "pareto": list(self.pareto),
                "protocol": self.protocol}

    def replace(self, **changes: Any) -> SweepSummary:
        return dataclasses.replace(self, **changes)

    # --- what the report reads ---

    def maximize(self, i: int = 0) -> bool:
        """Whether objective `i` is maximised (the default when the summary does not say)."""
        return i >= len(self.directions) or str(self.directions[i]).lower() != "minimize"

    def trials_in(self, state: str | None = None) -> list[SweepTrial]:
        """The trials (of one state if given), in number order."""
        return sorted((t for t in self.trials if state is None or t.state == state),
                      key=lambda t: t.number)

    def complete(self) -> list[SweepTrial]:
        """Complete trials with a finite first objective, in number order."""
        return [t for t in self.trials_in("COMPLETE") if t.value() is not None]

    def ranking(self) -> list[tuple[str, float]]:
        """(parameter, importance) by decreasing importance; [] when not computed."""
        return sorted(self.importance.items(), key=lambda p: -p[1])

    def param_names(self) -> list[str]:
        """Every parameter searched: by importance, then in order of first appearance."""
        names = dict.fromkeys(name for name, _ in self.ranking())
        for t in self.trials_in():
            names.update(dict.fromkeys(t.params))
        return list(names)

    def best_trial(self, among: Sequence[SweepTrial] | None = None) -> SweepTrial | None:
        """The trial with the best first objective among `among` (default: the complete)."""
        among = self.complete() if among is None else among
        if not among:
            return None
        sign = 1 if self.maximize() else -1
        return max(among, key=lambda t: sign * t.value())

    def label_of(self, number: int) -> str | None:
        """The label trial `number` is retrained under, if it is among the best."""
        return next((b.label for b in self.best if b.number == number and b.label), None)

    def pareto_numbers(self) -> list[int]:
        """The trial numbers on the Pareto front of the first two objectives (`pareto_front`),
        by increasing cost (the second objective)."""
        pts = [t for t in self.complete() if t.value(1) is not None]
        sign0, sign1 = (1 if self.maximize(i) else -1 for i in (0, 1))
        front = pareto_front([-sign1 * t.value(1) for t in pts], [sign0 * t.value() for t in pts])
        return [pts[i].number for i in front]

    def title(self, text: str) -> str:
        """`text` and the dataset's label; synthetic data is always called synthetic."""
        label = self.dataset
        if self.synthetic and "synthetic data, not k49" not in label.lower():
            label += " (synthetic data, not K49)"
        return f"{text} — {label}"

    def counts(self) -> str:
        """"40 trials: 30 complete, 8 pruned, 2 failed"."""
        parts = [f"{self.states.get(s, 0)} {w}" for s, w in
                 (("COMPLETE", "complete"), ("PRUNED", "pruned"), ("FAIL", "failed"))]
        return f"{self.n_trials} trials: " + ", ".join(parts)

    def target_name(self) -> str:
        """The readable name of the objective the importances are for."""
        return objective_name(self.importance_target)


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


def format_objective(key: str, v: float | None) -> str:
    if v is None:
        return "—"
    if is_fraction(key):
        return f"{100 * v:.2f}%"
    return f"{v:.1f} s" if "seconds" in key else f"{v:.4g}"
