"""K49's file format: four npz files (the array under `arr_0`) and a class map CSV.

The one reader and the one writer of the format: the loader, the synthetic generator, tests and
benchmarks all go through them.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import lzma
import os
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from k49.errors import K49Error
from k49.io import atomic_path, make_dir, read_user_file

#: Roles of the five files every dataset has, in the order they are fetched and written.
ROLES = ("train_images", "train_labels", "test_images", "test_labels", "classmap")
ARRAY_ROLES = ROLES[:4]
#: What np.load can raise on a damaged npz file besides ValueError: zipfile's errors (a bad
#: archive, compression method or stream, a flag saying "encrypted") and those of numpy's
#: parser of npy headers.
NPZ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
              NotImplementedError, RuntimeError, SyntaxError, tokenize.TokenError)


#: The largest array an npz file may hold, uncompressed (K49's training images are 182 MB):
#: a header that declares more is refused before anything is allocated.
MAX_ARRAY_BYTES = 2 << 30
#: The largest class map CSV read (K49's is 1.3 kB).
MAX_CLASSMAP_BYTES = 1 << 20


def file_names(prefix: str = "k49") -> dict[str, str]:
    """File name of each role, e.g. `k49-train-imgs.npz` and `k49_classmap.csv`."""
    return {
        "train_images": f"{prefix}-train-imgs.npz",
        "train_labels": f"{prefix}-train-labels.npz",
        "test_images": f"{prefix}-test-imgs.npz",
        "test_labels": f"{prefix}-test-labels.npz",
        "classmap": f"{prefix}_classmap.csv",
    }


def codepoint(char: str) -> str:
    """`U+3042` for a one-character class name; empty for a longer one (classes named by index)."""
    return f"U+{ord(char):04X}" if len(char) == 1 else ""


# --- reading --------------------------------------------------------------------------------


def _check_regular(path: Path) -> None:
    """Refuse a folder, FIFO, device or socket before opening it (opening a FIFO blocks)."""
    if path.exists() and not path.is_file():
        raise K49Error(f"{path} is not a regular file (a folder, pipe, device or socket): "
                       "put the dataset's file there")


def _array_bytes(path: Path) -> int:
    """What `arr_0` of an npz file takes once loaded, from its npy header (nothing read)."""
    fmt = np.lib.format
    with zipfile.ZipFile(path) as zf:
        member = "arr_0.npy" if "arr_0.npy" in zf.namelist() else "arr_0"
        with zf.open(member) as f:
            major, _ = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, _, dtype = read_header(f)
    return int(np.prod(shape, dtype=np.float64) * dtype.itemsize)


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    _check_regular(Path(path))
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_array(path: str | os.PathLike) -> np.ndarray:
    """The `arr_0` array of an npz file, refusing pickles and unreadable files."""
    path = Path(path)
    if not path.exists():
        raise K49Error(f"{path} is missing: fetch it with `k49 data fetch` or put it there by hand")
    _check_regular(path)
    # np.load would read a non-zip file as .npy (returning a bare array) or as a pickle
    # (garbage bytes then passed for "pickled objects"): an npz is a zip archive, check that first.
    if not zipfile.is_zipfile(path):
        raise K49Error(
            f"{path} is not an npz (zip) file, or is truncated: delete it and fetch again"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "arr_0" in npz.files and (size := _array_bytes(path)) > MAX_ARRAY_BYTES:
                raise K49Error(f"{path}: arr_0 would take {size / 2**30:.3g} GB, more than the "
                               f"{MAX_ARRAY_BYTES / 2**30:g} GB a K49-format file may hold: it "
                               "is not a K49-format file; fetch the official one")
            if "arr_0" not in npz.files:
                raise K49Error(
                    f"{path} has no array 'arr_0' (found {', '.join(npz.files) or 'none'}): "
                    "it is not a K49-format file; fetch the official one"
                )
            array = npz["arr_0"]
        if not isinstance(array, np.ndarray):  # np.load gives the bytes of a non-npy member
            raise K49Error(f"{path}: arr_0 is not an npy array: it is not a K49-format file; "
                           "fetch the official one")
        return array
    except K49Error:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise K49Error(
                f"{path} holds pickled objects, which k49 never loads: "
                "replace it with the official npz file"
            ) from None
        raise K49Error(f"{path} is not a valid npz file ({e}): delete it and fetch again") from None
    except NPZ_ERRORS as e:
        raise K49Error(f"{path} is corrupt ({e}): delete it and fetch again") from None
    except MemoryError as e:  # also what a damaged header declaring a huge shape gives
        raise K49Error(f"{path} holds an array too large to load ({e}): if the file is "
                       "damaged, delete it and fetch again") from None


def check_images(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise K49Error(f"{path}: images must be uint8, got {images.dtype}: use the official file")
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise K49Error(f"{path}: images must have shape (N, 28, 28), got {images.shape}")
    return images


def check_labels(labels: np.ndarray, n_classes: int | None, path: Path) -> np.ndarray:
    """Labels as int64, checked to be 1-D integers in 0..n_classes-1 (any range if None)."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise K49Error(
            f"{path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    top = n_classes - 1 if n_classes is not None else np.iinfo(np.int64).max  # no uint64 wrap
    if labels.size and (labels.min() < 0 or labels.max() > top):
        raise K49Error(f"{path}: labels must lie in 0..{top}, got {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def read_classmap(path: str | os.PathLike) -> list[str]:
    """The class names of an `index,codepoint,char` class map CSV, in index order (0..n-1)."""
    fix = "write it with the columns index,codepoint,char and one row per class 0..n-1"
    data = read_user_file(path, limit=MAX_CLASSMAP_BYTES, error=K49Error)
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        if not rows or not {"index", "char"} <= set(rows[0]):
            raise ValueError("no index and char columns")
        by_index = {int(row["index"]): row["char"] for row in rows}
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
        raise K49Error(f"{path} is not a readable class map ({e}): {fix}") from None
    if sorted(by_index) != list(range(len(rows))) or not all(by_index.values()):
        raise K49Error(f"{path}: class indices must run 0..{len(rows) - 1}, each named: {fix}")
    return [by_index[i] for i in range(len(rows))]


# --- writing --------------------------------------------------------------------------------


def write_npz(path: str | os.PathLike, array: np.ndarray) -> None:
    """What `np.savez_compressed(path, array)` writes (the array as `arr_0.npy`, deflated), with a
    fixed timestamp so that the same array always gives the same bytes."""
    info = zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as zf, zf.open(info, "w", force_zip64=True) as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def write_classmap(path: str | os.PathLike, chars: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "codepoint", "char"])
        for i, ch in enumerate(chars):
            writer.writerow([i, codepoint(ch), ch])


