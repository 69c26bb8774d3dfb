"""The process-wide settings k49 changes only for as long as it needs them."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import torch

from k49.errors import WriteFailed
from k49.io import atomic_path, default_threads, torch_threads, write_json


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


def test_write_json_is_strict_json_with_null_for_undefined_numbers(tmp_path):
    path = write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.5, float("inf")],
                                            "c": np.float32("nan"), "d": np.float64(2.0)})
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": None, "d": 2.0}


def test_atomic_path_turns_a_refused_write_into_write_failed(tmp_path):
    """A folder that cannot be made, or storage that takes no more (here ENOSPC), is a
    WriteFailed naming the final file, and no temporary file is left; other errors pass."""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WriteFailed) as info, atomic_path(tmp_path / "afile" / "out.txt"):
        pass
    assert info.value.filename == str(tmp_path / "afile" / "out.txt")

    target = tmp_path / "out.txt"
    with pytest.raises(WriteFailed) as info, atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)

    with pytest.raises(FileNotFoundError), atomic_path(target):
        open(tmp_path / "missing")  # a read inside the block is not a write failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_helper_processes_only_where_the_main_module_is_safe_to_import_again(tmp_path):
    """`python -c` (like a notebook) may start helper processes; a script may not unless it
    asks, since a helper would run its unguarded top-level code again."""
    import subprocess
    import sys

    code = "from k49.io import helper_processes; print(helper_processes())"
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    run = lambda *argv: subprocess.run([sys.executable, *argv], capture_output=True,  # noqa: E731
                                       text=True, env=env, check=True).stdout.strip()
    assert run("-c", code) == "3"
    script = tmp_path / "my_study.py"
    script.write_text(code + "\n")
    assert run(str(script)) == "1"
