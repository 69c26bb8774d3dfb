"""The kNN baseline of the K49 paper: 4 nearest neighbours, distance-weighted, raw pixels.

`knn4` searches with `TorchKNN`: exact Euclidean neighbours from chunked matrix products and a
running top-k on torch, the same neighbours (up to ties) as scikit-learn's brute force at a
fraction of its time (benchmarks/bench_difficulty.py measures both). `create_model("knn4",
sklearn=True)` gives scikit-learn's KNeighborsClassifier itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from k49.models.registry import register_model


class TorchKNN:
    """k nearest neighbours by Euclidean distance, with scikit-learn's fit / predict_proba /
    classes_ interface and its voting: "uniform", or "distance" (weights 1/d, and where a
    query has neighbours at distance 0, those alone with equal weight).

    Distances come from |q|^2 - 2 q.t + |t|^2 over chunks of `query_chunk` queries by
    `train_chunk` training images; the k found are then re-measured exactly."""

    def __init__(self, n_neighbors: int = 4, weights: str = "distance", *,
                 query_chunk: int = 1024, train_chunk: int = 32768) -> None:
        if weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {weights!r}")
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors!r}")
        self.n_neighbors = int(n_neighbors)
        self.weights = weights
        self.query_chunk = int(query_chunk)
        self.train_chunk = int(train_chunk)

    def fit(self, x: np.ndarray, y: np.ndarray) -> TorchKNN:
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(f"x must be (n, features) with one label per row, got x "
                             f"{x.shape} and y {y.shape}")
        if len(x) < self.n_neighbors:
            raise ValueError(f"need at least n_neighbors={self.n_neighbors} training rows, "
                             f"got {len(x)}")
        self.classes_, codes = np.unique(y, return_inverse=True)
        self._train = torch.from_numpy(np.ascontiguousarray(x))
        self._norms = (self._train * self._train).sum(1)
        self._codes = torch.from_numpy(codes.astype(np.int64))
        return self

    def kneighbors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices (N, k) of each row's nearest training rows, nearest first."""
        q_all = torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))
        k = self.n_neighbors
        dist_out = np.empty((len(q_all), k), dtype=np.float32)
        idx_out = np.empty((len(q_all), k), dtype=np.int64)
        with torch.inference_mode():
            for start in range(0, len(q_all), self.query_chunk):
                q = q_all[start:start + self.query_chunk]
                best_d = torch.full((len(q), k), float("inf"))
                best_i = torch.zeros((len(q), k), dtype=torch.int64)
                for t0 in range(0, len(self._train), self.train_chunk):
                    t = self._train[t0:t0 + self.train_chunk]
                    d = torch.addmm(self._norms[t0:t0 + len(t)], q, t.T, alpha=-2.0)
                    d_k, i_k = torch.topk(d, min(k, len(t)), dim=1, largest=False)
                    cand_d = torch.cat([best_d, d_k], 1)
                    cand_i = torch.cat([best_i, i_k + t0], 1)
                    best_d, pick = torch.topk(cand_d, k, dim=1, largest=False)
                    best_i = cand_i.gather(1, pick)
                exact = ((self._train[best_i] - q[:, None]) ** 2).sum(-1).sqrt()
                exact, order = exact.sort(dim=1, stable=True)
                dist_out[start:start + len(q)] = exact.numpy()
                idx_out[start:start + len(q)] = best_i.gather(1, order).numpy()
        return dist_out, idx_out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        dist, idx = self.kneighbors(x)
        votes = self._codes.numpy()[idx]
        if self.weights == "uniform":
            w = np.ones_like(dist)
        else:
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            exact = dist == 0
            w = np.where(exact.any(1, keepdims=True), exact.astype(np.float32), w)
        proba = np.zeros((len(dist), len(self.classes_)), dtype=np.float64)
        np.add.at(proba, (np.arange(len(dist))[:, None], votes), w)
        return proba / proba.sum(1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(1)]


@register_model(
    "knn4", family="knn", optimizer="none", lr=0.0, loss="none",
    description=(
        "K49 paper's baseline: 4-nearest neighbours, distance-weighted, Euclidean on raw "
        "pixels flattened to (N, 784); no parameters; FLOPs unknown until fitted (about "
        "2 x 784 per training image per query)"
    ),
    tags=("paper",),
)
def knn4(num_classes: int = 49, *, sklearn: bool = False, **kwargs: Any):
    """TorchKNN(n_neighbors=4, weights="distance"), or with `sklearn=True` scikit-learn's
    KNeighborsClassifier with the same settings.

    `num_classes` is unused (the classes come from `fit`); keyword arguments override the
    estimator's (e.g. n_jobs for scikit-learn).
    """
    cls = KNeighborsClassifier if sklearn else TorchKNN
    return cls(**{"n_neighbors": 4, "weights": "distance", **kwargs})
