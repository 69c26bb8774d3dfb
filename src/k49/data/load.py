"""Load a dataset's npz files into memory once, as uint8, after checking every assumption."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k49.data import synthetic
from k49.data.datasets import DatasetSpec, default_data_dir, get_spec
from k49.data.fetch import fetch
from k49.data.k49format import check_images, check_labels, md5sum, read_array
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
    #: For a generated synthetic set, what it was built from (read from synthetic.json): fonts,
    #: template counts and a one-line `summary` ("built from 7 fonts, 664 templates ...").
    synthetic_info: dict[str, Any] | None = None
    #: Whether the files matched the official checksums (None: a set without official ones).
    verified: bool | None = None

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

    @property
    def directory(self) -> Path:
        """The folder the files were read from."""
        return self.spec.directory(self.data_dir)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in SPLITS:
            raise K49Error(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def missing_files(spec: DatasetSpec, data_dir: str | os.PathLike) -> list[str]:
    return [f.name for role, f in spec.files.items() if not spec.path(role, data_dir).exists()]


def load_dataset(
    name: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    *,
    offline: bool = False,
    base_urls: tuple[str, ...] | list[str] = (),
    progress: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load `name` from `data_dir`: fetching missing files of a real set, generating the synthetic
    set when missing or built from another font set, reading a user's folder as it is.

    The files of a real set must match the official md5s unless `verify` is False; the
    Dataset's `verified` then says whether they did (None: nothing to verify against).
    """
    spec = get_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    directory = spec.directory(data_dir)
    if spec.synthetic:
        if (rebuild := synthetic.rebuild_needed(data_dir)) is not None:
            if rebuild.reason:
                print(rebuild.reason, file=sys.stderr)
            synthetic.generate(data_dir, scale=rebuild.scale, seed=rebuild.seed,
                               progress=progress, system_fonts=rebuild.system_fonts,
                               difficulty=synthetic.difficulty_from_record(rebuild.difficulty),
                               exclude_families=rebuild.exclude_families)
    elif missing := missing_files(spec, data_dir):
        if spec.folder is not None:
            raise K49Error(f"{', '.join(missing)} missing from the dataset folder {directory}: "
                           "put the K49-format files back")
        if offline:
            raise K49Error(
                f"{name} files missing from {directory} ({', '.join(missing)}) and --offline "
                f"is set: run `k49 data fetch --dataset {name}` or copy them there by hand"
            )
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
                f"the files in {directory} do not belong together; fetch them again"
            )
        if len(images) == 0:
            raise K49Error(f"{split} split in {directory} is empty: fetch or generate it again")
        arrays[split] = (images, labels)
    checksums = {spec.files[r].name: md5sum(spec.path(r, data_dir)) for r in spec.files}
    failed = [entry.name for entry in spec.files.values()
              if entry.md5 is not None and checksums[entry.name] != entry.md5]
    if failed and verify:
        raise K49Error(
            f"{', '.join(failed)} in {directory} fail verification (md5 differs from the "
            f"official release): fetch them again with `k49 data fetch --dataset {name}`, or "
            "pass --no-verify to use them anyway (each run records that)")
    info = synthetic.read_info(directory) if spec.synthetic else None
    return Dataset(spec, *arrays["train"], *arrays["test"], data_dir=data_dir,
                   checksums=checksums, synthetic_info=info,
                   verified=None if not any(e.md5 for e in spec.files.values()) else not failed)
