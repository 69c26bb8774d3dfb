"""What a figure builder is given (`FigureInputs`), and what figures read from the study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from k49.report import aggregate
from k49.report.collect import CollectedRuns


@dataclass
class FigureInputs:
    """A study and the dataset arrays some figures use.

    `train_counts` (one per class) defaults to 6 × the spec's test counts; `test_images` (the
    test set, in the order of the predictions' labels) adds example images to confused_pairs.
    `best` is the model shown alone (`aggregate.best_label`), None without a good run.
    """

    study: CollectedRuns
    train_counts: np.ndarray | None = None
    test_images: np.ndarray | None = None
    best: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.best = aggregate.best_label(self.study)


def family(study: CollectedRuns, label: str) -> str:
    """The model family of `label` ("mlp", "cnn"...; "" if it has no good run)."""
    runs = study.by_label(label)
    return runs[0].family if runs else ""


def optimizer(study: CollectedRuns, label: str) -> str | None:
    runs = study.by_label(label)
    return runs[0].config.get("config", {}).get("optimizer") if runs else None


def means(study: CollectedRuns, labels: Sequence[str], key: str) -> np.ndarray:
    """The mean over seeds of metric `key`, one per label (NaN where none has it)."""
    return aggregate.mean_sd(study, labels, key)[0]


def interval_errors(values: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Error bars from intervals: a (2, n) array of the lengths below and above each value,
    [value − low, high − value]; NaN (no bar) where the value or the interval is missing.

    A length is never negative: a single run's percentile interval that missed its own value
    (which it practically never does) is drawn from the value to its far end.
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = np.asarray(lows, dtype=np.float64), np.asarray(highs, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
    err = np.full((2, len(v)), np.nan)
    err[0, ok] = np.maximum(v[ok] - lo[ok], 0.0)
    err[1, ok] = np.maximum(hi[ok] - v[ok], 0.0)
    return err


def mean_errors(study: CollectedRuns, labels: Sequence[str],
                key: str) -> tuple[np.ndarray, np.ndarray]:
    """The value drawn for each label (the mean over its seeds, or its one run's value) and its
    95% interval as error bars (`interval_errors` of `aggregate.intervals`)."""
    values = means(study, labels, key)
    return values, interval_errors(values, *aggregate.intervals(study, labels, key))


#: What the error bars of a figure are, for its caption.
INTERVALS_NOTE = ("error bars are 95% intervals: bootstrap over test images for one seed, "
                  "t interval over seeds for several (none where a run recorded no interval)")


def seeds_note(study: CollectedRuns, labels: Sequence[str], intervals: bool = True) -> str:
    """What a figure's values stand for, short enough for a subtitle: "mean over 3 seeds, 95% t
    intervals"; without `intervals`, only how many seeds are averaged (the captions say how the
    intervals are computed, `INTERVALS_NOTE`)."""
    n = [len(study.by_label(lb)) for lb in labels]
    if not n or max(n) <= 1:
        return "one seed per model" + (", 95% bootstrap intervals" if intervals else "")
    seeds = f"{min(n)}–{max(n)}" if min(n) != max(n) else f"{n[0]}"
    note = f"mean over {seeds} seeds"
    if not intervals:
        return note
    return note + (", 95% t intervals" if min(n) > 1 else ", 95% intervals")
