"""The shape of the code: layer contracts, one owner of the run directory, function sizes, and
the architecture doc kept true to the tree."""

from __future__ import annotations

import ast
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


#: The longest a function may be: a reader holds one in view (a long one is split by what it
#: does, not by size).
MAX_FUNCTION_LINES = 80


def test_no_function_is_over_80_lines():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def _modules_section() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text.split("## Modules", 1)[1]


def test_the_architecture_doc_names_every_module_under_its_package():
    """docs/architecture.md lists each package's modules in that package's bullet, so it
    cannot drift from the tree."""
    bullets = {m[1]: m[0] for m in re.finditer(r"^- `([a-z_]+)/`.*?(?=^- |\Z)",
                                               _modules_section(), flags=re.M | re.S)}
    top_level = _modules_section()
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if path.name == "__init__.py" and len(relative.parts) > 1:
            continue
        text = bullets.get(relative.parts[0], "") if len(relative.parts) > 1 else top_level
        if not re.search(rf"`{re.escape(path.stem)}(\.py)?`", text):
            missing.append(str(relative))
    assert not missing, f"add these to docs/architecture.md's Modules section: {missing}"
