"""Number formats and the report's results table (rendered by `k49.report.render`).

Each metric that has an interval is shown with it in brackets: "87.0% (85.9–88.1)" for a
percentage, "0.9912 (0.9901–0.9920)" for an AUC. A run's row has its stratified bootstrap
interval over the test images (from its metrics.json); a model with several seeds gets a
"mean ± sd" row whose interval is Student's t interval of the mean over the seeds. A run
evaluated before intervals existed has none: its cells show the value alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from k49.evaluation.metric_table import METRICS
from k49.formats import (
    DASH,
    finite_or_none,
    format_flops,
    format_int,
    format_seconds,
    with_interval,
)
from k49.report.aggregate import summary_rows
from k49.report.collect import CollectedRuns

# ---------------------------------------------------------------------------------------------
# The results table


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool
    fmt: Callable[..., str] | None = None
    tip: str = ""
    #: How the column's interval is shown: (scale, digits) for `format_range`; None: none.
    ci: tuple[float, int] | None = None


def _metric_column(key: str) -> Column:
    """A metric's column, as the metric table describes it; percentages with one decimal
    (their intervals are rarely narrower)."""
    m = METRICS[key]
    tip = m.description + (" (lower is better)" if m.lower_is_better else "")
    if m.interval:
        tip += ", with its 95% interval"
    return Column(key, m.title, True, partial(m.format, digits=1 if m.percent else None), tip,
                  ((100.0, 1) if m.percent else (1.0, 4)) if m.interval else None)


#: The results table's columns, in order (the summary's keys, formatted for people).
COLUMNS: tuple[Column, ...] = (
    Column("model", "Model", False),
    Column("seed", "Seed", False),
    Column("params", "Params", True, format_int, "trainable parameters"),
    Column("flops", "FLOPs", True, format_flops,
           "forward FLOPs per image (2 per multiply-add), in millions"),
    *(_metric_column(key) for key in ("balanced_accuracy", "accuracy", "top5_accuracy",
                                      "auc_macro", "auc_inverse_frequency", "f1_macro", "ece")),
    Column("train_seconds", "Train time", True, format_seconds, "wall-clock training time"),
)


def seed_text(n: int) -> str:
    """The seed cell of a model's aggregate row."""
    return f"mean ± sd ({n} seeds, t 95% CI)"


def table_rows(study: CollectedRuns) -> list[dict[str, Any]]:
    """The results table: one row per good run and, for a model with several seeds, one
    "mean ± sd" row after its seeds, each metric with its 95% interval (see the module).

    Each row is {"aggregate": bool, "cells": [{"text", "value"} per COLUMNS]}; "value" is what
    the column sorts on (a number, text, or None when missing).
    """
    rows: list[dict[str, Any]] = []
    summary = summary_rows(study)
    sds = {r["model"]: r for r in summary if r["seed"] == "sd"}
    for r in summary:
        if r["seed"] == "sd":
            continue
        aggregate = r["seed"] == "mean"
        sd = sds.get(r["model"], {}) if aggregate else {}
        cells = []
        for col in COLUMNS:
            if col.key == "model":
                cells.append({"text": str(r["model"]), "value": str(r["model"])})
            elif col.key == "seed":
                if aggregate:
                    cells.append({"text": seed_text(len(study.by_label(r["model"]))),
                                  "value": "mean"})
                else:
                    seed = "" if r["seed"] is None else str(r["seed"])
                    cells.append({"text": seed or DASH, "value": seed})
            else:
                value = finite_or_none(r.get(col.key))
                text = col.fmt(value, sd.get(col.key)) if col.fmt else str(value)
                if col.ci:
                    text = with_interval(text, r.get(f"{col.key}_ci_low"),
                                         r.get(f"{col.key}_ci_high"), *col.ci)
                cells.append({"text": text, "value": value})
        rows.append({"aggregate": aggregate, "cells": cells})
    return rows


def table_caption(study: CollectedRuns) -> str:
    """What the table's numbers and brackets are."""
    several = any(len(study.by_label(lb)) > 1 for lb in study.labels())
    text = ("Test-set metrics, one row per run, with 95% intervals in brackets: for a run, the "
            "stratified bootstrap over its test images")
    if several:
        text += ("; for a model run with several seeds, a row with the mean ± sd over its seeds "
                 "and Student's t interval of the mean")
    return text + "."
