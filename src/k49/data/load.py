"""Load a dataset's npz files into memory once, as uint8, after checking every assumption."""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from k49.data.datasets import DatasetSpec, default_data_dir, get_spec
from k49.errors import K49Error

SPLITS = ("train", "test")


@dataclass
class Dataset:
    """A dataset held in memory: images uint8 (N, 28, 28), labels int64 (N,)."""

    spec: DatasetSpec
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    data_dir: Path
    #: md5 of each file, by file name, for the run's provenance.
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def chars(self) -> tuple[str, ...]:
        return self.spec.chars

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    @property
    def synthetic(self) -> bool:
        return self.spec.synthetic

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in SPLITS:
            raise K49Error(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_array(path: str | os.PathLike) -> np.ndarray:
    """The `arr_0` array of an npz file, refusing pickles and unreadable files."""
    path = Path(path)
    if not path.exists():
        raise K49Error(f"{path} is missing: fetch it with `k49 data fetch` or put it there by hand")
    # np.load would read a non-zip file as .npy (returning a bare array) or as a pickle
    # (garbage bytes then passed for "pickled objects"): an npz is a zip archive, check that first.
    if not zipfile.is_zipfile(path):
        raise K49Error(
            f"{path} is not an npz (zip) file, or is truncated: delete it and fetch again"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "arr_0" not in npz.files:
                raise K49Error(
                    f"{path} has no array 'arr_0' (found {', '.join(npz.files) or 'none'}): "
                    "it is not a K49-format file; fetch the official one"
                )
            return npz["arr_0"]
    except K49Error:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise K49Error(
                f"{path} holds pickled objects, which k49 never loads: "
                "replace it with the official npz file"
            ) from None
        raise K49Error(f"{path} is not a valid npz file ({e}): delete it and fetch again") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise K49Error(f"{path} is corrupt ({e}): delete it and fetch again") from None


def check_images(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise K49Error(f"{path}: images must be uint8, got {images.dtype}: use the official file")
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise K49Error(f"{path}: images must have shape (N, 28, 28), got {images.shape}")
    return images


def check_labels(labels: np.ndarray, n_classes: int, path: Path) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise K49Error(
            f"{path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise K49Error(
            f"{path}: labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def read_classmap(path: str | os.PathLike) -> list[str]:
    """The characters of a `index,codepoint,char` class map CSV, in index order."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) < {"index", "codepoint", "char"}:
        raise K49Error(f"{path}: expected CSV columns index,codepoint,char")
    return [row["char"] for row in sorted(rows, key=lambda r: int(r["index"]))]


def write_classmap(spec: DatasetSpec, path: str | os.PathLike) -> None:
    from k49.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "codepoint", "char"])
        for i, (cp, ch) in enumerate(zip(spec.codepoints, spec.chars, strict=True)):
            writer.writerow([i, cp, ch])


def missing_files(spec: DatasetSpec, data_dir: str | os.PathLike) -> list[str]:
    return [f.name for role, f in spec.files.items() if not spec.path(role, data_dir).exists()]


def load_dataset(
    name: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    *,
    offline: bool = False,
    base_urls: tuple[str, ...] | list[str] = (),
    progress: bool = True,
) -> Dataset:
    """Load `name` from `data_dir`, fetching (real sets) or generating (synthetic) missing files."""
    spec = get_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if missing := missing_files(spec, data_dir):
        if spec.synthetic:
            from k49.data.synthetic import generate

            generate(data_dir, progress=progress)
        elif offline:
            raise K49Error(
                f"{name} files missing from {data_dir / name} ({', '.join(missing)}) and --offline "
                f"is set: run `k49 data fetch --dataset {name}` or copy them there by hand"
            )
        else:
            from k49.data.fetch import fetch

            fetch(name, data_dir, base_urls=base_urls, progress=progress)

    arrays = {}
    for split in SPLITS:
        img_path = spec.path(f"{split}_images", data_dir)
        lbl_path = spec.path(f"{split}_labels", data_dir)
        images = check_images(read_array(img_path), img_path)
        labels = check_labels(read_array(lbl_path), spec.n_classes, lbl_path)
        if len(images) != len(labels):
            raise K49Error(
                f"{split} split has {len(images)} images but {len(labels)} labels: "
                f"the files in {data_dir / name} do not belong together; fetch them again"
            )
        if len(images) == 0:
            raise K49Error(
                f"{split} split in {data_dir / name} is empty: fetch or generate it again"
            )
        arrays[split] = (images, labels)
    checksums = {spec.files[r].name: md5sum(spec.path(r, data_dir)) for r in spec.files}
    return Dataset(spec, *arrays["train"], *arrays["test"], data_dir=data_dir, checksums=checksums)
