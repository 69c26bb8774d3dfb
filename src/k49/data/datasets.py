"""The table of dataset facts (files, checksums, classes, sizes) driving fetch, load and the CLI.

Besides the three built-in sets, any folder holding the four K49-format npz files is a dataset,
named `folder:/abs/path`: its spec is read from its files. Source of the facts: the official
KMNIST page and ../shared/reference/k49-facts.md.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from k49.data.k49format import (
    ARRAY_ROLES,
    ROLES,
    check_labels,
    codepoint,
    file_names,
    read_array,
    read_classmap,
)
from k49.errors import K49Error

#: Prefix of a dataset name that is a folder of one's own: `folder:/path/to/dir`.
FOLDER_PREFIX = "folder:"

#: The first 100 images of the real K49 test set (no labels), shipped for comparison figures.
#: K49 is CC BY-SA 4.0: "KMNIST Dataset" (created by CODH), adapted from "Kuzushiji Dataset"
#: (created by NIJL and others), doi:10.20676/00000341.
REAL_SAMPLE = Path(__file__).with_name("k49-real-sample.npz")

OFFICIAL_K49_URL = "http://codh.rois.ac.jp/kmnist/dataset/k49/"
OFFICIAL_KMNIST_URL = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset under its official name; `size` and `md5` are None when generated."""

    name: str
    size: int | None = None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything k49 knows about a dataset before opening any of its files."""

    name: str
    title: str
    files: dict[str, DataFile]
    chars: tuple[str, ...]
    train_size: int
    test_size: int
    test_counts: tuple[int, ...]
    official_url: str | None = None
    synthetic: bool = False
    #: The headline metric the dataset's authors recommend.
    metric: str = "balanced_accuracy"
    #: The folder of a user's own dataset (absolute); None for the built-in sets.
    folder: Path | None = None

    @property
    def n_classes(self) -> int:
        return len(self.chars)

    @property
    def codepoints(self) -> tuple[str, ...]:
        return tuple(codepoint(c) for c in self.chars)

    def directory(self, data_dir: str | os.PathLike) -> Path:
        """Where the files lie: `data_dir/name`, or the folder itself for a user folder."""
        return self.folder if self.folder is not None else Path(data_dir) / self.name

    def path(self, role: str, data_dir: str | os.PathLike) -> Path:
        return self.directory(data_dir) / self.files[role].name

    def label(self, role: str | None = None) -> str:
        """A title fragment; every synthetic result carries the word "synthetic", every result
        on a user's folder says so."""
        if self.synthetic:
            return f"{self.title} (synthetic data, not K49)"
        if self.folder is not None:
            return f"{self.title} (user folder {self.folder})"
        return self.title


K49_CHARS = tuple(
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわゐゑをんゝ"
)
KMNIST_CHARS = tuple("おきすつなはまやれを")

_K49_RARE = {3: 126, 8: 767, 13: 678, 14: 629, 16: 418, 22: 336, 23: 399, 26: 836, 29: 324,
             31: 498, 32: 280, 33: 552, 36: 260, 42: 348, 43: 390, 44: 68, 45: 64, 48: 574}
K49_TEST_COUNTS = tuple(_K49_RARE.get(i, 1000) for i in range(49))


def _files(prefix: str, sizes_md5: dict[str, tuple[int | None, str | None]]) -> dict[str, DataFile]:
    names = file_names(prefix)
    return {role: DataFile(names[role], *sizes_md5.get(role, (None, None))) for role in ROLES}


#: Every built-in dataset by name ("k49", "kmnist", "synthetic"): its files, md5s, sizes,
#: classes and per-class counts, the one table that drives download, loading and the CLI.
DATASETS: dict[str, DatasetSpec] = {
    "k49": DatasetSpec(
        name="k49",
        title="Kuzushiji-49",
        files=_files("k49", {
            "train_images": (66117696, "7ac088b20481cf51dcd01ceaab89d821"),
            "train_labels": (164485, "44a8e1b893f81e63ff38d73cad420f7a"),
            "test_images": (10971201, "d352e201d846ce6b94f42c990966f374"),
            "test_labels": (27450, "4da6f7a62e67a832d5eb1bd85c5ee448"),
            "classmap": (697, "f7d0d0391f68bdf0fe4cf160ceb85753"),
        }),
        chars=K49_CHARS,
        train_size=232_365,
        test_size=38_547,
        test_counts=K49_TEST_COUNTS,
        official_url=OFFICIAL_K49_URL,
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        files=_files("kmnist", {
            "train_images": (18384171, "a183fbc01ed9a345513b145673d3d0bb"),
            "train_labels": (29700, "b0e1d240e8afec72b50437fc3bc5908a"),
            "test_images": (3079479, "dace6de62ca8b90843cc45366337d02e"),
            "test_labels": (5304, "3ae489a79983d0fe386152684e3b5412"),
            "classmap": (151, "899202f6e8dc29a321ac210a03d0f2f1"),
        }),
        chars=KMNIST_CHARS,
        train_size=60_000,
        test_size=10_000,
        test_counts=(1000,) * 10,
        official_url=OFFICIAL_KMNIST_URL,
        metric="accuracy",
    ),
    # Same classes, proportions and file format as K49, generated locally from fonts.
    "synthetic": DatasetSpec(
        name="synthetic",
        title="Synthetic K49-like",
        files=_files("k49", {}),
        chars=K49_CHARS,
        train_size=232_365,
        test_size=38_547,
        test_counts=K49_TEST_COUNTS,
        synthetic=True,
    ),
}


