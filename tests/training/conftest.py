from __future__ import annotations

import numpy as np
import pytest

from k49.data.datasets import DATASETS
from k49.data.load import Dataset


def make_dataset(tmp_path, per_class_train: int = 10, per_class_test: int = 2, seed: int = 0):
    """A tiny learnable dataset in memory: one random template per class plus noise."""
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(49, 28, 28))

    def split(per_class):
        labels = np.repeat(np.arange(49), per_class)
        noise = rng.integers(-40, 40, size=(len(labels), 28, 28))
        images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
        return images, labels.astype(np.int64)

    return Dataset(DATASETS["synthetic"], *split(per_class_train), *split(per_class_test),
                   data_dir=tmp_path, checksums={"fake.npz": "0" * 32})


@pytest.fixture
def tiny(tmp_path):
    return make_dataset(tmp_path)
