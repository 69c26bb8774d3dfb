"""Reference runs recorded before the structure change (issue 7), and the code to redo them.

`python tests/golden/golden.py` trains each case below into a temporary folder and writes
`reference.json` and `reference.npz`: which files each run left, its history and its test
probabilities. test_golden.py trains the same cases with today's code and compares.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from k49 import TrainConfig, train
from k49.data.datasets import DATASETS
from k49.data.load import Dataset

HERE = Path(__file__).parent

#: (case name, TrainConfig keyword arguments).
CASES = {
    "mlp": {"model": "NN_1_adam", "epochs": 2, "batch_size": 64},
    "cnn": {"model": "CNN_1_adam", "epochs": 1, "batch_size": 64, "seed": 3},
    "subset": {"model": "NN_2_sgd", "epochs": 2, "limit_train": 400, "seed": 1},
    "knn": {"model": "knn4"},
}
#: Keys of config.json that describe the machine or the moment, not the run.
VOLATILE = {"versions", "device", "git_commit", "created"}


def golden_dataset(data_dir: Path) -> Dataset:
    """A small learnable, imbalanced set: one random template per class plus noise."""
    rng = np.random.default_rng(49)
    templates = rng.integers(0, 256, size=(49, 28, 28))
    train_counts = 8 + (np.arange(49) % 7) * 4

    def split(counts):
        labels = np.repeat(np.arange(49), counts)
        noise = rng.integers(-60, 60, size=(len(labels), 28, 28))
        return np.clip(templates[labels] + noise, 0, 255).astype(np.uint8), labels

    return Dataset(DATASETS["synthetic"], *split(train_counts), *split(np.full(49, 3)),
                   data_dir=data_dir, checksums={"golden.npz": "0" * 32})


def run_case(name: str, root: Path) -> dict:
    """Train case `name` under `root`; its files, config, history and test probabilities."""
    run_dir = root / name
    config = TrainConfig(threads=1, **CASES[name])
    train(config, run_dir, dataset=golden_dataset(root), quiet=True)
    saved = json.loads((run_dir / "config.json").read_text())
    with np.load(run_dir / "test_predictions.npz") as npz:
        probs, labels = npz["probs"], npz["labels"]
    history = (run_dir / "history.csv").read_text().splitlines()
    return {
        "files": sorted(p.name for p in run_dir.iterdir()),
        "config": {k: v for k, v in saved.items() if k not in VOLATILE},
        "history_header": history[0],
        "history": [[float(v) for v in row.split(",")] for row in history[1:]],
        "probs": probs,
        "labels": labels,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: run_case(name, Path(tmp)) for name in CASES}
    arrays = {}
    for name, r in results.items():
        arrays[f"{name}_probs"] = r.pop("probs")
        arrays[f"{name}_labels"] = r.pop("labels")
    np.savez_compressed(HERE / "reference.npz", **arrays)
    (HERE / "reference.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {HERE / 'reference.json'} and reference.npz", file=sys.stderr)


if __name__ == "__main__":
    main()
