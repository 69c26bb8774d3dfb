"""Session fixtures of the deploy tests: a quickly trained torch run, a kNN run, the real
K49 sample images."""

from __future__ import annotations

import numpy as np
import pytest

from k49.data.datasets import REAL_SAMPLE
from k49.runs.config import TrainConfig
from k49.training.trainer import train

#: The torch run: cnn (k49's small CNN), 3 epochs on the ~2,300 images of the scale-0.01 synthetic
#: set (about 6 s on 2 CPU cores, 42% validation accuracy); its top-1 is stable under resampling.
TRAINED_MODEL, TRAINED_EPOCHS = "cnn", 3


@pytest.fixture(scope="session")
def trained_run(synth_dir, tmp_path_factory):
    """The folder (a Path) of a complete torch run on the synthetic set."""
    out = tmp_path_factory.mktemp("trained") / "run"
    config = TrainConfig(model=TRAINED_MODEL, epochs=TRAINED_EPOCHS, data_dir=str(synth_dir),
                         device="cpu", seed=0)
    train(config, out, quiet=True)
    return out


@pytest.fixture(scope="session")
def knn_run(synth_dir, tmp_path_factory):
    """The folder (a Path) of a complete knn4 run fitted on 500 synthetic images."""
    out = tmp_path_factory.mktemp("knn") / "run"
    config = TrainConfig(model="knn4", limit_train=500, data_dir=str(synth_dir), device="cpu")
    train(config, out, quiet=True)
    return out


@pytest.fixture(scope="session")
def real_sample():
    """(images, labels) of the 100 real K49 test images shipped with k49: uint8 (100, 28, 28)
    and None (the sample holds no labels)."""
    with np.load(REAL_SAMPLE) as npz:
        images = npz["arr_0"]
    return images, None
