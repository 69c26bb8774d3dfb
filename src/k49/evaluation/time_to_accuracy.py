"""Time to accuracy: how many training seconds a run needed to reach a validation score.

Pure functions over a run's history (history.csv as `RunDir.read_history` returns it: one dict
per epoch, in training order). Each row's `seconds` is that epoch's training time, validation
excluded, so the cumulative sum is the training time at the end of each epoch. Inputs are
validated as in `k49.evaluation.metrics`: a bad argument fails with `InvalidInput` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np

from k49.errors import InvalidInput

#: The score time to accuracy is measured on by default (never the test set's).
DEFAULT_KEY = "val_balanced_accuracy"


def _real(x: Any) -> float | None:
    """`x` as a finite float, or None (missing, bool, NaN, inf, not a number)."""
    if isinstance(x, bool) or not isinstance(x, Real):
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def check_history(history: Any) -> list[Mapping[str, Any]]:
    """`history` as a list of rows (mappings), each with finite `seconds` >= 0."""
    if isinstance(history, str | bytes | Mapping) or not isinstance(history, Sequence):
        raise InvalidInput("history must be a list of per-epoch dicts, got "
                           f"{type(history).__name__}")
    for i, row in enumerate(history):
        if not isinstance(row, Mapping):
            raise InvalidInput(f"history[{i}] must be a dict of an epoch's values, got "
                               f"{type(row).__name__}")
        s = _real(row.get("seconds"))
        if s is None or s < 0:
            raise InvalidInput(f"history[{i}]['seconds'] must be a finite number >= 0 (the "
                               f"epoch's training seconds), got {row.get('seconds')!r}")
    return list(history)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"key must be the name of a history column, got {key!r}")
    return key


def cumulative_seconds(history: Any) -> np.ndarray:
    """Training seconds at the end of each epoch: the cumulative sum of the rows' `seconds`
    (evaluation time is not in them). Empty for an empty history."""
    rows = check_history(history)
    return np.cumsum(np.array([float(r["seconds"]) for r in rows], dtype=np.float64))


def curve(history: Any, key: str = DEFAULT_KEY) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative training seconds, value of `key`) at the end of each epoch, leaving out
    the epochs without a finite value (their seconds still count towards the later ones)."""
    key = _check_key(key)
    rows = check_history(history)
    seconds = cumulative_seconds(rows)
    values = [_real(r.get(key)) for r in rows]
    keep = [i for i, v in enumerate(values) if v is not None]
    return seconds[keep], np.array([values[i] for i in keep], dtype=np.float64)


def time_to_reach(history: Any, target: Any, key: str = DEFAULT_KEY) -> float | None:
    """Cumulative training seconds at the end of the first epoch whose `key` is >= `target`;
    None if no epoch reached it."""
    t = _real(target)
    if t is None:
        raise InvalidInput(f"target must be a finite number, got {target!r}")
    seconds, values = curve(history, key)
    hit = np.flatnonzero(values >= t)
    return float(seconds[hit[0]]) if len(hit) else None
