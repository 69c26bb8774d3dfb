"""The run directory: the only code that knows its file names and formats.

A run directory holds one model x seed run:

- config.json: the full config, its hash, the data's checksums, versions, device, commit;
- history.csv: one row per epoch (losses, accuracies, seconds, images/s, learning rate);
- checkpoint.safetensors: while training, everything needed to resume (removed at the end);
- model.safetensors: the trained weights (kNN: the indices of the images it was fitted on);
- test_predictions.npz: test-set probabilities and labels;
- timings.json: written last, the mark of a complete run;
- metrics.json: written by evaluation;
- failed.json: why a run stopped for good (e.g. its loss became NaN).

Study folders lay runs out as <root>/<label>/seed-<n>/; a run directory elsewhere is named by
its own folder. Every read of a damaged file is a one-line K49Error naming the file and the fix.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from k49.data.k49format import NPZ_ERRORS
from k49.errors import K49Error
from k49.io import atomic_path, write_json, write_text
from k49.runs.checkpoint import (
    load_checkpoint,
    load_weights,
    read_safetensors,
    save_checkpoint,
    write_safetensors,
)
from k49.runs.checkpoint import save_weights as _save_weights
from k49.runs.config import TrainConfig
from k49.runs.records import HISTORY_FIELDS, Provenance, Timings, TrainingProgress

SEED_PREFIX = "seed-"


class RunDir:
    """One run's folder and its files."""

    CONFIG = "config.json"
    HISTORY = "history.csv"
    CHECKPOINT = "checkpoint.safetensors"
    WEIGHTS = "model.safetensors"
    PREDICTIONS = "test_predictions.npz"
    TIMINGS = "timings.json"
    METRICS = "metrics.json"
    FAILED = "failed.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- identity -------------------------------------------------------------------------------

    @property
    def in_study(self) -> bool:
        """Laid out as <label>/seed-<n>/ inside a study folder."""
        return self.path.name.startswith(SEED_PREFIX) and self.path.name[5:].isdigit()

    @property
    def label(self) -> str:
        """The run's name in a report: its suite label (e.g. preact_resnet18_input_mixup) in a
        study folder, else its model's name (the folder's name if the config is unreadable)."""
        if self.in_study:
            return self.path.parent.name
        try:
            return str(self.read_config()["config"]["model"])
        except K49Error:
            return self.path.name

    @property
    def seed(self) -> int | None:
        """The seed in the folder name (seed-<n>), if laid out in a study."""
        return int(self.path.name[5:]) if self.in_study else None

    @classmethod
    def existing(cls, run_dir: str | os.PathLike | RunDir) -> RunDir:
        """`run_dir` as a RunDir, refusing a folder that is not a run directory."""
        run = run_dir if isinstance(run_dir, RunDir) else cls(run_dir)
        if not run.exists:
            raise K49Error(f"{run.path} is not a run directory (no {cls.CONFIG}): give a "
                           "directory made by `k49 train` or `k49 run`")
        return run

    @staticmethod
    def in_study_root(root: str | os.PathLike, label: str, seed: int) -> RunDir:
        """The run directory of `label` x `seed` in study folder `root`."""
        if not label or label in (".", "..") or "/" in label or "\\" in label:
            raise K49Error(f"run label {label!r} is not a plain folder name: use letters, "
                           "digits, '_', '-', '.' or '+' only")
        return RunDir(Path(root) / label / f"{SEED_PREFIX}{seed}")

    @staticmethod
    def find(root: str | os.PathLike) -> list[RunDir]:
        """The run directories under a study folder, or `root` itself if it is one."""
        root = Path(root)
        if (root / RunDir.CONFIG).exists():
            return [RunDir(root)]
        return sorted(RunDir(p.parent) for p in root.glob(f"*/{SEED_PREFIX}*/{RunDir.CONFIG}"))

    def __lt__(self, other: RunDir) -> bool:
        return self.path < other.path

    # -- state ------------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """The path of the run's file `name` (one of the class's file names)."""
        return self.path / name

    @property
    def exists(self) -> bool:
        """Whether the run has a config.json (it was started)."""
        return self.file(self.CONFIG).exists()

    def is_complete(self) -> bool:
        """Whether training finished: timings.json and the test predictions are there."""
        return self.file(self.TIMINGS).exists() and self.file(self.PREDICTIONS).exists()

    def create(self) -> RunDir:
        """Create the folder (and its parents); a file in the way is a one-line K49Error."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise K49Error(f"cannot create run directory {self.path}: a file is in the way; "
                           "choose another --out") from None
        except OSError as e:
            raise K49Error(f"cannot create run directory {self.path} ({e.strerror}): "
                           "choose another --out") from None
        return self

    # -- config -----------------------------------------------------------------------------------

    def read_config(self) -> dict[str, Any]:
        """config.json as written by `write_config`, checked to be a run's config."""
        data = self._read_json(self.CONFIG, "rerun `k49 train` for it")
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict) \
                or "model" not in data["config"]:
            raise K49Error(f"{self.file(self.CONFIG)} is not a k49 run config: "
                           "delete the run directory and train again")
        return data

    def train_config(self) -> TrainConfig:
        """The run's TrainConfig, validated."""
        return self._validated_config(self.read_config())

    def read_provenance(self) -> Provenance:
        """config.json as a typed `Provenance`, its config validated."""
        record = self.read_config()
        return Provenance.from_dict(record, self._validated_config(record))

    def _validated_config(self, record: dict[str, Any]) -> TrainConfig:
        try:
            return TrainConfig.model_validate(record["config"])
        except ValidationError as e:
            raise K49Error(f"{self.file(self.CONFIG)} holds an invalid config "
                           f"({e.errors()[0]['msg']}): delete the run directory and train "
                           "again") from None

    def check_config(self, config: TrainConfig) -> None:
        """Refuse to mix two configs in one directory."""
        if not self.file(self.CONFIG).exists():
            return
        old = self.read_config().get("config_hash")
        if old != config.config_hash():
            raise K49Error(
                f"{self.path} holds a run with another config (hash {old}, now "
                f"{config.config_hash()}): use another --out or delete that directory")

    def write_config(self, record: Mapping[str, Any]) -> None:
        """Write config.json: the resolved config and its provenance."""
        write_json(self.file(self.CONFIG), dict(record))

    # -- history ---------------------------------------------------------------------------------

    def read_history(self) -> list[dict[str, float]]:
        """history.csv as one dict of floats per epoch ([] before the first epoch)."""
        path = self.file(self.HISTORY)
        if not path.exists():
            return []
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            return [{k: float(row[k]) for k in HISTORY_FIELDS} for row in rows]
        except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError, csv.Error) as e:
            raise K49Error(f"{path} is damaged ({type(e).__name__}: {e}): delete it and the "
                           "checkpoint to retrain the run") from None

    def write_history(self, history: list[dict[str, float]]) -> None:
        """Write history.csv, one row per epoch."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
        writer.writeheader()
        # Rows read back (to resume) hold floats; the epoch stays a whole number in the file.
        writer.writerows({**row, "epoch": int(row["epoch"])} for row in history)
        write_text(self.file(self.HISTORY), buf.getvalue())

    # -- predictions, metrics, timings ------------------------------------------------------------

    @property
    def has_history(self) -> bool:
        """Whether history.csv is there."""
        return self.file(self.HISTORY).exists()

    @property
    def has_predictions(self) -> bool:
        """Whether test_predictions.npz is there."""
        return self.file(self.PREDICTIONS).exists()

    def read_predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels (N,), probs (N, C)) on the test set."""
        path = self.file(self.PREDICTIONS)
        fix = "delete it to recompute it from the weights (`k49 evaluate`)"
        if not zipfile.is_zipfile(path):
            raise K49Error(f"{path} is not a valid npz file: {fix}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                labels, probs = npz["labels"], npz["probs"]
        except (KeyError, ValueError, MemoryError, *NPZ_ERRORS) as e:
            raise K49Error(f"{path} is unreadable ({e}): {fix}") from None
        if not (isinstance(labels, np.ndarray) and isinstance(probs, np.ndarray)
                and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
                and probs.ndim == 2 and np.issubdtype(probs.dtype, np.floating)
                and len(labels) == len(probs)):
            raise K49Error(
                f"{path} must hold integer labels (N,) and float probs (N, C), got "
                f"{_describe(labels)} and {_describe(probs)}: {fix}")
        return labels, probs

    def write_predictions(self, probs: np.ndarray, labels: np.ndarray) -> None:
        """Write test_predictions.npz: probs (N, C) float32 and labels (N,)."""
        with atomic_path(self.file(self.PREDICTIONS)) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, probs=probs.astype(np.float32), labels=labels.astype(np.int64))

    @property
    def has_metrics(self) -> bool:
        """Whether metrics.json is there."""
        return self.file(self.METRICS).exists()

    def read_metrics(self) -> dict[str, Any]:
        """metrics.json: every score of `k49 evaluate`, with its intervals."""
        data = self._read_json(self.METRICS, "recompute it with `k49 evaluate`")
        if not isinstance(data, dict):
            raise K49Error(f"{self.file(self.METRICS)} is not a metrics file: recompute it "
                           "with `k49 evaluate`")
        return data

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write metrics.json."""
        write_json(self.file(self.METRICS), dict(metrics))

    def read_timings(self) -> dict[str, Any]:
        """timings.json, or {} for a run without it."""
        if not self.file(self.TIMINGS).exists():
            return {}
        data = self._read_json(self.TIMINGS, "delete it and rerun the training to resume")
        if not isinstance(data, dict):
            raise K49Error(f"{self.file(self.TIMINGS)} is not a timings file: delete it and "
                           "rerun the training")
        return data

    def write_timings(self, timings: Timings) -> None:
        """Write timings.json, the run's last file: the run is then complete."""
        write_json(self.file(self.TIMINGS), timings.as_dict())

    def write_failure(self, message: str) -> None:
        """Mark the run failed for good, with why (failed.json)."""
        write_json(self.file(self.FAILED), {"error": message})

    def read_failure(self) -> str | None:
        """Why the run failed for good, or None."""
        if not self.file(self.FAILED).exists():
            return None
        data = self._read_json(self.FAILED, "delete it to retry the run")
        return str(data.get("error")) if isinstance(data, dict) else str(data)

    # -- weights and checkpoints -----------------------------------------------------------------

    def save_weights(self, model: torch.nn.Module, metadata: dict[str, Any]) -> None:
        """Write model.safetensors: the weights and `metadata`."""
        _save_weights(self.file(self.WEIGHTS), model, metadata)

    def load_weights(self, model: torch.nn.Module) -> dict[str, Any]:
        """Load model.safetensors into `model`; returns its metadata."""
        return load_weights(self.file(self.WEIGHTS), model)

    def save_knn_indices(self, indices: np.ndarray, model: str) -> None:
        """kNN's "weights": the indices of the training images it was fitted on."""
        write_safetensors(self.file(self.WEIGHTS),
                          {"train_indices": torch.from_numpy(indices.astype(np.int64))},
                          {"model": model, "kind": "knn-train-indices"})

    def load_knn_indices(self) -> np.ndarray:
        """The indices of the training images a kNN run was fitted on."""
        tensors, _ = read_safetensors(self.file(self.WEIGHTS))
        if "train_indices" not in tensors:
            raise K49Error(f"{self.file(self.WEIGHTS)} holds no kNN training indices: "
                           "retrain the run")
        return tensors["train_indices"].numpy()

    @property
    def has_checkpoint(self) -> bool:
        """Whether an unfinished run left a checkpoint to resume from."""
        return self.file(self.CHECKPOINT).exists()

    def save_checkpoint(self, model, optimizer, progress: TrainingProgress, ema=None) -> None:
        """Write checkpoint.safetensors: weights, optimizer and RNG state, and `progress`."""
        save_checkpoint(self.file(self.CHECKPOINT), model, optimizer, progress, ema)

    def load_checkpoint(self, model, optimizer, ema=None) -> TrainingProgress:
        """Restore the checkpoint into `model` and `optimizer`; returns where training stopped."""
        return load_checkpoint(self.file(self.CHECKPOINT), model, optimizer, ema)

    def remove_checkpoint(self) -> None:
        """Delete the checkpoint (once the run is complete)."""
        self.file(self.CHECKPOINT).unlink(missing_ok=True)

    # -- helpers ---------------------------------------------------------------------------------

    def _read_json(self, name: str, fix: str) -> Any:
        path = self.file(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise K49Error(f"{path} is missing: {fix}") from None
        # ValueError: bad JSON or UTF-8, or an integer of over 4300 digits; RecursionError:
        # arrays nested too deep.
        except (OSError, ValueError, RecursionError) as e:
            raise K49Error(f"{path} is damaged ({type(e).__name__}): {fix}") from None


def _describe(array: Any) -> str:
    """`int64 (3,)` for an array; the type's name for anything else."""
    if isinstance(array, np.ndarray):
        return f"{array.dtype} {array.shape}"
    return type(array).__name__
