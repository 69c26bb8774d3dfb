"""Runs trained today match the runs recorded before the structure change (issue 7): the same
files, config, hash, history and test probabilities for the same seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden import CASES, HERE, run_case

REFERENCE = json.loads((HERE / "reference.json").read_text())
ARRAYS = np.load(HERE / "reference.npz")
#: history.csv columns that measure the machine, not the run.
TIMED = {"seconds", "images_per_s"}


@pytest.mark.parametrize("name", list(CASES))
def test_run_matches_the_reference(name, tmp_path):
    ref = REFERENCE[name]
    now = run_case(name, tmp_path)
    assert now["files"] == ref["files"]
    # New facts may be added to config.json; the recorded ones must not change.
    assert _subset(ref["config"], now["config"])
    assert now["history_header"] == ref["history_header"]
    columns = ref["history_header"].split(",")
    keep = [i for i, c in enumerate(columns) if c not in TIMED]
    np.testing.assert_allclose(np.array(now["history"])[:, keep],
                               np.array(ref["history"])[:, keep], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(now["labels"], ARRAYS[f"{name}_labels"])
    np.testing.assert_allclose(now["probs"], ARRAYS[f"{name}_probs"], rtol=1e-5, atol=1e-6)


def _subset(ref, now) -> bool:
    """`ref` equals `now`, where dicts of `now` may hold keys `ref` lacks."""
    if isinstance(ref, dict):
        return isinstance(now, dict) and all(k in now and _subset(v, now[k])
                                             for k, v in ref.items())
    return ref == now
