"""A trained run's predictions on images in K49's form, and on image files.

`Predictor.from_run` loads a torch run's weights from model.safetensors (never a pickle) or
refits a kNN run on the training images it recorded; `predict` gives each image's top-k
classes with their characters; `predict_paths` does it for files and folders, a bad file
giving its one-line error instead of a prediction.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49.data.k49format import codepoint
from k49.deploy.images import EXTENSIONS, SIZE, BadImage, load_k49_image
from k49.errors import K49Error
from k49.models.inference import predict_proba
from k49.runs.rundir import RunDir
from k49.training.fit_knn import predict_proba_chunked
from k49.training.trained import TrainedModel, load_model, trained_on_synthetic


@dataclass
class Prediction:
    """One image's `top` classes, most probable first: dicts of class (index), char,
    codepoint ("U+3042") and probability."""

    top: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"top": [dict(t) for t in self.top]}


class Predictor:
    """A run's model, ready to predict on (N, 28, 28) uint8 images in K49's form."""

    def __init__(self, run: RunDir, trained: TrainedModel):
        self.run = run
        self.provenance = trained.provenance
        self.model = trained.model
        self.spec = trained.spec
        self.device = trained.device
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike | RunDir, device: str = "auto") -> Predictor:
        """Load `run_dir`'s trained model onto `device` (auto: CUDA if present, else CPU)."""
        run = RunDir.existing(run_dir)
        return cls(run, load_model(run, device))

    # -- facts -----------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.provenance.config.model

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def dataset(self) -> str:
        return self.spec.name

    @property
    def synthetic(self) -> bool:
        return trained_on_synthetic(self.provenance)

    @property
    def chars(self) -> tuple[str, ...]:
        return self.spec.chars

    @property
    def num_classes(self) -> int:
        return self.spec.n_classes

    @property
    def config_hash(self) -> str | None:
        return self.provenance.config_hash

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
        batch = self.provenance.config.eval_batch_size
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
    give their image files (sorted, not recursive). Predicted in one batch: one bad file or
    folder never stops the others."""
    top_k = predictor.check_top_k(top_k)
    images: list[np.ndarray] = []
    results: list[tuple[str, Prediction | None, str | None]] = []
    for file, error in expand_paths(paths):
        if error is None:
            try:
                images.append(load_k49_image(file))
            except BadImage as e:
                error = " ".join(str(e).split())
        results.append((file, None, error))
    if images:
        predictions = iter(predictor.predict(np.stack(images), top_k=top_k))
        results = [(f, next(predictions), None) if err is None else (f, None, err)
                   for f, _, err in results]
    return results


def expand_paths(paths: list[str | os.PathLike]) -> list[tuple[str, str | None]]:
    """(file, None) for each file named, each folder replaced by its image files (sorted); a
    folder without images, or one that cannot be listed, is (folder, its one-line error). A
    missing file stays, to be reported when it is read."""
    files: list[tuple[str, str | None]] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append((str(path), None))
            continue
        try:
            found = sorted(str(p) for p in path.iterdir()
                           if p.suffix.lower() in EXTENSIONS and p.is_file())
        except OSError as e:
            files.append((str(path), f"{path}: folder cannot be read ({e.strerror or e}): "
                                     "check its permissions"))
            continue
        if not found:
            files.append((str(path), f"{path} holds no image files ({', '.join(EXTENSIONS)}): "
                                     "give image files or a folder of them"))
        files.extend((file, None) for file in found)
    return files
