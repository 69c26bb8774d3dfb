"""What every run records beside its results: full config, data checksums, versions, device."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy
import sklearn
import torch

from k49.data.load import Dataset
from k49.models.inference import resolve_device
from k49.runs.config import TrainConfig


def git_commit() -> str | None:
    """The commit of the k49 source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def k49_version() -> str:
    try:
        return version("k49")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def versions() -> dict[str, str]:
    return {"k49": k49_version(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__}


def device_info(device: str) -> dict[str, Any]:
    dev = resolve_device(device)
    info: dict[str, Any] = {"device": str(dev), "threads": torch.get_num_threads(),
                            "platform": platform.platform(), "processor": platform.machine()}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def provenance(config: TrainConfig, ds: Dataset, *, extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The record written to config.json; `extra` adds run facts (e.g. the subset used)."""
    return {
        "config": config.model_dump(),
        "config_hash": config.config_hash(),
        "dataset": {"name": ds.name, "synthetic": ds.synthetic, "title": ds.spec.label(),
                    "train_size": int(len(ds.train_labels)), "test_size": int(len(ds.test_labels)),
                    "checksums": ds.checksums,
                    **({"synthetic_info": ds.synthetic_info} if ds.synthetic_info else {}),
                    **({"verified": ds.verified} if ds.verified is not None else {})},
        "seed": config.seed,
        **(extra or {}),
        "versions": versions(),
        "device": device_info(config.device),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
