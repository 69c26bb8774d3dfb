"""Files and process settings: atomic writes (a result is complete under its final name or
absent), directories, torch thread counts."""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from k49.errors import K49Error, WriteFailed

#: errnos of a write refused by the storage: full, over a quota or file-size limit, read-only.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def make_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and parents); failure is a one-line K49Error naming the fix."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise K49Error(f"cannot create {path} ({e.strerror}): choose another --data-dir") from None
    return path


def default_threads() -> int:
    """CPU threads a run uses when its config names none: OMP_NUM_THREADS when set to a
    positive integer (the usual way to share a machine between processes), else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def helper_processes() -> int:
    """How many processes k49 may spread a report's work over without being asked: one per
    core (default_threads), where starting them is safe. A helper process imports the main
    module again, so a script without an `if __name__ == "__main__":` guard would run again
    in each; so only k49's own command line, pytest, an interactive session, a notebook or
    `python -c` get more than one (a script passes `jobs=` itself)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    known = path is None or Path(path).name in ("k49", "pytest", "py.test") or (
        spec is not None and spec.name.split(".")[0] in ("k49", "pytest"))
    return default_threads() if known else 1


def process_context() -> multiprocessing.context.BaseContext:
    """How k49 starts helper processes: from a fork server where the platform has one (a
    clean process, without the caller's threads), else spawned."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run the block with `n` torch threads, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    if n != before:  # setting it, even to the same count, restarts torch's thread pool
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name holds the writer's pid (`.<name>.<pid>.<random>.part<suffix>`), so
    `remove_stale_parts` can tell a file left by a killed process from one being written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".part" + path.suffix, dir=path.parent)
    except OSError as e:
        raise WriteFailed(e.errno, e.strerror, str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file 0600; give it the mode a plain open() would (0666 less the umask).
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        # The block may also read; only what says "this storage takes no more" is a write failure.
        if isinstance(e, WriteFailed) or e.errno not in STORAGE_FULL:
            raise
        raise WriteFailed(e.errno, e.strerror, str(path)) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_parts(directory: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files of `atomic_path` left in `directory` by processes that died
    (kill -9, power loss); returns what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    pattern = "**/.*.part*" if recursive else ".*.part*"
    for part in directory.glob(pattern):
        fields = part.name.split(".")
        marks = [i for i, f in enumerate(fields) if f == "part"]
        pid = fields[marks[-1] - 2] if marks and marks[-1] >= 3 else ""
        if part.is_file() and pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def strict_json(obj: Any) -> Any:
    """`obj` with every NaN or infinity as None: JSON has no such numbers, and strict parsers
    reject the bare `NaN` Python would write (k49 writes `null`, meaning undefined)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:  # a numpy scalar
        return strict_json(obj.item())
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as strict JSON (non-finite numbers as null), atomically."""
    return write_text(path, json.dumps(strict_json(obj), indent=2, ensure_ascii=False,
                                       default=str, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_user_file(path: str | os.PathLike, *, limit: int, name: str | None = None,
                   error: type[K49Error] = K49Error) -> bytes:
    """The bytes of a file a user named, read without trusting its size on disk: opened
    without blocking (a FIFO never hangs), refused unless it is a regular file (not a folder,
    pipe, device or socket), and refused once more than `limit` bytes were actually read
    (/dev/zero reports size 0). Errors are `error`s that start with `name` (default: the
    path)."""
    path = Path(path)
    name = name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{name}: no such file: check the path") from None
    except OSError as e:
        raise error(f"{name}: cannot be read ({e.strerror or e}): check the path and its "
                    "permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise error(f"{name}: is a folder: give a file")
        raise error(f"{name}: is not a regular file (a pipe, device or socket): give a file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise error(f"{name}: cannot be read ({e.strerror or e}): check the file") from None
    if len(data) > limit:
        raise error(f"{name}: is larger than the {limit / 2**20:g} MB accepted: give a "
                    "smaller file")
    return data
