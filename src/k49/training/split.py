"""Which training images a run uses: an optional stratified subset, then a stratified split.

Both depend only on the seed, so every epoch sees the same validation set (as in the original
study). A subset keeps at least two images of every class (one without a validation split):
K49's rarest class has 392 of 232,365 training images, so a plain stratified subset of a few
hundred images would lose it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from k49.errors import K49Error
from k49.runs.config import TrainConfig


@dataclass
class Split:
    """Indices into the training set, and what the run's config records about them."""

    train: np.ndarray
    val: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)


def smallest_limit_train(val_fraction: float, n_classes: int) -> int:
    """The smallest `limit_train` that keeps every class in training (two images of each
    when there is a validation split) and gives a stratified split room for every class."""
    if not val_fraction:
        return n_classes
    return max(2 * n_classes, math.ceil(n_classes / min(val_fraction, 1 - val_fraction)))


def stratified_subset(labels: np.ndarray, size: int, seed: int, min_per_class: int
                      ) -> tuple[np.ndarray, list[int]]:
    """`size` indices drawn stratified by class, then topped up so every class present keeps
    at least `min_per_class` images (taken from the best-represented classes). Returns the
    indices, in the order the stratified draw gave them, and the classes that were topped up."""
    idx = np.arange(len(labels))
    keep, _ = train_test_split(idx, train_size=size, stratify=labels, random_state=seed)
    n_classes = int(labels.max()) + 1
    counts = np.bincount(labels[keep], minlength=n_classes)
    available = np.bincount(labels, minlength=n_classes)
    rng = np.random.default_rng(seed)
    kept = list(keep)  # in train_test_split's order, which the validation split depends on
    topped = []
    for c in np.flatnonzero(counts < np.minimum(min_per_class, available)):
        need = min(min_per_class, available[c]) - counts[c]
        pool = np.setdiff1d(np.flatnonzero(labels == c), keep)
        kept.extend(rng.choice(pool, need, replace=False).tolist())
        counts[c] += need
        for _ in range(need):  # give the places back: one image of the largest class each
            donor = int(np.argmax(counts))
            members = [i for i in kept if labels[i] == donor]
            kept.remove(members[rng.integers(len(members))])
            counts[donor] -= 1
        topped.append(int(c))
    return np.array(kept, dtype=np.int64), topped


def classes_without_images(labels: np.ndarray, chars: Sequence[str], dataset: str
                           ) -> str | None:
    """A one-line warning when some of the dataset's classes have no training image (the model
    can never predict them, and their recall is 0), else None. Fewer than two classes with
    images is a K49Error: no classifier, and no metric, is defined for one class."""
    counts = np.bincount(labels, minlength=len(chars))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        only = f"only class {present[0]} ({chars[present[0]]})" if len(present) else "no class"
        raise K49Error(f"dataset {dataset}: its training images hold {only}: a classifier "
                       "needs images of at least two classes; add images of the others")
    absent = np.flatnonzero(counts == 0)
    if not len(absent):
        return None
    shown = " ".join(chars[c] for c in absent[:10]) + (" ..." if len(absent) > 10 else "")
    return (f"{len(absent)} of the {len(chars)} classes of dataset {dataset} have no training "
            f"image ({shown}): the model can never predict them. Number only your classes, "
            "or name them in a k49_classmap.csv")


def split_indices(labels: np.ndarray, config: TrainConfig) -> Split:
    """Training and validation indices of `config` on training labels `labels`."""
    n_classes = len(np.unique(labels))
    idx = np.arange(len(labels))
    record: dict[str, Any] = {}
    least = smallest_limit_train(config.val_fraction, n_classes)
    if config.limit_train is not None and config.limit_train < least:
        raise K49Error(f"--limit-train {config.limit_train} is too small for {n_classes} classes "
                       f"with a {config.val_fraction:.0%} validation split: use at least {least}"
                       + (" or --val-fraction 0" if config.val_fraction else ""))
    try:
        if config.limit_train is not None and config.limit_train < len(idx):
            min_per_class = 2 if config.val_fraction else 1
            idx, topped = stratified_subset(labels, config.limit_train, config.seed,
                                            min_per_class)
            record["subset"] = {"size": int(len(idx)), "min_per_class": min_per_class,
                                "topped_up_classes": topped}
        if config.val_fraction == 0:
            return Split(np.sort(idx), np.array([], dtype=np.int64), record)
        train, val = train_test_split(
            idx, test_size=config.val_fraction, stratify=labels[idx], random_state=config.seed
        )
    except ValueError as e:
        raise K49Error(f"cannot split the training set by class ({e}): use more training "
                       "images or --val-fraction 0") from None
    return Split(np.sort(train), np.sort(val), record)
