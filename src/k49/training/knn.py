"""The kNN baseline's "training": fit on raw pixels, score validation and test in chunks.

Its model is its memory, so model.safetensors holds the indices of the training images it was
fitted on (with the dataset checksums in config.json, that rebuilds it exactly).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from k49.data.load import Dataset
from k49.io import write_json
from k49.training.config import TrainConfig


def _features(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def predict_proba_chunked(estimator, images: np.ndarray, n_classes: int, *, chunk: int = 2048,
                          quiet: bool = True, label: str = "kNN") -> np.ndarray:
    """Class probabilities (N, n_classes) float32, in chunks so progress can be shown."""
    from rich.progress import Progress

    out = np.zeros((len(images), n_classes), dtype=np.float32)
    with Progress(disable=quiet, transient=True) as bar:
        task = bar.add_task(label, total=len(images))
        for start in range(0, len(images), chunk):
            part = estimator.predict_proba(_features(images[start:start + chunk]))
            out[start:start + chunk][:, estimator.classes_] = part
            bar.advance(task, len(part))
    return out


def train_knn(config: TrainConfig, run_dir: Path, ds: Dataset, *, quiet: bool,
              t_start: float):
    from k49.models import create_model
    from k49.training.trainer import RunResult, _write_history, _write_predictions, split_indices

    train_idx, val_idx = split_indices(ds.train_labels, config)
    # kNN has nothing to tune on a validation set; it uses every training image it is given,
    # and reports the validation score of a fit on the training part only for the history.
    fit_idx = np.sort(np.concatenate([train_idx, val_idx]))
    t0 = time.perf_counter()
    estimator = create_model(config.model, num_classes=ds.n_classes)
    n = ds.n_classes
    history = []
    if len(val_idx):
        estimator.fit(_features(ds.train_images[train_idx]), ds.train_labels[train_idx])
        val_probs = predict_proba_chunked(estimator, ds.train_images[val_idx], n, quiet=quiet,
                                          label=f"{config.model} validation")
        history.append(_val_row(val_probs, ds.train_labels[val_idx], len(train_idx),
                                time.perf_counter() - t0))
    estimator.fit(_features(ds.train_images[fit_idx]), ds.train_labels[fit_idx])
    train_seconds = time.perf_counter() - t0
    _write_history(run_dir, history)
    t_eval = time.perf_counter()
    probs = predict_proba_chunked(estimator, ds.test_images, n, quiet=quiet,
                                  label=f"{config.model} test")
    eval_seconds = time.perf_counter() - t_eval

    from safetensors.torch import save_file

    from k49.io import atomic_path

    with atomic_path(run_dir / "model.safetensors") as tmp:
        save_file({"train_indices": torch.from_numpy(fit_idx.astype(np.int64))}, str(tmp),
                  metadata={"model": config.model, "kind": "knn-train-indices"})
    _write_predictions(run_dir, probs, ds.test_labels)
    timings = {"train_seconds": train_seconds, "eval_seconds": eval_seconds,
               "total_seconds": time.perf_counter() - t_start, "epochs": 1,
               "train_images": int(len(fit_idx))}
    write_json(run_dir / "timings.json", timings)
    return RunResult(run_dir, config, history, timings)


def _val_row(probs: np.ndarray, labels: np.ndarray, n_train: int, seconds: float):
    from k49.evaluation.metrics import accuracy, balanced_accuracy

    eps = 1e-7
    loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1)).mean())
    acc, bal = accuracy(labels, probs), balanced_accuracy(labels, probs)
    return {"epoch": 1, "train_loss": float("nan"), "train_accuracy": float("nan"),
            "train_balanced_accuracy": float("nan"), "val_loss": loss, "val_accuracy": acc,
            "val_balanced_accuracy": bal, "seconds": seconds,
            "images_per_s": n_train / max(seconds, 1e-9), "lr": 0.0}
