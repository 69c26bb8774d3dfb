"""What a figure builder is given (`FigureInputs`), and what figures read from the study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from k49.report import aggregate
from k49.report.collect import Study


@dataclass
class FigureInputs:
    """A study and the dataset arrays some figures use.

    `train_counts` (one per class) defaults to 6 × the spec's test counts; `test_images` (the
    test set, in the order of the predictions' labels) adds example images to confused_pairs.
    `best` is the model shown alone (`aggregate.best_label`), None without a good run.
    """

    study: Study
    train_counts: np.ndarray | None = None
    test_images: np.ndarray | None = None
    best: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.best = aggregate.best_label(self.study)


def family(study: Study, label: str) -> str:
    """The model family of `label` ("mlp", "cnn"...; "" if it has no good run)."""
    runs = study.by_label(label)
    return runs[0].family if runs else ""


def optimizer(study: Study, label: str) -> str | None:
    runs = study.by_label(label)
    return runs[0].config.get("config", {}).get("optimizer") if runs else None


def mean_sd(study: Study, labels: Sequence[str], key: str) -> tuple[np.ndarray, np.ndarray]:
    """`aggregate.mean_sd` as error bars: the sd of a single seed is drawn as 0 (no bar)."""
    means, sds = aggregate.mean_sd(study, labels, key)
    return means, np.where(np.isnan(sds) & np.isfinite(means), 0.0, sds)


def seeds_note(study: Study, labels: Sequence[str]) -> str:
    """How many seeds a figure's means stand for: "mean ± sd over 3 seeds"."""
    n = [len(study.by_label(lb)) for lb in labels]
    if not n or max(n) <= 1:
        return "one seed per model"
    return f"mean ± sd over {min(n)}–{max(n)} seeds" if min(n) != max(n) else \
        f"mean ± sd over {n[0]} seeds"

