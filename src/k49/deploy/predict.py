"""A trained run's predictions on images in K49's form, and on image files.

`Predictor.from_run` loads a torch run's weights from model.safetensors (never a pickle) or
refits a kNN run on the training images it recorded; `predict` gives each image's top-k
classes with their characters; `predict_paths` does it for files and folders, a bad file
giving its one-line error instead of a prediction.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49.data.datasets import DatasetSpec, get_spec
from k49.data.k49format import codepoint
from k49.data.load import load_dataset
from k49.deploy.images import EXTENSIONS, SIZE, BadImage, load_k49_image
from k49.errors import K49Error
from k49.models import create_model, get_entry
from k49.models.inference import predict_proba, resolve_device
from k49.runs.rundir import RunDir
from k49.training.fit_knn import predict_proba_chunked


@dataclass
class Prediction:
    """One image's `top` classes, most probable first: dicts of class (index), char,
    codepoint ("U+3042") and probability."""

    top: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"top": [dict(t) for t in self.top]}


class Predictor:
    """A run's model, ready to predict on (N, 28, 28) uint8 images in K49's form."""

    def __init__(self, run: RunDir, record: dict[str, Any], model: Any, spec: DatasetSpec,
                 device: torch.device):
        self.run = run
        self.config = record
        self.model = model
        self.spec = spec
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike | RunDir, device: str = "auto") -> Predictor:
        """Load `run_dir`'s trained model onto `device` (auto: CUDA if present, else CPU)."""
        run = RunDir.existing(run_dir)
        record = run.read_config()
        cfg = record["config"]
        entry = get_entry(str(cfg["model"]))
        spec = _spec(record)
        if not run.file(RunDir.WEIGHTS).exists():
            raise K49Error(f"{run.path} has no {RunDir.WEIGHTS} (the run is unfinished or "
                           "failed): finish it with `k49 train` first")
        dev = resolve_device(device)
        if entry.is_torch:
            model = create_model(entry.name, num_classes=spec.n_classes,
                                 **cfg.get("model_args", {}))
            run.load_weights(model)
            model = model.to(dev).eval()
        else:
            model = _refit_knn(run, record, spec)
            dev = torch.device("cpu")
        return cls(run, record, model, spec, dev)

    # -- facts -----------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return str(self.config["config"]["model"])

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def dataset(self) -> str:
        return self.spec.name

    @property
    def synthetic(self) -> bool:
        return bool(self.config.get("dataset", {}).get("synthetic", self.spec.synthetic))

    @property
    def chars(self) -> tuple[str, ...]:
        return self.spec.chars

    @property
    def num_classes(self) -> int:
        return self.spec.n_classes

    @property
    def config_hash(self) -> str | None:
        return self.config.get("config_hash")

    @property
    def is_torch(self) -> bool:
        return isinstance(self.model, torch.nn.Module)

    # -- predictions ----------------------------------------------------------------------------

    def proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) float32 of uint8 images (N, 28, 28) (or one (28, 28))."""
        images = np.asarray(images)
        if images.shape == (SIZE, SIZE):
            images = images[None]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
            raise K49Error(f"images must be uint8 (N, {SIZE}, {SIZE}) in K49's form, got "
                           f"{images.dtype} {images.shape}: bring them to it with "
                           "k49.deploy.images.to_k49")
        if len(images) == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        batch = int(self.config["config"].get("eval_batch_size") or 1024)
        with self._lock, torch.inference_mode():
            if self.is_torch:
                return predict_proba(self.model, np.ascontiguousarray(images),
                                     device=self.device, batch_size=batch)
            return predict_proba_chunked(self.model, images, self.num_classes)

    def predict(self, images: np.ndarray, top_k: int = 5) -> list[Prediction]:
        """Each image's `top_k` most probable classes."""
        top_k = self.check_top_k(top_k)
        probs = self.proba(images)
        chars = self.chars
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:top_k]
            out.append(Prediction([{"class": int(i), "char": chars[i],
                                    "codepoint": codepoint(chars[i]),
                                    "probability": float(row[i])} for i in order]))
        return out

    def check_top_k(self, top_k: Any) -> int:
        """`top_k` if it is a whole number from 1 to num_classes, else a K49Error naming it."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) \
                or not 1 <= top_k <= self.num_classes:
            raise K49Error(f"top_k must be a whole number from 1 to {self.num_classes}, got "
                           f"{top_k!r}: choose one in that range")
        return int(top_k)


def predict_paths(predictor: Predictor, paths: list[str | os.PathLike], top_k: int = 5
                  ) -> list[tuple[str, Prediction | None, str | None]]:
    """(file, prediction, None) for each image, or (file, None, its one-line error); folders
    give their image files (sorted, not recursive). Predicted in one batch."""
    top_k = predictor.check_top_k(top_k)
    files = expand_paths(paths)
    images: list[np.ndarray] = []
    results: list[tuple[str, Prediction | None, str | None]] = []
    for file in files:
        try:
            images.append(load_k49_image(file))
            results.append((file, None, None))
        except BadImage as e:
            results.append((file, None, " ".join(str(e).split())))
    if images:
        predictions = iter(predictor.predict(np.stack(images), top_k=top_k))
        results = [(f, next(predictions), None) if err is None else (f, None, err)
                   for f, _, err in results]
    return results


def expand_paths(paths: list[str | os.PathLike]) -> list[str]:
    """The files named, with each folder replaced by its image files (sorted). A folder without
    images is a K49Error; a missing file stays, to be reported as a bad file."""
    files: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir()
                           if p.suffix.lower() in EXTENSIONS and p.is_file())
            if not found:
                raise K49Error(f"{path} holds no image files ({', '.join(EXTENSIONS)}): give "
                               "image files or a folder of them")
            files.extend(found)
        else:
            files.append(str(path))
    return files


def _spec(record: dict[str, Any]) -> DatasetSpec:
    """The run's dataset spec; for a user folder that has moved, K49's classes under its name."""
    name = str(record.get("dataset", {}).get("name") or record["config"].get("dataset"))
    try:
        return get_spec(name)
    except K49Error:
        title = record.get("dataset", {}).get("title") or name
        return replace(get_spec("k49"), name=name, title=title, files={}, official_url=None)


def _refit_knn(run: RunDir, record: dict[str, Any], spec: DatasetSpec) -> Any:
    """A kNN run's estimator, fitted again on the training images it recorded."""
    cfg = record["config"]
    indices = run.load_knn_indices()
    ds = load_dataset(cfg["dataset"], cfg.get("data_dir"), offline=True, progress=False)
    expected = record.get("dataset", {}).get("checksums")
    if expected and expected != ds.checksums:
        raise K49Error(f"the {ds.name} files in {ds.data_dir} differ from those {run.path} was "
                       "trained on: restore them, or retrain")
    if len(indices) == 0 or indices.min() < 0 or indices.max() >= len(ds.train_labels):
        raise K49Error(f"{run.file(RunDir.WEIGHTS)} holds training indices outside the "
                       f"{len(ds.train_labels)} training images: retrain the run")
    estimator = create_model(cfg["model"], num_classes=spec.n_classes)
    features = ds.train_images[indices].reshape(len(indices), -1).astype(np.float32) / 255.0
    estimator.fit(features, ds.train_labels[indices])
    return estimator
