"""The shape of the code: layer contracts, one owner of the run directory, module sizes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "k49"
ROOT = SRC.parents[1]
#: The run directory's file names: only k49/runs/rundir.py may spell them.
RUN_FILES = ("config.json", "history.csv", "model.safetensors", "checkpoint.safetensors",
             "test_predictions.npz", "timings.json", "metrics.json", "failed.json")


def test_import_linter_layer_contract_is_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is missing: install the dev extras (pip install -e '.[dev]')")
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_only_the_run_directory_type_names_its_files():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "runs" / "rundir.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in RUN_FILES:
            if re.search(rf"[\"'/]{re.escape(name)}[\"']", text):
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert not offenders, offenders


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert not long, long
