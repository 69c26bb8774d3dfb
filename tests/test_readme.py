"""The README is a front door: short, and every command in it runs as written. The cheap ones
run here, in a fresh folder; the rest (installs, downloads of the real K49, hours of training)
are named, so a new command is run unless it is added to the list on purpose."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: Commands not run here, each with why.
NOT_RUN = {
    "make demo": "installs and runs the demo (minutes); CI runs make test itself",
    "make test": "this very suite",
    "k49 data fetch --dataset k49": "downloads the real K49, which these machines cannot reach",
    "k49 run --suite seed --dataset k49 --out k49-runs --jobs 2": "hours on the real K49",
    "k49 evaluate k49-runs/CNN_dense_batch_norm/seed-0": "needs the real K49 runs above",
}


def readme_blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def readme_commands() -> list[str]:
    """Every command of the README's sh blocks, without its comment."""
    commands = []
    for block in readme_blocks("sh"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command:
                commands.append(command)
    return commands


def test_the_readme_is_read_in_five_minutes():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_every_readme_command_is_run_here_or_named_as_not_run():
    commands = readme_commands()
    assert set(NOT_RUN) <= set(commands), set(NOT_RUN) - set(commands)  # no stale entries
    assert [c for c in commands if c not in NOT_RUN], "the README's quick start is gone"


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a new user: the venv's k49 on PATH, a data folder of their own."""
    env = {**os.environ, "K49_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.slow
def test_the_readme_commands_run_as_written(tmp_path):
    """The quick start's commands in a fresh folder with a fresh data folder: each exits 0,
    and the report is where the README says."""
    env = fresh_env(tmp_path)
    for command in readme_commands():
        if command in NOT_RUN:
            continue
        done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    assert (tmp_path / "quick" / "report" / "index.html").is_file()


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path):
    [example] = readme_blocks("python")
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=fresh_env(tmp_path),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "report" / "index.html").is_file()
