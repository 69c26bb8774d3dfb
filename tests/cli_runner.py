"""Running the `k49` command in tests: in this process (typer's CliRunner streams, the real
entry point `k49.cli.main` with its error handling), or as a real process where a test needs
one (kill -9, a file-size limit, a fresh interpreter)."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from dataclasses import dataclass

from typer.testing import CliRunner

from k49.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def k49(*args: str | bytes | os.PathLike, env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None) -> Result:
    """`k49 args...` in this process; `env` adds to (or with None values, removes from) the
    environment. Exceptions other than the CLI's own exit propagate with their traceback."""
    argv = [os.fsdecode(a) for a in args]
    with CliRunner().isolation(env=env) as (stdout, stderr, _), \
            contextlib.chdir(cwd or os.getcwd()):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, stdout.getvalue().decode("utf-8", "replace"),
                      stderr.getvalue().decode("utf-8", "replace"))


def k49_process(*args: str | bytes | os.PathLike, env: dict[str, str] | None = None,
                cwd: str | os.PathLike | None = None,
                file_limit: int | None = None, timeout: float = 300) -> Result:
    """`python -m k49 args...` as a real process (`env` adds to the environment), optionally
    under a file-size limit of `file_limit` bytes; killed (and the test failed) after
    `timeout` seconds."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    result = subprocess.run([sys.executable, "-m", "k49", *args], capture_output=True,
                            env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout,
                            preexec_fn=limit if file_limit else None)
    return Result(result.returncode, result.stdout.decode("utf-8", "replace"),
                  result.stderr.decode("utf-8", "replace"))


def assert_one_line_error(result: Result, *needles: str) -> None:
    """A refusal: non-zero exit, no traceback, one line on stderr holding every needle."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
