"""The records a run writes besides its tensors, each spelled once: an epoch's history row, the
run's timings and a checkpoint's training progress. RunDir reads and writes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: history.csv's columns, in order: one row per epoch (kNN: one validation row).
HISTORY_FIELDS = (
    "epoch", "train_loss", "train_accuracy", "train_balanced_accuracy", "val_loss",
    "val_accuracy", "val_balanced_accuracy", "seconds", "images_per_s", "lr",
)

#: (mean loss, accuracy, balanced accuracy) of a split, as Tally.summary gives them.
Scores = tuple[float, float, float]
NOT_TRAINED: Scores = (float("nan"),) * 3


def history_row(epoch: int, train: Scores, val: Scores, seconds: float, images: int,
                lr: float) -> dict[str, float]:
    """One epoch's row of history.csv: `epoch` counted from 1, training and validation
    scores, seconds of training and the images seen in them, and the learning rate."""
    return {
        "epoch": epoch, "train_loss": train[0], "train_accuracy": train[1],
        "train_balanced_accuracy": train[2], "val_loss": val[0], "val_accuracy": val[1],
        "val_balanced_accuracy": val[2], "seconds": seconds,
        "images_per_s": images / max(seconds, 1e-9), "lr": lr,
    }


@dataclass(frozen=True)
class Timings:
    """timings.json, written last: the mark of a complete run."""

    train_seconds: float
    eval_seconds: float
    total_seconds: float
    epochs: int
    train_images: int
    #: The epoch a resumed run went on from; None when it ran in one go (and for kNN).
    resumed_from_epoch: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingProgress:
    """Where a checkpointed run stands: the epoch and step to train next (counted from 0),
    that epoch's running tally so far (Tally.state; None at an epoch's start) and the seconds
    spent training."""

    epoch: int = 0
    step: int = 0
    tally: dict[str, Any] | None = None
    train_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrainingProgress:
        """The progress a checkpoint recorded; KeyError or TypeError if it is not one."""
        return cls(**{f.name: record[f.name] for f in fields(cls)})
