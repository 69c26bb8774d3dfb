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

from k49.report.aggregate import finite_or_none, summary_rows
from k49.report.collect import Study

DASH = "—"
#: Between an interval's ends (an en dash).
RANGE = "–"


def format_percent(x: Any, sd: Any = None, digits: int = 2) -> str:
    """0.12345 -> "12.35%"; with an sd: "12.35 ± 0.40%"; `digits` after the point."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return (f"{100 * v:.{digits}f}%" if s is None
            else f"{100 * v:.{digits}f} ± {100 * s:.{digits}f}%")


def format_fraction(x: Any, sd: Any = None, digits: int = 4) -> str:
    """0.912345 -> "0.9123" (AUCs); with an sd: "0.9123 ± 0.0040"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return f"{v:.{digits}f}" if s is None else f"{v:.{digits}f} ± {s:.{digits}f}"


def format_int(x: Any, sd: Any = None) -> str:
    """1234567 -> "1,234,567" (an sd of 0, as for a model's parameters, is not shown)."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    text = f"{round(v):,}"
    return text if not s else f"{text} ± {round(s):,}"


def format_flops(x: Any, sd: Any = None) -> str:
    """Forward FLOPs per image in millions: 856128 -> "0.86 M"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return f"{v / 1e6:,.2f} M" if not s else f"{v / 1e6:,.2f} ± {s / 1e6:,.2f} M"


def _seconds(v: float) -> str:
    if v < 60:
        return f"{v:.1f} s"
    if v < 3600:
        m, s = divmod(round(v), 60)
        return f"{m} min {s:02d} s"
    h, rest = divmod(round(v), 3600)
    return f"{h} h {rest // 60:02d} min"


def format_seconds(x: Any, sd: Any = None) -> str:
    """8.1 -> "8.1 s", 125 -> "2 min 05 s", 3720 -> "1 h 02 min"; with an sd: "8.1 ± 0.3 s"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    if s is None:
        return _seconds(v)
    if v < 60 and s < 60:
        return f"{v:.1f} ± {s:.1f} s"
    return f"{_seconds(v)} ± {_seconds(s)}"


def format_range(low: Any, high: Any, scale: float = 100.0, digits: int = 1) -> str:
    """An interval's ends, "85.9–88.1" (scale 100: percentages) or "0.9901–0.9920" (scale 1,
    digits 4); DASH when either end is missing."""
    lo, hi = finite_or_none(low), finite_or_none(high)
    if lo is None or hi is None:
        return DASH
    return f"{scale * lo:.{digits}f}{RANGE}{scale * hi:.{digits}f}"


def with_interval(text: str, low: Any, high: Any, scale: float = 100.0, digits: int = 1) -> str:
    """`text` followed by its interval in brackets ("87.0% (85.9–88.1)"); `text` alone when
    the interval is missing."""
    ends = format_range(low, high, scale, digits)
    return text if ends == DASH or text == DASH else f"{text} ({ends})"


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


#: Percentages in the table have one decimal (their intervals are rarely narrower).
_PERCENT = partial(format_percent, digits=1)
_PCT_CI, _AUC_CI = (100.0, 1), (1.0, 4)

#: The results table's columns, in order (the summary's keys, formatted for people).
COLUMNS: tuple[Column, ...] = (
    Column("model", "Model", False),
    Column("seed", "Seed", False),
    Column("params", "Params", True, format_int, "trainable parameters"),
    Column("flops", "FLOPs", True, format_flops,
           "forward FLOPs per image (2 per multiply-add), in millions"),
    Column("balanced_accuracy", "Balanced acc.", True, _PERCENT,
           "mean over the classes of each class's recall (the K49 authors' metric), with its "
           "95% interval", _PCT_CI),
    Column("accuracy", "Accuracy", True, _PERCENT, "top-1 accuracy, with its 95% interval",
           _PCT_CI),
    Column("top5_accuracy", "Top-5", True, _PERCENT, "top-5 accuracy"),
    Column("auc_macro", "AUC (macro)", True, format_fraction,
           "mean of the one-vs-rest ROC AUCs of the classes, with its 95% interval", _AUC_CI),
    Column("auc_inverse_frequency", "AUC (inv. freq.)", True, format_fraction,
           "one-vs-rest ROC AUCs weighted by the inverse of each class's test count, with its "
           "95% interval", _AUC_CI),
    Column("f1_macro", "F1 (macro)", True, _PERCENT,
           "mean of the classes' F1 scores, with its 95% interval", _PCT_CI),
    Column("ece", "ECE", True, _PERCENT, "expected calibration error (lower is better)"),
    Column("train_seconds", "Train time", True, format_seconds, "wall-clock training time"),
)


def seed_text(n: int) -> str:
    """The seed cell of a model's aggregate row."""
    return f"mean ± sd ({n} seeds, t 95% CI)"


def table_rows(study: Study) -> list[dict[str, Any]]:
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


def table_caption(study: Study) -> str:
    """What the table's numbers and brackets are."""
    several = any(len(study.by_label(lb)) > 1 for lb in study.labels())
    text = ("Test-set metrics, one row per run, with 95% intervals in brackets: for a run, the "
            "stratified bootstrap over its test images")
    if several:
        text += ("; for a model run with several seeds, a row with the mean ± sd over its seeds "
                 "and Student's t interval of the mean")
    return text + "."
