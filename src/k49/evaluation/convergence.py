"""Was a run still improving when training stopped? One plain rule over its last epochs.

A comparison between two runs measures their training budget as much as their design when
either was still climbing; the report says so for every finding that rests on such a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from k49.errors import InvalidInput

#: The rule's thresholds: a gain of more than MIN_GAIN balanced accuracy per epoch, or a fall
#: of the validation loss by more than MIN_LOSS_DROP of its level per epoch.
MIN_GAIN, MIN_LOSS_DROP = 0.005, 0.01

RULE = ("a run is still improving when, over its last max(3, epochs / 5) epochs, the "
        "least-squares slope of its validation balanced accuracy is above +0.5 points per epoch "
        "or its validation loss falls by more than 1% of its level per epoch; a run of one epoch "
        "cannot be judged")


def window(epochs: int) -> int:
    """How many of the last epochs the rule looks at."""
    return max(3, math.ceil(epochs / 5))


def _slope(values: np.ndarray) -> float:
    return float(np.polyfit(np.arange(len(values), dtype=np.float64), values, 1)[0])


def convergence(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The rule applied to a run's history rows (val_balanced_accuracy and val_loss per epoch):
    {"still_improving": True, False or None (cannot tell), "window_epochs", the slopes, "rule"}.
    Rows without finite validation numbers (no validation split) are left out."""
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise InvalidInput(f"history must be a sequence of epoch rows, got "
                           f"{type(history).__name__}")
    rows = []
    for i, row in enumerate(history):
        if not isinstance(row, Mapping):
            raise InvalidInput(f"history[{i}] must be a mapping of column to value, got "
                               f"{type(row).__name__}")
        bal, loss = row.get("val_balanced_accuracy"), row.get("val_loss")
        try:
            bal, loss = float(bal), float(loss)
        except (TypeError, ValueError):
            continue
        if math.isfinite(bal) and math.isfinite(loss):
            rows.append((bal, loss))
    k = min(window(len(history)), len(rows))
    result: dict[str, Any] = {"still_improving": None, "window_epochs": k,
                              "val_balanced_accuracy_slope": None,
                              "val_loss_relative_slope": None, "rule": RULE}
    if k < 2:
        return result
    last = np.array(rows[-k:])
    gain = _slope(last[:, 0])
    level = float(np.mean(np.abs(last[:, 1])))
    loss_slope = _slope(last[:, 1]) / level if level > 0 else 0.0
    result.update(still_improving=bool(gain > MIN_GAIN or loss_slope < -MIN_LOSS_DROP),
                  val_balanced_accuracy_slope=gain, val_loss_relative_slope=loss_slope)
    return result
