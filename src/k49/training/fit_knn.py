"""The kNN baseline's "training": fit on raw pixels, score validation and test in chunks.

Its model is its memory, so its weights file holds the indices of the training images it was
fitted on (with the dataset checksums in config.json, that rebuilds it exactly).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from k49.console import progress_bar
from k49.data.load import Dataset
from k49.models import create_model
from k49.runs.config import TrainConfig
from k49.runs.records import NOT_TRAINED, Timings, history_row
from k49.runs.rundir import RunDir
from k49.training.split import Split
from k49.training.tally import Tally


def knn_features(images: np.ndarray) -> np.ndarray:
    """Raw pixels in [0, 1], one row per image: what the kNN baseline measures distances on."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def predict_proba_chunked(estimator, images: np.ndarray, n_classes: int, *, chunk: int = 2048,
                          quiet: bool = True, label: str = "kNN") -> np.ndarray:
    """Class probabilities (N, n_classes) float32, in chunks so progress can be shown."""
    out = np.zeros((len(images), n_classes), dtype=np.float32)
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task(label, total=len(images))
        for start in range(0, len(images), chunk):
            part = estimator.predict_proba(knn_features(images[start:start + chunk]))
            out[start:start + chunk][:, estimator.classes_] = part
            bar.advance(task, len(part))
    return out


def fit_knn(config: TrainConfig, run: RunDir, ds: Dataset, split: Split, *, quiet: bool,
            t_start: float) -> tuple[list[dict[str, float]], Timings]:
    """Fit, score and write a kNN run; returns its history and timings."""
    # kNN has nothing to tune on a validation set; it uses every training image it is given,
    # and reports the validation score of a fit on the training part only for the history.
    fit_idx = np.sort(np.concatenate([split.train, split.val]))
    t0 = time.perf_counter()
    estimator = create_model(config.model, num_classes=ds.n_classes)
    n = ds.n_classes
    history = []
    if len(split.val):
        estimator.fit(knn_features(ds.train_images[split.train]), ds.train_labels[split.train])
        val_probs = predict_proba_chunked(estimator, ds.train_images[split.val], n, quiet=quiet,
                                          label=f"{config.model} validation")
        history.append(_val_row(val_probs, ds.train_labels[split.val], len(split.train),
                                time.perf_counter() - t0))
    estimator.fit(knn_features(ds.train_images[fit_idx]), ds.train_labels[fit_idx])
    train_seconds = time.perf_counter() - t0
    run.write_history(history)
    t_eval = time.perf_counter()
    probs = predict_proba_chunked(estimator, ds.test_images, n, quiet=quiet,
                                  label=f"{config.model} test")
    eval_seconds = time.perf_counter() - t_eval
    run.save_knn_indices(fit_idx, config.model)
    run.write_predictions(probs, ds.test_labels)
    timings = Timings(train_seconds=train_seconds, eval_seconds=eval_seconds,
                      total_seconds=time.perf_counter() - t_start, epochs=1,
                      train_images=int(len(fit_idx)))
    run.write_timings(timings)
    return history, timings


def _val_row(probs: np.ndarray, labels: np.ndarray, n_train: int, seconds: float):
    eps = 1e-7
    loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1)).mean())
    tally = Tally(probs.shape[1])
    tally.add(loss, torch.from_numpy(probs), torch.from_numpy(labels))
    return history_row(1, NOT_TRAINED, tally.summary(), seconds, n_train, lr=0.0)
