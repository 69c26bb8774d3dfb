"""The report's time-to-accuracy table: training seconds each model needed to reach fractions of
the best final validation balanced accuracy.

The target is the highest, over the models, of the mean over seeds of each run's last-epoch
validation balanced accuracy. A model's time to a fraction of it is the mean over its seeds of
`time_to_reach` (training seconds only, evaluation excluded), or None ("not reached") when any
seed never reached it. The validation split is used on purpose: a training recipe must not look
at the test set. `write_time_to_accuracy` writes the rows to ROOT/time_to_accuracy.csv;
`time_table` formats them for the templates.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from k49.errors import InvalidInput
from k49.evaluation.time_to_accuracy import check_history, curve, time_to_reach
from k49.formats import format_percent, format_seconds
from k49.io import write_text
from k49.report import aggregate
from k49.report.collect import CollectedRuns, RunRecord

#: The fractions of the target the table reports, as (column suffix, fraction).
FRACTIONS = (("80", 0.80), ("90", 0.90), ("95", 0.95))
#: The history column measured (validation, never test).
KEY = "val_balanced_accuracy"
NOT_REACHED = "not reached"

#: Columns of time_to_accuracy.csv, in order (one row per model).
CSV_COLUMNS = (
    "model", "seeds", "final_val_balanced_accuracy", "train_seconds", "target_model", "target",
    *(f"{c}_{p}" for p, _ in FRACTIONS for c in ("threshold", "seconds_to", "seeds_reached")),
)


def timed_runs(study: CollectedRuns, label: str) -> list[RunRecord]:
    """The good runs of `label` with a usable history (one whose epochs all have training
    seconds): a damaged history leaves its run out instead of stopping the report."""
    out = []
    for r in study.by_label(label):
        try:
            if r.history and check_history(r.history):
                out.append(r)
        except InvalidInput:
            continue
    return out


def _final(history: Sequence[Mapping[str, Any]]) -> float:
    """The run's last epoch's validation balanced accuracy (NaN without one)."""
    values = curve(history, KEY)[1]
    return float(values[-1]) if len(values) else math.nan


def _total(history: Sequence[Mapping[str, Any]]) -> float:
    return float(sum(float(r["seconds"]) for r in history))


def time_to_accuracy_rows(study: CollectedRuns) -> list[dict[str, Any]]:
    """One row per model with a history (see the module): its seeds, mean final validation
    balanced accuracy, mean total training seconds, the target and its model, and per fraction
    p ("80", "90", "95") threshold_p, seconds_to_p (None: not reached by every seed) and
    seeds_reached_p. Empty when no run has a history."""
    runs = {lb: timed_runs(study, lb) for lb in study.labels()}
    runs = {lb: rs for lb, rs in runs.items() if rs}
    finals = {lb: aggregate.mean(_final(r.history) for r in rs) for lb, rs in runs.items()}
    scored = [(v, lb) for lb, v in finals.items() if math.isfinite(v)]
    if not scored:
        return []
    target, target_model = max(scored, key=lambda t: t[0])  # a tie: the study's first
    rows = []
    for lb, rs in runs.items():
        row: dict[str, Any] = {
            "model": lb, "seeds": len(rs), "final_val_balanced_accuracy": finals[lb],
            "train_seconds": aggregate.mean(_total(r.history) for r in rs),
            "target_model": target_model, "target": target,
        }
        for p, fraction in FRACTIONS:
            threshold = fraction * target
            times = [time_to_reach(r.history, threshold, KEY) for r in rs]
            reached = [t for t in times if t is not None]
            row[f"threshold_{p}"] = threshold
            row[f"seconds_to_{p}"] = aggregate.mean(reached) if len(reached) == len(rs) else None
            row[f"seeds_reached_{p}"] = len(reached)
        rows.append(row)
    return rows


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else ""
    return "" if v is None else v


def write_time_to_accuracy(rows: Sequence[Mapping[str, Any]],
                           root: str | os.PathLike) -> Path:
    """Write ROOT/time_to_accuracy.csv (CSV_COLUMNS; "not reached" is an empty seconds_to
    cell, with seeds_reached below seeds), atomically; return its path."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: _csv_value(row.get(c)) for c in CSV_COLUMNS} for row in rows)
    return write_text(Path(root) / "time_to_accuracy.csv", buf.getvalue())


def _reached_text(row: Mapping[str, Any], p: str) -> str:
    seconds, n, hit = row[f"seconds_to_{p}"], row["seeds"], row[f"seeds_reached_{p}"]
    if seconds is not None:
        return format_seconds(seconds)
    return NOT_REACHED if hit == 0 else f"{NOT_REACHED} ({n - hit} of {n} seeds missed)"


def time_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The table as the templates show it: caption, header, which columns are numeric, and
    rows of {"text", "value"} cells; None without rows."""
    if not rows:
        return None
    first = rows[0]
    target, best = first["target"], first["target_model"]
    several = max(r["seeds"] for r in rows) > 1
    header = ["Model", *(f"{p}% of target ({format_percent(first[f'threshold_{p}'], digits=1)})"
                         for p, _ in FRACTIONS),
              "Total training time", "Final val. balanced acc."]
    body = []
    for r in rows:
        cells = [{"text": r["model"], "value": r["model"]}]
        cells += [{"text": _reached_text(r, p), "value": r[f"seconds_to_{p}"]}
                  for p, _ in FRACTIONS]
        cells += [{"text": format_seconds(r["train_seconds"]), "value": r["train_seconds"]},
                  {"text": format_percent(r["final_val_balanced_accuracy"], digits=1),
                   "value": r["final_val_balanced_accuracy"]}]
        body.append({"model": r["model"], "cells": cells})
    caption = (
        f"Training time each model needed to first reach 80%, 90% and 95% of the target, "
        f"{best}'s final validation balanced accuracy ({format_percent(target, digits=1)}, "
        "the best of the models' last-epoch values): the cumulative training seconds at the "
        "end of the first epoch at or above the threshold"
        + (", the mean over a model's seeds, and \"not reached\" if any seed never reached it"
           if several else ", \"not reached\" if no epoch did")
        + "; evaluation time is excluded. The validation split is used, not the test set, on "
        "purpose: a training recipe must not look at the test set.")
    return {"caption": caption, "header": header, "numeric": [False] + [True] * 5,
            "rows": body}
