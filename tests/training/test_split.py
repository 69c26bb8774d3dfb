"""Which training images a run uses: the stratified subset and split, and the one check of
--limit-train against the dataset's own class count."""

from __future__ import annotations

import numpy as np
import pytest

from k49.errors import K49Error
from k49.runs.config import TrainConfig
from k49.training.split import (
    classes_without_images,
    smallest_limit_train,
    split_indices,
    stratified_subset,
)


def _imbalanced_labels(n_classes: int, rare: int = 3, common: int = 200) -> np.ndarray:
    counts = np.linspace(rare, common, n_classes).astype(int)
    return np.random.default_rng(0).permutation(np.repeat(np.arange(n_classes), counts))


def test_limit_train_is_checked_against_the_datasets_class_count():
    """KMNIST has 10 classes: 100 images are plenty for a 30% validation split."""
    config = TrainConfig(model="NN_1_adam", dataset="kmnist", limit_train=100)
    split = split_indices(_imbalanced_labels(10), config)
    assert len(split.train) + len(split.val) == 100
    assert set(np.unique(_imbalanced_labels(10)[split.train])) == set(range(10))


def test_a_limit_too_small_for_the_classes_names_the_smallest_workable_size():
    config = TrainConfig(model="NN_1_adam", limit_train=60)  # accepted: the data decides
    least = smallest_limit_train(0.3, 49)
    with pytest.raises(K49Error, match=f"too small for 49 classes .* at least {least} "
                                       "or --val-fraction 0"):
        split_indices(_imbalanced_labels(49), config)
    assert len(split_indices(_imbalanced_labels(49), config.model_copy(
        update={"limit_train": least})).train) > 0


def test_stratified_subset_keeps_every_class_and_the_requested_size():
    labels = _imbalanced_labels(49, rare=2)
    keep, topped = stratified_subset(labels, 150, seed=3, min_per_class=2)
    assert len(keep) == 150 == len(set(keep.tolist()))
    counts = np.bincount(labels[keep], minlength=49)
    assert counts.min() >= 2
    assert topped and all(np.bincount(labels, minlength=49)[c] >= 2 for c in topped)


def test_stratified_subset_depends_only_on_the_seed():
    labels = _imbalanced_labels(49)
    a, _ = stratified_subset(labels, 300, seed=1, min_per_class=2)
    b, _ = stratified_subset(labels, 300, seed=1, min_per_class=2)
    c, _ = stratified_subset(labels, 300, seed=2, min_per_class=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_split_is_stratified_and_disjoint():
    labels = _imbalanced_labels(49)
    split = split_indices(labels, TrainConfig(model="NN_1_adam", seed=5))
    assert not set(split.train.tolist()) & set(split.val.tolist())
    assert len(split.train) + len(split.val) == len(labels)
    assert len(np.unique(labels[split.val])) == 49


def test_classes_without_images_names_the_missing_and_refuses_one_class():
    chars = tuple("abcdefghijkl")
    assert classes_without_images(np.arange(24) % 12, chars, "d") is None
    warning = classes_without_images(np.array([0, 1, 1, 5]), chars, "d")
    assert warning.startswith("9 of the 12 classes of dataset d")
    assert "(c d e g h i j k l)" in warning and "\n" not in warning
    many = classes_without_images(np.array([0, 1]), chars + ("m",), "d")
    assert "(c d e f g h i j k l ...)" in many
    with pytest.raises(K49Error, match=r"only class 2 \(c\)"):
        classes_without_images(np.full(5, 2), chars, "d")
    with pytest.raises(K49Error, match="no class"):
        classes_without_images(np.array([], dtype=np.int64), chars, "d")
