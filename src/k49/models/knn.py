"""The kNN baseline of the K49 paper: 4 nearest neighbours, distance-weighted, raw pixels."""

from __future__ import annotations

from typing import Any

from sklearn.neighbors import KNeighborsClassifier

from k49.models.registry import register_model


@register_model(
    "knn4", family="knn", optimizer="none", lr=0.0, loss="none",
    description=(
        "K49 paper's baseline: 4-nearest neighbours, distance-weighted, Euclidean on raw "
        "pixels flattened to (N, 784); no parameters; FLOPs unknown until fitted (about "
        "2 x 784 per training image per query)"
    ),
    tags=("paper",),
)
def knn4(num_classes: int = 49, **kwargs: Any) -> KNeighborsClassifier:
    """scikit-learn's KNeighborsClassifier(n_neighbors=4, weights="distance").

    `num_classes` is unused (the classes come from `fit`); keyword arguments override the
    estimator's (e.g. n_jobs).
    """
    return KNeighborsClassifier(**{"n_neighbors": 4, "weights": "distance", **kwargs})
