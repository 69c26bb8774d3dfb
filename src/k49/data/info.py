"""What `k49 data info` shows: counts per class, image statistics and file verification."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from k49.data.fetch import verify
from k49.data.load import SPLITS, load_dataset
from k49.data.stats import image_stats


def dataset_info(
    name: str,
    data_dir: str | os.PathLike,
    *,
    offline: bool = False,
    base_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """A JSON-ready description of dataset `name` as it lies in `data_dir`.

    `synthetic_info` says what a generated synthetic set was built from (fonts, templates and a
    one-line `summary`); None for other sets.
    """
    ds = load_dataset(name, data_dir, offline=offline, base_urls=tuple(base_urls))
    counts = {
        split: np.bincount(ds.split(split)[1], minlength=ds.n_classes).tolist() for split in SPLITS
    }
    return {
        "dataset": ds.name,
        "title": ds.spec.label(),
        "synthetic": ds.synthetic,
        "dir": str(ds.directory),
        "train_size": len(ds.train_labels),
        "test_size": len(ds.test_labels),
        "classes": [
            {"index": i, "char": ch, "codepoint": cp, "train": counts["train"][i],
             "test": counts["test"][i]}
            for i, (ch, cp) in enumerate(zip(ds.chars, ds.spec.codepoints, strict=True))
        ],
        "imbalance_ratio": max(counts["train"]) / max(1, min(counts["train"])),
        "stats": {split: image_stats(ds.split(split)[0]) for split in SPLITS},
        "files": verify(ds.name, data_dir),
        "checksums": ds.checksums,
        "synthetic_info": ds.synthetic_info,
    }
