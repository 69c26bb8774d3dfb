"""The convergence rule: still improving, converged, or cannot tell."""

from __future__ import annotations

import math

import pytest

from k49.errors import InvalidInput
from k49.evaluation.convergence import RULE, convergence, window


def rows(bal, loss):
    return [{"epoch": i + 1, "val_balanced_accuracy": b, "val_loss": v}
            for i, (b, v) in enumerate(zip(bal, loss, strict=True))]


def test_a_climbing_run_is_still_improving():
    c = convergence(rows([0.02, 0.04, 0.06], [3.8, 3.7, 3.6]))
    assert c["still_improving"] is True
    assert c["val_balanced_accuracy_slope"] == pytest.approx(0.02)
    assert c["window_epochs"] == 3 and c["rule"] == RULE


def test_a_flat_run_has_converged_even_if_earlier_epochs_climbed():
    bal = [0.3, 0.6, 0.8, 0.85, 0.851, 0.852, 0.851, 0.852, 0.853, 0.852]
    loss = [2.0, 1.0, 0.6, 0.5, 0.49, 0.495, 0.5, 0.5, 0.505, 0.51]
    c = convergence(rows(bal, loss))
    assert c["still_improving"] is False
    assert c["window_epochs"] == 3  # max(3, 10 / 5)


def test_a_falling_validation_loss_alone_counts_as_improving():
    c = convergence(rows([0.9, 0.9, 0.9], [0.50, 0.45, 0.40]))
    assert c["still_improving"] is True
    assert c["val_loss_relative_slope"] == pytest.approx(-0.05 / 0.45)


def test_one_epoch_cannot_be_judged_and_nan_rows_are_left_out():
    assert convergence(rows([0.5], [1.0]))["still_improving"] is None
    assert convergence([])["still_improving"] is None
    c = convergence(rows([math.nan, 0.5, 0.5], [math.nan, 1.0, 1.0]))
    assert c["window_epochs"] == 2 and c["still_improving"] is False


def test_the_window_grows_with_long_runs():
    assert [window(n) for n in (1, 3, 10, 15, 16, 50)] == [3, 3, 3, 3, 4, 10]


@pytest.mark.parametrize("bad, message", [
    ("history.csv", "history must be a sequence"),
    ([1, 2], r"history\[0\] must be a mapping"),
])
def test_bad_history_is_named(bad, message):
    with pytest.raises(InvalidInput, match=message):
        convergence(bad)
