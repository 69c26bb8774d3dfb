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


def _readme_api_names() -> set[str]:
    """Every name the README's Python examples import from k49."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    names = set()
    for line in re.findall(r"^from k49 import (.+)$", readme, flags=re.MULTILINE):
        names.update(n.strip() for n in line.split(","))
    return names


@pytest.mark.slow
def test_readme_api_names_are_what_the_readme_calls_them_after_any_import():
    """A public name that is also a subpackage's name (k49.report) would be shadowed by the
    subpackage once anything imported it: run in a fresh process that imports every stage
    first, then check each README name is the function or class the README calls."""
    names = _readme_api_names()
    assert {"train", "TrainConfig", "paired_difference", "write_report"} <= names
    code = (
        "import importlib, inspect, pkgutil, k49\n"
        "for m in pkgutil.walk_packages(k49.__path__, 'k49.'):\n"
        "    if not m.name.startswith(('k49.cli', 'k49.__main__')):\n"
        "        importlib.import_module(m.name)\n"
        f"for name in {sorted(names)!r}:\n"
        "    exec(f'from k49 import {name} as value')\n"
        "    assert not inspect.ismodule(value), f'{name} is the module {value.__name__}'\n"
        "    assert callable(value), name\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_no_public_name_is_also_a_subpackage():
    import pkgutil

    subpackages = {m.name for m in pkgutil.iter_modules(k49.__path__)}
    assert not subpackages & set(k49.__all__)
