"""Time to accuracy: cumulative training seconds, the curve, and the first epoch at a target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from k49.errors import InvalidInput
from k49.evaluation.time_to_accuracy import cumulative_seconds, curve, time_to_reach


def rows(seconds, values, key="val_balanced_accuracy"):
    """A history: one row per epoch with its training seconds and `key`'s value (an
    `eval_seconds` too, which is not training time and must never be counted)."""
    return [{"epoch": i + 1, "seconds": s, key: v, "eval_seconds": 100.0}
            for i, (s, v) in enumerate(zip(seconds, values, strict=True))]


HISTORY = rows([10.0, 20.0, 30.0, 40.0], [0.50, math.nan, 0.80, 0.75])


def test_cumulative_seconds_sum_the_epochs_training_time_only():
    assert cumulative_seconds(HISTORY).tolist() == [10.0, 30.0, 60.0, 100.0]
    assert cumulative_seconds([]).tolist() == []


def test_curve_skips_epochs_without_a_value_but_counts_their_seconds():
    seconds, values = curve(HISTORY)
    assert seconds.tolist() == [10.0, 60.0, 100.0]
    assert values.tolist() == [0.50, 0.80, 0.75]
    missing = [{"seconds": 5.0}, {"seconds": 5.0, "val_balanced_accuracy": None},
               {"seconds": 5.0, "val_balanced_accuracy": 0.4}]
    assert [a.tolist() for a in curve(missing)] == [[15.0], [0.4]]
    seconds, values = curve(rows([1.0, 2.0], [0.1, 0.2], key="val_accuracy"), key="val_accuracy")
    assert (seconds.tolist(), values.tolist()) == ([1.0, 3.0], [0.1, 0.2])
    assert [len(a) for a in curve(HISTORY, key="val_accuracy")] == [0, 0]


def test_time_to_reach_is_the_end_of_the_first_epoch_at_or_above_the_target():
    assert time_to_reach(HISTORY, 0.5) == 10.0  # reached exactly: >=
    assert time_to_reach(HISTORY, 0.6) == 60.0  # the NaN epoch's 20 s still count
    assert time_to_reach(HISTORY, 0.78) == 60.0  # the first epoch, not the last
    assert time_to_reach(HISTORY, 0.81) is None  # never reached
    assert time_to_reach([], 0.1) is None
    assert time_to_reach(HISTORY, np.float32(0.3)) == 10.0
    assert isinstance(time_to_reach(HISTORY, 0.6), float)


def test_a_history_as_read_from_history_csv():
    """RunDir.read_history gives floats for every column, epoch included."""
    history = [{"epoch": 1.0, "seconds": 2.5, "val_balanced_accuracy": 0.61},
               {"epoch": 2.0, "seconds": 2.5, "val_balanced_accuracy": 0.72}]
    assert time_to_reach(history, 0.7) == 5.0


@pytest.mark.parametrize(("history", "message"), [
    ({"seconds": 1.0}, r"history must be a list of per-epoch dicts, got dict"),
    ("abc", r"history must be a list of per-epoch dicts, got str"),
    (None, r"history must be a list of per-epoch dicts, got NoneType"),
    ([{"seconds": 1.0}, 3], r"history\[1\] must be a dict of an epoch's values, got int"),
    ([{"epoch": 1}], r"history\[0\]\['seconds'\] must be a finite number >= 0 .* got None"),
    ([{"seconds": -1.0}], r"history\[0\]\['seconds'\] must be a finite number >= 0"),
    ([{"seconds": math.nan}], r"history\[0\]\['seconds'\] .* got nan"),
    ([{"seconds": True}], r"history\[0\]\['seconds'\] .* got True"),
    ([{"seconds": "2"}], r"history\[0\]\['seconds'\] .* got '2'"),
])
def test_bad_histories_are_refused_naming_the_argument(history, message):
    for call in (lambda: cumulative_seconds(history), lambda: curve(history),
                 lambda: time_to_reach(history, 0.5)):
        with pytest.raises(InvalidInput, match=message):
            call()


@pytest.mark.parametrize("target", [math.nan, math.inf, None, "0.5", True])
def test_a_bad_target_is_refused(target):
    with pytest.raises(InvalidInput, match=r"target must be a finite number"):
        time_to_reach(HISTORY, target)


@pytest.mark.parametrize("key", [None, "", 3])
def test_a_bad_key_is_refused(key):
    with pytest.raises(InvalidInput, match=r"key must be the name of a history column"):
        curve(HISTORY, key)
    assert issubclass(InvalidInput, ValueError)
