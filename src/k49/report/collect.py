"""Gather a study's runs for the report: metrics, history and predictions of each run directory.

A study directory is what `k49 run` writes (DIR/<label>/seed-<n>/); a single run directory works
too. A run that is incomplete or whose evaluation fails is kept as a record with its status and
error, so the report lists it instead of stopping.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from k49.data.datasets import DatasetSpec, recorded_spec
from k49.errors import K49Error
from k49.evaluation.run import evaluate_run, run_metrics
from k49.io import helper_processes, process_context
from k49.models import list_models
from k49.runs.rundir import RunDir


@dataclass
class RunRecord:
    """One model x seed run as the report sees it."""

    label: str
    seed: int | None
    run_dir: Path
    status: str  # "ok", "incomplete" or "failed"
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def family(self) -> str:
        return self.metrics.get("family", "")

    @cached_property
    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels (N,), probs (N, C)) on the test set."""
        return RunDir(self.run_dir).read_predictions()


@dataclass
class CollectedRuns:
    """Every run read back from a study folder, and the dataset they share."""

    root: Path
    runs: list[RunRecord]
    spec: DatasetSpec

    @property
    def ok_runs(self) -> list[RunRecord]:
        return [r for r in self.runs if r.ok]

    @property
    def synthetic(self) -> bool:
        return self.spec.synthetic

    def labels(self) -> list[str]:
        """Distinct run labels with at least one good run, in the model zoo's order."""
        order = {name: i for i, name in enumerate(list_models())}
        labels = {r.label: r.metrics.get("model", r.label) for r in self.ok_runs}
        return sorted(labels, key=lambda lb: (order.get(labels[lb], len(order)), lb))

    def by_label(self, label: str) -> list[RunRecord]:
        return [r for r in self.ok_runs if r.label == label]

    def representative(self, label: str) -> RunRecord:
        """The run of `label` whose figures stand for it: its lowest seed."""
        return min(self.by_label(label), key=lambda r: r.seed or 0)


def load_run(run: RunDir, *, recompute: bool = False) -> RunRecord:
    """A run's record; metrics.json is computed when missing (or when `recompute`). A damaged
    or unfinished run becomes a record with its status and error, never an exception."""
    label, seed = run.label, run.seed
    try:
        config = run.read_config()
        failure = run.read_failure()
    except K49Error as e:
        return RunRecord(label, seed, run.path, "failed", str(e))
    if failure:
        return RunRecord(label, seed, run.path, "failed", failure, config=config)
    if not run.is_complete():
        return RunRecord(label, seed, run.path, "incomplete",
                         "training did not finish: rerun `k49 run` to resume it", config=config)
    try:
        metrics = (evaluate_run(run) if recompute or not run.has_metrics
                   else run_metrics(run))
        history = run.read_history()
        predictions = run.read_predictions()
    except K49Error as e:
        return RunRecord(label, seed, run.path, "failed", str(e), config=config)
    record = RunRecord(metrics.get("label", label), metrics.get("seed", seed), run.path, "ok",
                       metrics=metrics, config=config, history=history)
    record.__dict__["predictions"] = predictions  # the cached_property, already read
    return record


def _spec(name: str, runs: list[RunRecord]) -> DatasetSpec:
    """The study's dataset spec; for a user folder that has moved since training, K49's classes
    under the title the runs recorded."""
    title = next((r.config["dataset"].get("title") for r in runs
                  if r.config.get("dataset", {}).get("title")), name)
    return recorded_spec(name, title)


def load_study(root: str | os.PathLike, *, recompute: bool = False,
               jobs: int | None = None) -> CollectedRuns:
    """Every run under `root` (a study or a single run directory). Runs to evaluate (all of
    them with `recompute`, else those without metrics.json) are evaluated by `jobs` processes
    at once (default: `k49.io.helper_processes`)."""
    root = Path(root)
    dirs = RunDir.find(root)
    if not dirs:
        raise K49Error(f"no runs found in {root}: give a directory made by `k49 run` or "
                       "`k49 train`")
    to_evaluate = sum(recompute or not d.has_metrics for d in dirs)
    jobs = min(helper_processes() if jobs is None else jobs, to_evaluate)
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=process_context()) as pool:
            runs = list(pool.map(functools.partial(load_run, recompute=recompute), dirs))
    else:
        runs = [load_run(d, recompute=recompute) for d in dirs]
    names = {r.config.get("dataset", {}).get("name") for r in runs if r.config}
    names.discard(None)
    if len(names) > 1:
        raise K49Error(f"{root} mixes runs on datasets {', '.join(sorted(names))}: "
                       "report each dataset's study separately")
    _check_same_files(root, runs)
    spec = _spec(names.pop() if names else "synthetic", runs)
    return CollectedRuns(root, runs, spec)


def _check_same_files(root: Path, runs: list[RunRecord]) -> None:
    """Refuse runs whose data files differ (a user folder changed between runs: other images,
    other classes) although the dataset's name is the same: their scores do not compare."""
    by_files: dict[tuple, RunRecord] = {}
    for r in runs:
        checksums = (r.config.get("dataset") or {}).get("checksums")
        if checksums:  # runs from before checksums were recorded cannot be told apart
            by_files.setdefault(tuple(sorted(checksums.items())), r)
    if len(by_files) > 1:
        a, b = list(by_files.values())[:2]
        raise K49Error(
            f"{root} mixes runs trained on different files of dataset "
            f"{a.config['dataset'].get('name')}: {a.run_dir} and {b.run_dir} recorded other "
            "checksums (the folder's images or classes changed between them): report each "
            "set of runs from its own folder")