def _is_folder_name(name: str) -> bool:
    return (
        name.startswith(FOLDER_PREFIX)
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or (name not in DATASETS and Path(name).expanduser().is_dir())
    )


def _folder_path(name: str) -> Path:
    return Path(name.removeprefix(FOLDER_PREFIX)).expanduser().absolute()


def normalize_name(name: str) -> str:
    """The name a dataset is recorded under, without opening a file: a built-in name as it is,
    a folder (`folder:PATH` or a plain path) as `folder:/abs/path`."""
    if name in DATASETS or not _is_folder_name(name):
        return name
    return f"{FOLDER_PREFIX}{_folder_path(name)}"


def public_name(name: str) -> str:
    """`name` as shown to a server's clients: a folder dataset by its folder's name alone
    (`folder:/home/me/data` -> `folder:data`), never the path on this machine."""
    if not name.startswith(FOLDER_PREFIX):
        return name
    return f"{FOLDER_PREFIX}{Path(name.removeprefix(FOLDER_PREFIX)).name}"


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset `name`: a built-in name, or `folder:PATH` (or a path) of a folder of
    K49-format files. An unknown name fails listing the valid names."""
    if name in DATASETS:
        return DATASETS[name]
    if _is_folder_name(name):
        return folder_spec(_folder_path(name))
    close = difflib.get_close_matches(name, DATASETS, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise K49Error(
        f"unknown dataset {name!r}: {hint}choose one of {', '.join(DATASETS)}, or "
        f"{FOLDER_PREFIX}PATH for a folder of K49-format npz files"
    )


def recorded_spec(name: str, title: str | None = None) -> DatasetSpec:
    """The spec of the dataset a run recorded as `name`; for a user folder that has since moved,
    K49's classes under that name and `title` (what the run was trained to predict)."""
    try:
        return get_spec(name)
    except K49Error:
        return replace(get_spec("k49"), name=name, title=title or name, files={},
                       official_url=None)


def folder_spec(folder: str | os.PathLike) -> DatasetSpec:
    """The spec of a user's folder holding k49-train-imgs.npz, k49-train-labels.npz,
    k49-test-imgs.npz, k49-test-labels.npz and optionally k49_classmap.csv.

    Classes are named by the class map if there is one, else by K49's 49 characters when the
    labels fit, else by their index. Labels are read here (for the class count and sizes); the
    loader checks everything else.
    """
    folder = Path(folder).expanduser().absolute()
    names = file_names("k49")
    wanted = ", ".join(names[r] for r in ARRAY_ROLES)
    if not folder.is_dir():
        raise K49Error(
            f"dataset folder {folder} does not exist: pass {FOLDER_PREFIX}PATH of a folder "
            f"holding {wanted}, or one of {', '.join(DATASETS)}"
        )
    # A member that exists but is not a regular file is refused by read_array.
    if missing := [names[r] for r in ARRAY_ROLES if not (folder / names[r]).exists()]:
        raise K49Error(
            f"dataset folder {folder} lacks {', '.join(missing)}: a dataset folder holds "
            f"{wanted} (K49's format, the array under arr_0) and optionally "
            f"{names['classmap']}"
        )
    labels = {
        split: check_labels(read_array(folder / names[f"{split}_labels"]), None,
                            folder / names[f"{split}_labels"])
        for split in ("train", "test")
    }
    roles = ROLES if (folder / names["classmap"]).is_file() else ARRAY_ROLES
    if "classmap" in roles:
        chars = tuple(read_classmap(folder / names["classmap"]))
    else:
        n = 1 + max((int(y.max()) for y in labels.values() if y.size), default=0)
        if n > max(len(K49_CHARS), len(labels["train"])):  # more classes than images
            raise K49Error(
                f"{folder / names['train_labels']} has labels up to {n - 1} without a "
                f"{names['classmap']}: number the classes 0..N-1, or add the class map")
        chars = K49_CHARS if n <= len(K49_CHARS) else tuple(str(i) for i in range(n))
    test_counts = np.bincount(labels["test"], minlength=len(chars))
    return DatasetSpec(
        name=f"{FOLDER_PREFIX}{folder}",
        title=folder.name or str(folder),
        files={role: DataFile(names[role]) for role in roles},
        chars=chars,
        train_size=len(labels["train"]),
        test_size=len(labels["test"]),
        test_counts=tuple(int(c) for c in test_counts),
        folder=folder,
    )


def default_data_dir() -> Path:
    """`K49_DATA_DIR` if set, else the user's cache directory (e.g. ~/.cache/k49)."""
    env = os.environ.get("K49_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("k49"))
