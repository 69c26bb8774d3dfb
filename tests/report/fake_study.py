"""Fake but well-formed study directories: every file `k49 run` writes, without training."""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np

from k49.data.datasets import DATASETS
from k49.io import write_json
from k49.runs.config import TrainConfig
from k49.runs.records import HISTORY_FIELDS
from k49.viz import image_grid, new_figure, save_figure

SEED_MODELS = ["NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam", "NN_dense",
               "NN_dense_batch_norm", "CNN_1_sgd", "CNN_2_sgd", "CNN_1_adam", "CNN_2_adam",
               "CNN_dense", "CNN_dense_batch_norm"]


def fake_run(run_dir, model: str, seed: int, skill: float, n_per_class=None, dataset="synthetic",
             labels=None, data_dir=None):
    """Write a complete run of `model` whose predictions are about as good as `skill`.

    `labels` (default: classes in order, `n_per_class` each) are the test labels predicted.
    """
    spec = DATASETS[dataset]
    counts = np.asarray(n_per_class if n_per_class is not None else
                        np.maximum(2, np.asarray(spec.test_counts) // 25))
    rng = np.random.default_rng(zlib.crc32(f"{model}/{seed}".encode()))
    if labels is None:
        labels = np.repeat(np.arange(spec.n_classes), counts)
    logits = rng.normal(size=(len(labels), spec.n_classes))
    logits[np.arange(len(labels)), labels] += skill * 4
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    run_dir.mkdir(parents=True)
    config = TrainConfig(model=model, seed=seed, epochs=3, dataset=dataset,
                         data_dir=str(data_dir) if data_dir else None).resolved()
    write_json(run_dir / "config.json", {
        "config": config.model_dump(), "config_hash": config.config_hash(),
        "dataset": {"name": dataset, "synthetic": spec.synthetic, "title": spec.label(),
                    "train_size": 1000, "test_size": int(len(labels)), "checksums": {}},
        "seed": seed, "versions": {}, "device": {"device": "cpu"}, "git_commit": None})
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for epoch in range(1, 4):
            acc = skill * (0.6 + 0.13 * epoch)
            writer.writerow({"epoch": epoch, "train_loss": 2.5 / epoch, "train_accuracy": acc,
                             "train_balanced_accuracy": acc - 0.02, "val_loss": 2.6 / epoch,
                             "val_accuracy": acc - 0.03, "val_balanced_accuracy": acc - 0.05,
                             "seconds": 2.0, "images_per_s": 5000.0, "lr": 0.001})
    np.savez_compressed(run_dir / "test_predictions.npz", probs=probs, labels=labels)
    write_json(run_dir / "timings.json", {"train_seconds": 6.0 * (1 + skill), "eval_seconds": 0.1,
                                          "total_seconds": 7.0})


def make_study(root, models=SEED_MODELS, seeds=(0,), **kw):
    for i, model in enumerate(models):
        for seed in seeds:
            skill = 0.35 + 0.04 * i + 0.01 * seed
            fake_run(root / model / f"seed-{seed}", model, seed, skill, **kw)
    return root


def _line_figure():
    fig = new_figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [0.2, 0.9, 0.5], marker="o")
    ax.set_title("あいう accuracy")
    return fig


def _grid_figure():
    fig = new_figure(figsize=(2, 1.2))
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    image_grid(fig.add_subplot(), images, 3, captions=list("あいうえおか"), caption_space=8)
    return fig


def tiny_figures(out_dir: Path, stems=("accuracy_line", "samples_grid")) -> dict[str, list[Path]]:
    """Two small figures (a line plot, an image grid with kana) as `report_figures` writes them:
    OUT/figures/{light,dark}/<stem>.{svg,png}."""
    line, grid = stems
    return {stem: save_figure(make, Path(out_dir) / "figures", stem)
            for stem, make in ((line, _line_figure), (grid, _grid_figure))}
