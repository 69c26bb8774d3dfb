"""The process-wide settings k49 changes only for as long as it needs them."""

from __future__ import annotations

import os

import pytest
import torch

from k49.io import default_threads, torch_threads


@pytest.mark.parametrize("value, expected", [
    ("3", 3), (" 2 ", 2), ("0", None), ("-1", None), ("lots", None), ("", None), (None, None)])
def test_default_threads_honours_a_positive_omp_num_threads(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert default_threads() == (expected or os.cpu_count() or 1)


def test_torch_threads_restores_the_callers_count():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other) as n:
        assert n == other == torch.get_num_threads()
    assert torch.get_num_threads() == before
