"""`k49 report DIR`: evaluate every run, draw every figure, write the findings and the report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from k49.data.load import load_dataset
from k49.errors import K49Error
from k49.evaluation.convergence import RULE
from k49.io import remove_stale_parts
from k49.report.collect import CollectedRuns, load_study
from k49.report.comparisons import compare_all, statistics_note, write_comparisons
from k49.report.figures import figure_captions, report_figures
from k49.report.findings import answers, findings
from k49.report.render import render_report, write_summary
from k49.report.sweep import sweep_figures, sweep_findings, sweep_section
from k49.report.sweep_data import SweepSummary
from k49.report.time_table import time_to_accuracy_rows, write_time_to_accuracy


def _dataset_arrays(study: CollectedRuns) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Training counts per class and the test images, when the study's data is on disk."""
    run = next((r for r in study.ok_runs), None)
    if run is None:
        return None, None
    cfg = run.config.get("config", {})
    try:
        ds = load_dataset(study.spec.name, cfg.get("data_dir"), offline=True, progress=False)
    except K49Error:
        return None, None
    labels, _ = run.predictions
    if len(labels) != len(ds.test_labels) or not np.array_equal(labels, ds.test_labels):
        return np.bincount(ds.train_labels, minlength=ds.n_classes), None
    return np.bincount(ds.train_labels, minlength=ds.n_classes), ds.test_images


def _notes(study: CollectedRuns, seconds: dict[str, float],
           compared: dict[str, Any]) -> dict[str, Any]:
    runs = study.ok_runs
    configs = [r.config.get("config", {}) for r in runs]
    first = runs[0].config if runs else {}

    def distinct(key):
        return sorted({str(c.get(key)) for c in configs})

    synth = first.get("dataset", {}).get("synthetic_info") or {}
    return {
        "dataset": study.spec.label(),
        **({"synthetic_set": synth["summary"]} if synth.get("summary") else {}),
        **({"font_warning": synth["font_warning"]} if synth.get("font_warning") else {}),
        "synthetic": study.synthetic,
        "runs": len(study.runs),
        "good_runs": len(runs),
        "seeds": sorted({r.seed for r in runs if r.seed is not None}),
        "epochs": distinct("epochs"),
        "batch_size": distinct("batch_size"),
        "limit_train": distinct("limit_train"),
        "train_size": first.get("dataset", {}).get("train_size"),
        "test_size": first.get("dataset", {}).get("test_size"),
        "versions": first.get("versions", {}),
        "device": first.get("device", {}),
        "statistics": statistics_note(study, compared),
        "convergence": RULE,
        "report_seconds": seconds,
    }


def build_report(root: str | os.PathLike, *, recompute: bool = False,
                 extra_notes: dict[str, Any] | None = None,
                 sweep: SweepSummary | None = None, jobs: int | None = None
                 ) -> dict[str, Any]:
    """Write ROOT/report/{index.html, README.md, comparisons.json, figures/},
    ROOT/summary.{csv,json} and ROOT/time_to_accuracy.csv (see `k49.report.time_table`).

    comparisons.json holds every comparison's numbers (see `k49.report.comparisons`): each
    interval and p-value of the findings can be recomputed from it and the runs' predictions.

    `sweep`, a `SweepSummary` (see `k49.report.sweep_data`), adds its figures (sweep_*),
    findings and a "Sweep" section. `jobs` processes evaluate the runs and draw the figures
    (default: `k49.io.helper_processes`).
    """
    root = Path(root)
    t0 = time.perf_counter()
    study = load_study(root, recompute=recompute, jobs=jobs)
    t_eval = time.perf_counter()
    train_counts, test_images = _dataset_arrays(study)
    out = root / "report"
    remove_stale_parts(out)  # left by a report killed midway
    figures = report_figures(study, out / "figures", train_counts=train_counts,
                             test_images=test_images, jobs=jobs)
    swept = sweep_figures(sweep, out / "figures") if sweep is not None else {}
    t_fig = time.perf_counter()
    compared = compare_all(study)
    comparisons_path = write_comparisons(compared, out / "comparisons.json")
    t_cmp = time.perf_counter()
    lines = (findings(study, train_counts, compared)
             + (sweep_findings(sweep) if sweep is not None else []))
    csv_path, json_path = write_summary(study, root)
    times = time_to_accuracy_rows(study)
    times_path = write_time_to_accuracy(times, root)
    seconds = {"evaluation": t_eval - t0, "figures": t_fig - t_eval, "comparisons": t_cmp - t_fig}
    notes = {**_notes(study, seconds, compared), **(extra_notes or {})}
    section = None if sweep is None else sweep_section(sweep, swept, tested=study.labels())
    html, md = render_report(study, figures, figure_captions(study), lines, notes, out,
                             sweep=section, time_to_accuracy=times,
                             answers=answers(study, compared))
    seconds["total"] = time.perf_counter() - t0
    return {"html": html, "markdown": md, "summary_csv": csv_path, "summary_json": json_path,
            "time_to_accuracy_csv": times_path, "comparisons": comparisons_path,
            "figures": figures, "sweep_figures": swept, "findings": lines, "seconds": seconds,
            "study": study}