def write_k49_files(
    directory: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    chars: Sequence[str],
    *,
    prefix: str = "k49",
    extra: Mapping[str, Callable[[], str]] | None = None,
) -> dict[str, Path]:
    """Write a dataset in K49's format into `directory`; return the paths by role.

    `arrays` holds uint8 images (N, 28, 28) and integer labels (N,) for the four array roles;
    `chars` names the classes for the class map. `extra` maps further file names to functions
    returning their text, called once the data files are written (so they can describe them).
    Every file goes to a temporary name first; the final names appear only once all are
    complete, the extra files last.
    """
    if missing := [role for role in ARRAY_ROLES if role not in arrays]:
        raise K49Error(f"no array for {', '.join(missing)}: pass all of {', '.join(ARRAY_ROLES)}")
    directory = make_dir(directory)
    paths = {role: directory / name for role, name in file_names(prefix).items()}
    try:
        with contextlib.ExitStack() as stack:
            # Entered first, so renamed last.
            extra_tmps = {name: stack.enter_context(atomic_path(directory / name))
                          for name in (extra or {})}
            tmps = {role: stack.enter_context(atomic_path(p)) for role, p in paths.items()}
            for role in ARRAY_ROLES:
                write_npz(tmps[role], arrays[role])
            write_classmap(tmps["classmap"], chars)
            for name, text in (extra or {}).items():
                extra_tmps[name].write_text(text(), encoding="utf-8")
    except OSError as e:
        raise K49Error(
            f"cannot write K49-format files to {directory} ({e.strerror or e}): "
            "free some disk space or choose another --data-dir"
        ) from None
    return paths
