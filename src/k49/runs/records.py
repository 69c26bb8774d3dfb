"""The records a run writes besides its tensors, each spelled once: an epoch's history row, the
run's timings, a checkpoint's training progress and config.json's provenance. RunDir reads
and writes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from k49.runs.config import TrainConfig

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
    #: The most CUDA memory the run's tensors held (MiB; since this process started it, so a
    #: resumed run's counts from the resume); None off CUDA.
    peak_device_memory_mib: float | None = None
    #: CUDA only (None elsewhere): whether full batches were replayed from a CUDA graph, and
    #: if not, why (k49.training.graph.graph_blocker).
    cuda_graph: bool | None = None
    eager_because: str | None = None
    #: CUDA only: the autocast precision (bfloat16, float16, or None for float32) and TF32.
    autocast: str | None = None
    tf32: bool | None = None
    #: Seconds of the graph's eager first steps and its capture, inside train_seconds: cuDNN's
    #: autotuning and, with --compile, the compilation.
    warmup_seconds: float | None = None

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


@dataclass(frozen=True)
class DatasetFacts:
    """What a run recorded of the data it trained on (config.json's "dataset")."""

    name: str
    title: str | None = None
    synthetic: bool | None = None
    #: md5 of each file the run read: a later load must find the same files.
    checksums: dict[str, str] | None = None
    train_size: int | None = None
    test_size: int | None = None
    #: False when the files failed their official checksums and --no-verify used them.
    verified: bool | None = None
    synthetic_info: dict[str, Any] | None = None


@dataclass(frozen=True)
class Provenance:
    """config.json, typed: the run's validated config and where it came from. `raw` is the
    record as written, for what shows it whole (the report's provenance)."""

    config: TrainConfig
    config_hash: str | None
    dataset: DatasetFacts
    #: The stratified subset of --limit-train, when one was kept.
    subset: dict[str, Any] | None
    versions: dict[str, str]
    device: dict[str, Any]
    git_commit: str | None
    created: str | None
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, record: dict[str, Any], config: TrainConfig) -> Provenance:
        """From config.json's dict and its already validated TrainConfig; facts older runs
        did not record are None."""
        data = record.get("dataset") if isinstance(record.get("dataset"), dict) else {}
        known = {f.name for f in fields(DatasetFacts)}
        facts = {k: v for k, v in data.items() if k in known}
        facts.setdefault("name", config.dataset)
        return cls(config=config, config_hash=record.get("config_hash"),
                   dataset=DatasetFacts(**facts), subset=record.get("subset"),
                   versions=record.get("versions") or {}, device=record.get("device") or {},
                   git_commit=record.get("git_commit"), created=record.get("created"),
                   raw=record)
