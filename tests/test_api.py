"""The public Python API: every advertised name resolves to what it says, lazily."""

import subprocess
import sys

import pytest

import k49

#: A sample of the API: name -> (module it lives in, kind).
EXPECTED = {
    "TrainConfig": ("k49.runs.config", type),
    "RunDir": ("k49.runs.rundir", type),
    "train": ("k49.training.trainer", "function"),
    "evaluate_run": ("k49.evaluation.run", "function"),
    "run_study": ("k49.study.api", "function"),
    "demo": ("k49.study.api", "function"),
    "load_dataset": ("k49.data.load", "function"),
    "build_report": ("k49.report.build", "function"),
}


def test_every_public_name_resolves_to_its_module():
    for name in k49.__all__:
        value = getattr(k49, name)
        if name in EXPECTED:
            module, kind = EXPECTED[name]
            assert value.__module__ == module, name
            assert isinstance(value, type) if kind is type else callable(value), name
    assert k49.metrics.balanced_accuracy([0, 1], [[0.9, 0.1], [0.2, 0.8]]) == 1.0


def test_import_k49_is_light():
    """`import k49` loads no torch; names are imported on first use."""
    code = "import sys, k49; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        k49.no_such_thing  # noqa: B018
