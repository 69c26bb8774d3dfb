"""Fixtures: fake study directories (see fake_study.py)."""

from __future__ import annotations

import pytest
from fake_study import SEED_MODELS, make_study


@pytest.fixture
def fake_study(tmp_path):
    """The seed's 12 models, one seed each, on the synthetic set (evaluated on demand)."""
    return make_study(tmp_path / "study")


@pytest.fixture
def fake_study_seeds(tmp_path):
    """Four models with three seeds each, plus one failed run."""
    root = make_study(tmp_path / "study", models=SEED_MODELS[:2] + SEED_MODELS[6:8],
                      seeds=(0, 1, 2))
    broken = root / "CNN_dense" / "seed-0"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text('{"config": {"model": "CNN_dense"}}')
    return root
