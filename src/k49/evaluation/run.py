"""`k49 evaluate RUN_DIR`: metrics.json from a run's saved predictions (or its weights)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from k49.data.load import load_dataset
from k49.errors import K49Error
from k49.evaluation.convergence import convergence
from k49.evaluation.metrics import evaluate
from k49.evaluation.stats import bootstrap_intervals
from k49.models import create_model, get_entry, model_info
from k49.models.inference import predict_proba, resolve_device
from k49.runs.rundir import RunDir


def predict_from_weights(run: RunDir, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the test predictions of a torch run from its weights, and save them."""
    cfg = config["config"]
    if not get_entry(cfg["model"]).is_torch:
        raise K49Error(f"{run.path} has no {RunDir.PREDICTIONS} and {cfg['model']} has no "
                       "weights to predict from: rerun `k49 train` for it")
    ds = load_dataset(cfg["dataset"], cfg.get("data_dir"), offline=True)
    expected = config.get("dataset", {}).get("checksums")
    if expected and expected != ds.checksums:
        raise K49Error(f"the {ds.name} files in {ds.data_dir} differ from those {run.path} was "
                       "trained on: restore them, or retrain")
    model = create_model(cfg["model"], num_classes=ds.n_classes, **cfg.get("model_args", {}))
    run.load_weights(model)
    device = resolve_device(cfg.get("device", "auto"))
    probs = predict_proba(model.to(device), ds.test_images, device=device,
                          batch_size=cfg.get("eval_batch_size", 1024))
    run.write_predictions(probs, ds.test_labels)
    return ds.test_labels, probs


def evaluate_run(run_dir: str | os.PathLike | RunDir) -> dict[str, Any]:
    """Compute, write and return the run's metrics.json: every metric of `evaluate`, the
    bootstrap intervals of `bootstrap_intervals` and the `convergence` verdict."""
    run = RunDir.existing(run_dir)
    config = run.read_config()
    if run.has_predictions:
        labels, probs = run.read_predictions()
    else:
        labels, probs = predict_from_weights(run, config)
    try:
        result = evaluate(labels, probs)
        intervals = bootstrap_intervals(labels, probs)
    except ValueError as e:
        raise K49Error(f"{run.file(RunDir.PREDICTIONS)}: {e}") from None
    cfg = config["config"]
    dataset = config.get("dataset", {})
    info = model_info(cfg["model"], num_classes=probs.shape[1], **cfg.get("model_args", {}))
    metrics = {
        # The suite's label (e.g. preact_resnet18_input_mixup) names the run in the report.
        "label": run.label,
        "model": cfg["model"],
        "mixup": cfg.get("mixup", "none"),
        "family": get_entry(cfg["model"]).family,
        "seed": cfg.get("seed"),
        "dataset": dataset.get("name"),
        "synthetic": dataset.get("synthetic"),
        "params": info["params"],
        "flops": info["flops"],
        "train_seconds": run.read_timings().get("train_seconds"),
        "epochs": cfg.get("epochs"),
        **result,
        "intervals": intervals,
        "convergence": convergence(run.read_history()) if run.has_history else None,
    }
    run.write_metrics(metrics)
    return metrics
