"""A run's model card: the facts as a JSON-ready dict (`GET /model` serves it) and as Markdown.

The Markdown is rendered from templates/MODEL_CARD.md.j2; `k49 export` writes it beside the
.onnx file, named after it (x.onnx -> x.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from k49.data.datasets import DatasetSpec, public_name
from k49.data.k49format import codepoint, md5sum, read_array
from k49.errors import K49Error
from k49.evaluation.metric_table import METRICS
from k49.formats import DASH
from k49.io import write_text
from k49.models import create_model, get_entry, model_info
from k49.runs.records import DatasetFacts, Provenance
from k49.runs.rundir import RunDir
from k49.training.trained import dataset_spec, trained_on_synthetic

#: Version of the dict `model_card` returns; raised when a key changes meaning or goes away.
SCHEMA = 1
TRAINING_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "loss", "mixup",
                 "seed", "val_fraction", "limit_train")
N_RAREST = 5


def model_card(run_dir: str | os.PathLike | RunDir, *, public: bool = False) -> dict[str, Any]:
    """The facts of a run's model card, JSON-ready; reads the run, writes nothing. `public`
    (a server's /model): no path of this machine, only the run's and dataset folder's names.

    Keys (stable; `schema` is raised if one changes meaning):

    - schema (int), label, model, family, description, model_args, params (trainable),
      flops (forward per image; None for kNN), layers (str of the torch module; None for kNN),
      config_hash;
    - synthetic (bool) and synthetic_notice (the card's bold warning, None on real data);
    - dataset: name, title, synthetic, train_size, test_size, n_classes, subset (None, or the
      config's {size, min_per_class, ...} when trained on --limit-train images);
    - training: epochs, batch_size, optimizer, lr, weight_decay, loss, mixup, seed,
      val_fraction, limit_train, train_images, train_seconds, device;
    - metrics: None without metrics.json, else {key: value} for the metric table's keys plus
      n_samples; intervals: None, or {level, n_resamples, method, key: [lo, hi]} (95%
      bootstrap intervals); still_improving: the convergence verdict (bool or None);
    - classes: the class characters in output order; rarest_classes: the `N_RAREST` rarest,
      each {index, char, codepoint, count, recall (None without metrics)}; rarity_basis:
      what `count` is ("training images", "test images" or None);
    - intended_use (str), limitations (list of str), versions, created.
    """
    run = RunDir.existing(run_dir)
    provenance = run.read_provenance()
    config, data = provenance.config, provenance.dataset
    entry = get_entry(config.model)
    spec = dataset_spec(provenance)
    args = dict(config.model_args)
    info = model_info(entry.name, num_classes=spec.n_classes, **args)
    layers = str(create_model(entry.name, num_classes=spec.n_classes, **args)) \
        if entry.is_torch else None
    metrics = run.read_metrics() if run.has_metrics else None
    timings = run.read_timings()
    synthetic = trained_on_synthetic(provenance)
    counts, basis = _class_counts(provenance, spec, metrics)
    recall = (metrics or {}).get("per_class", {}).get("recall")
    rarest = [] if counts is None else [
        {"index": int(i), "char": spec.chars[i], "codepoint": codepoint(spec.chars[i]),
         "count": int(counts[i]), "recall": None if recall is None else float(recall[i])}
        for i in np.argsort(counts, kind="stable")[:N_RAREST]]
    facts: dict[str, Any] = {
        "schema": SCHEMA,
        "label": run.label,
        "model": entry.name,
        "family": entry.family,
        "description": info["description"],
        "model_args": args,
        "params": info["params"],
        "flops": info["flops"],
        "layers": layers,
        "config_hash": provenance.config_hash,
        "synthetic": synthetic,
        "synthetic_notice": _synthetic_notice(data) if synthetic else None,
        "dataset": {
            "name": public_name(data.name) if public else data.name, "title": spec.title,
            "synthetic": synthetic, "train_size": data.train_size,
            "test_size": data.test_size, "n_classes": spec.n_classes,
            "subset": provenance.subset,
        },
        "training": {**{k: getattr(config, k) for k in TRAINING_KEYS},
                     "train_images": timings.get("train_images"),
                     "train_seconds": timings.get("train_seconds"),
                     "device": provenance.device.get("device")},
        "metrics": None if metrics is None else {
            **{k: metrics.get(k) for k in METRICS}, "n_samples": metrics.get("n_samples")},
        "intervals": (metrics or {}).get("intervals"),
        "still_improving": ((metrics or {}).get("convergence") or {}).get("still_improving"),
        "classes": list(spec.chars),
        "rarest_classes": rarest,
        "rarity_basis": basis,
        "versions": provenance.versions,
        "created": provenance.created,
    }
    facts["intended_use"] = _intended_use(spec)
    facts["limitations"] = _limitations(facts, run, public)
    return facts


def render_model_card(facts: dict[str, Any], export: dict[str, Any] | None = None) -> str:
    """The Markdown of `model_card`'s facts; `export` (from `export_onnx`) adds the ONNX file's
    input contract and check."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("k49.deploy", "templates"), autoescape=False,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["num"] = _num
    return env.get_template("MODEL_CARD.md.j2").render(
        card=facts, export=export, metric_rows=_metric_rows(facts))


def write_model_card(run_dir: str | os.PathLike | RunDir, path: str | os.PathLike, *,
                     export: dict[str, Any] | None = None) -> Path:
    """Write the run's model card as Markdown to `path`, atomically; returns the path."""
    return write_text(path, render_model_card(model_card(run_dir), export))


# -- helpers ------------------------------------------------------------------------------------


def _class_counts(provenance: Provenance, spec: DatasetSpec, metrics: dict[str, Any] | None
                  ) -> tuple[np.ndarray | None, str | None]:
    """Images per class: in the training split if its labels file is still the one the run
    used (checksum), else in the test set (metrics' support, or the dataset's published)."""
    data_dir = provenance.config.data_dir
    if data_dir:
        try:
            path = spec.path("train_labels", data_dir)
            expected = (provenance.dataset.checksums or {}).get(path.name)
            if path.exists() and expected and md5sum(path) == expected:
                labels = np.asarray(read_array(path)).astype(np.int64)
                return np.bincount(labels, minlength=spec.n_classes), "training images"
        except (K49Error, OSError, ValueError):
            pass
    support = (metrics or {}).get("per_class", {}).get("support")
    if support is not None and len(support) == spec.n_classes:
        return np.asarray(support, dtype=np.int64), "test images"
    if len(spec.test_counts) == spec.n_classes:
        return np.asarray(spec.test_counts, dtype=np.int64), "test images"
    return None, None


def _synthetic_notice(data: DatasetFacts) -> str:
    built = (data.synthetic_info or {}).get("summary")
    return ("Trained and tested on synthetic data, not K49: K49-like images rendered from "
            f"fonts by `k49 data synth`{', ' + built if built else ''}. Its scores say nothing "
            "about real Kuzushiji; retrain with `--dataset k49` before using it on real "
            "characters.")


def _intended_use(spec: DatasetSpec) -> str:
    return ("Research and teaching: classifying one Kuzushiji character already cut out "
            "and brought to K49's form (28x28 grayscale, white ink on black, centred), e.g. to "
            "compare architectures or explain predictions. Not for transcribing documents: it "
            "neither finds nor segments characters, and it always answers with one of its "
            f"{spec.n_classes} classes, even for an image that is none of them.")


def _limitations(facts: dict[str, Any], run: RunDir, public: bool) -> list[str]:
    out = []
    if facts["synthetic"]:
        out.append("Synthetic training and test data: font renderings differ from handwritten "
                   "Kuzushiji, so accuracy on real characters is unknown.")
    rarest = facts["rarest_classes"]
    if rarest and facts["rarity_basis"] == "training images":
        least = rarest[0]
        out.append(f"Class imbalance: the rarest class ({least['char']}) has {least['count']:,}"
                   " training images; rare classes are recognised less reliably (see their "
                   "recall above), so judge it by balanced accuracy rather than accuracy.")
    elif rarest:
        out.append("Class imbalance: rare classes are recognised less reliably (see their "
                   "recall above), so judge it by balanced accuracy rather than accuracy.")
    if facts["dataset"]["subset"]:
        out.append(f"Trained on a subset of {facts['dataset']['subset'].get('size', 0):,} "
                   "training images (--limit-train), not the whole training split.")
    if facts["still_improving"]:
        out.append("Validation scores were still improving when training stopped: more epochs "
                   "would change these results.")
    out.append("Input must be in K49's form (28x28, white ink on black, character centred); "
               "bring other images into it with `k49.deploy.images.to_k49`, or predictions "
               "are meaningless.")
    metrics = facts["metrics"]
    if metrics is None:
        where = run.path.name if public else run.path
        out.append(f"No test metrics: {RunDir.METRICS} is missing from run {where}; compute it "
                   f"with `k49 evaluate {where}`.")
    elif metrics.get("ece") is not None:
        out.append(f"Probabilities are softmax outputs, calibrated only as well as the test "
                   f"set shows (expected calibration error {metrics['ece']:.3f}).")
    return out


def _metric_rows(facts: dict[str, Any]) -> list[dict[str, str]]:
    metrics, intervals = facts["metrics"], facts["intervals"] or {}
    if metrics is None:
        return []
    rows = []
    for key, m in METRICS.items():
        if metrics.get(key) is None:
            continue
        ci = intervals.get(key)
        rows.append({"name": m.name[0].upper() + m.name[1:], "value": m.format(metrics[key]),
                     "ci": m.format_interval(*ci, digits=2 if m.percent else 4) if ci else DASH})
    return rows


def _num(value: Any) -> str:
    """Thousands separators for integers; a dash for None."""
    if value is None:
        return DASH
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
