"""`k49 evaluate RUN_DIR`: metrics.json from a run's saved predictions (or its weights)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from k49.errors import K49Error
from k49.evaluation.metrics import evaluate
from k49.io import atomic_path, read_json, write_json

PREDICTIONS = "test_predictions.npz"


def read_predictions(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    path = run_dir / PREDICTIONS
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["labels"], npz["probs"]
    except (OSError, KeyError, ValueError) as e:
        raise K49Error(
            f"{path} is unreadable ({e}): delete it to recompute it from the weights"
        ) from None


def predict_from_weights(run_dir: Path, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the test predictions of a torch run from model.safetensors, and save them."""
    from k49.data.load import load_dataset
    from k49.evaluation.predict import predict_proba, resolve_device
    from k49.models import create_model, get_entry
    from k49.training.checkpoint import load_weights

    cfg = config["config"]
    if not get_entry(cfg["model"]).is_torch:
        raise K49Error(f"{run_dir} has no {PREDICTIONS} and {cfg['model']} has no weights to "
                       "predict from: rerun `k49 train` for it")
    ds = load_dataset(cfg["dataset"], cfg.get("data_dir"), offline=True)
    expected = config.get("dataset", {}).get("checksums")
    if expected and expected != ds.checksums:
        raise K49Error(f"the {ds.name} files in {ds.data_dir} differ from those {run_dir} was "
                       "trained on: restore them, or retrain")
    model = create_model(cfg["model"], num_classes=ds.n_classes)
    load_weights(run_dir / "model.safetensors", model)
    device = resolve_device(cfg.get("device", "auto"))
    probs = predict_proba(model.to(device), ds.test_images, device=device,
                          batch_size=cfg.get("eval_batch_size", 1024))
    with atomic_path(run_dir / PREDICTIONS) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, probs=probs, labels=ds.test_labels)
    return ds.test_labels, probs


def evaluate_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Compute, write and return RUN_DIR/metrics.json."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise K49Error(f"{run_dir} is not a run directory (no config.json): "
                       "give a directory made by `k49 train` or `k49 run`")
    config = read_json(run_dir / "config.json")
    if (run_dir / PREDICTIONS).exists():
        labels, probs = read_predictions(run_dir)
    else:
        labels, probs = predict_from_weights(run_dir, config)
    try:
        result = evaluate(labels, probs)
    except ValueError as e:
        raise K49Error(f"{run_dir / PREDICTIONS}: {e}") from None
    cfg = config["config"]
    timings = read_json(run_dir / "timings.json") if (run_dir / "timings.json").exists() else {}
    from k49.models import get_entry, model_info

    info = model_info(cfg["model"], num_classes=probs.shape[1])
    metrics = {
        # The suite's label (e.g. preact_resnet18_input_mixup) names the run in the report.
        "label": run_dir.parent.name if run_dir.name.startswith("seed-") else cfg["model"],
        "model": cfg["model"],
        "mixup": cfg.get("mixup", "none"),
        "family": get_entry(cfg["model"]).family,
        "seed": cfg["seed"],
        "dataset": config["dataset"]["name"],
        "synthetic": config["dataset"]["synthetic"],
        "params": info["params"],
        "flops": info["flops"],
        "train_seconds": timings.get("train_seconds"),
        "epochs": cfg.get("epochs"),
        **result,
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics
