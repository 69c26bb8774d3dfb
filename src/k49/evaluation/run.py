"""`k49 evaluate RUN_DIR`: metrics.json from a run's saved predictions (or its weights)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from k49.errors import K49Error
from k49.evaluation.convergence import convergence
from k49.evaluation.metrics import evaluate
from k49.evaluation.stats import bootstrap_intervals
from k49.models import get_entry, model_info
from k49.models.inference import predict_proba
from k49.runs.rundir import RunDir
from k49.training.trained import dataset_spec, load_model, load_run_dataset


def predict_from_weights(run: RunDir) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the test predictions of a torch run from its weights, and save them."""
    provenance = run.read_provenance()
    config = provenance.config
    if not get_entry(config.model).is_torch:
        raise K49Error(f"{run.path} has no {RunDir.PREDICTIONS} and {config.model} has no "
                       "weights to predict from: rerun `k49 train` for it")
    ds = load_run_dataset(run, provenance)
    trained = load_model(run, config.device)
    probs = predict_proba(trained.model, ds.test_images, device=trained.device,
                          batch_size=config.eval_batch_size)
    run.write_predictions(probs, ds.test_labels)
    return ds.test_labels, probs


def run_facts(run: RunDir) -> dict[str, Any]:
    """What a report says of a run besides its scores, from config.json and timings.json:
    label, model, mixup, family, seed, dataset, synthetic, params, flops, train_seconds and
    epochs. metrics.json holds only scores (files written before also kept a copy of these
    facts; `run_metrics` takes them from config.json and timings.json all the same)."""
    provenance = run.read_provenance()
    config, dataset = provenance.config, provenance.dataset
    info = model_info(config.model, num_classes=dataset_spec(provenance).n_classes,
                      **config.model_args)
    return {
        # The suite's label (e.g. preact_resnet18_input_mixup) names the run in the report.
        "label": run.label,
        "model": config.model,
        "mixup": config.mixup,
        "family": get_entry(config.model).family,
        "seed": config.seed,
        "dataset": dataset.name,
        "synthetic": dataset.synthetic,
        "params": info["params"],
        "flops": info["flops"],
        "train_seconds": run.read_timings().get("train_seconds"),
        "epochs": config.epochs,
    }


def run_metrics(run_dir: str | os.PathLike | RunDir) -> dict[str, Any]:
    """The run's facts (`run_facts`) and its saved scores (metrics.json), as one dict."""
    run = RunDir.existing(run_dir)
    facts = run_facts(run)
    return {**facts, **{k: v for k, v in run.read_metrics().items() if k not in facts}}


def evaluate_run(run_dir: str | os.PathLike | RunDir) -> dict[str, Any]:
    """Compute and write the run's metrics.json (every metric of `evaluate`, the bootstrap
    intervals of `bootstrap_intervals` and the `convergence` verdict); return it with the
    run's facts (`run_facts`) in front."""
    run = RunDir.existing(run_dir)
    facts = run_facts(run)  # a damaged config or timings file fails before the work
    if run.has_predictions:
        labels, probs = run.read_predictions()
    else:
        labels, probs = predict_from_weights(run)
    try:
        result = evaluate(labels, probs)
        intervals = bootstrap_intervals(labels, probs)
    except ValueError as e:
        raise K49Error(f"{run.file(RunDir.PREDICTIONS)}: {e}") from None
    scores = {
        **result,
        "intervals": intervals,
        "convergence": convergence(run.read_history()) if run.has_history else None,
    }
    run.write_metrics(scores)
    return {**facts, **scores}
