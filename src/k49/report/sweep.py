"""The report's sweep section, from the sweep summary: figures, findings and the section's text.

The summary is a `SweepSummary` (`k49.report.sweep_data`), filled by `k49 sweep` and written
as OUT/sweep.json (`SweepSummary.from_json` reads it back); the report never reads the Optuna
study.

    figures = sweep_figures(summary, out / "figures")     # {stem: [svg, png per theme]}
    lines = sweep_findings(summary)                       # sentences for the findings
    section = sweep_section(summary, figures)             # render_report(..., sweep=section)
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from k49.formats import format_percent, format_seconds
from k49.report import sweep_figures as _registers  # noqa: F401 - registers the figures
from k49.report.figures.registry import draw, figures_of
from k49.report.sweep_data import (
    SweepSummary,
    format_objective,
    format_param,
    is_fraction,
    is_numeric,
    objective_name,
)
from k49.viz import THEMES

__all__ = ["most_important_sentence", "sweep_captions", "sweep_figures", "sweep_findings",
           "sweep_section"]


def sweep_captions(summary: SweepSummary) -> dict[str, str]:
    """One sentence per sweep figure stem."""
    return {f.stem: f.caption_for(summary=summary) for f in figures_of("sweep")}


def sweep_figures(summary: SweepSummary, out_dir: str | os.PathLike,
                  themes: Sequence[str] = THEMES) -> dict[str, list[Path]]:
    """Write every sweep figure the summary allows to OUT_DIR/<theme>/sweep_*.{svg,png};
    return {stem: paths}. A figure that fails is skipped with a warning."""
    plan = ((f.stem, lambda f=f: f.build(summary)) for f in figures_of("sweep"))
    return draw(plan, out_dir, themes)


def _not_enough(summary: SweepSummary) -> str | None:
    """Why the hyperparameters cannot be ranked, or None when they can."""
    done, names, rank = summary.complete(), summary.param_names(), summary.ranking()
    n = summary.n_trials
    pruned = len(summary.trials_in("PRUNED"))
    if not done:
        if n and pruned == n:
            return f"all {n} trials were pruned, none completed"
        return "no trial completed" if n else "the sweep has no trial"
    if len(done) < 2:
        return "only 1 trial completed"
    if len(names) < 2:
        return f"only one hyperparameter ({names[0]}) was searched" if names else \
            "no hyperparameter was searched"
    if len(rank) < 2:
        return (f"the importance could not be computed from the {len(done)} complete trials "
                "(the objective may not vary)")
    return None


def most_important_sentence(summary: SweepSummary) -> str:
    """Which hyperparameter mattered most, with its importance and the method; or why there is
    not enough to rank them."""
    name = summary.name
    reason = _not_enough(summary)
    if reason is not None:
        return f"Sweep `{name}`: not enough to rank the hyperparameters: {reason}."
    (top, v), (second, v2) = summary.ranking()[:2]
    return (f"Sweep `{name}`: {top} mattered most for the {summary.target_name()} "
            f"({summary.importance_method} importance {v:.2f}, next {second} at {v2:.2f}), "
            f"over {len(summary.complete())} complete trials of {summary.n_trials}.")


def _params_text(params: Mapping[str, Any], order: Sequence[str]) -> str:
    keys = [k for k in order if k in params] + [k for k in params if k not in order]
    return ", ".join(f"{k} {format_param(params[k])}" for k in keys)


def sweep_findings(summary: SweepSummary) -> list[str]:
    """The sweep's findings: what mattered most, the best configuration, the Pareto front."""
    lines = [most_important_sentence(summary)]
    keys = summary.objectives
    b = summary.best_trial()
    if b is not None:
        label = summary.label_of(b.number)
        lines.append(f"Best sweep trial: #{b.number}{f' (`{label}`)' if label else ''}, "
                     f"{format_objective(keys[0], b.value())} {objective_name(keys[0])} with "
                     f"{_params_text(b.params, summary.param_names())}.")
    if len(keys) > 1:
        on_front = set(summary.pareto_numbers())
        front = sorted((t for t in summary.complete() if t.number in on_front
                        and t.value(1) is not None), key=lambda t: t.value(1))
        if len(front) > 1:
            lo, hi = front[0], front[-1]
            lines.append(
                f"Accuracy against cost: {len(front)} trials are on the Pareto front, from "
                f"#{lo.number} ({format_objective(keys[0], lo.value())} in "
                f"{format_objective(keys[1], lo.value(1))}) to #{hi.number} "
                f"({format_objective(keys[0], hi.value())} in "
                f"{format_objective(keys[1], hi.value(1))}).")
    return lines


def _cell(key: str, v: Any) -> str:
    if is_fraction(key):
        return format_percent(v)
    return format_seconds(v) if "seconds" in key else format_param(v)


def _best_table(summary: SweepSummary, tested: Collection[str]) -> dict[str, Any]:
    """The best configurations: header titles, which are numeric, and rows of cells."""
    keys = summary.objectives
    entries = summary.best
    used = [n for n in summary.param_names() if any(n in e.params for e in entries)]
    header = ["Rank", "Trial", "Label", *(objective_name(k).capitalize() for k in keys), *used]
    numeric = [True, True, False, *(True for _ in keys),
               *(is_numeric([e.params.get(n) for e in entries]) for n in used)]
    rows = []
    front = set(summary.pareto_numbers()) if len(keys) > 1 else set()
    for e in entries:
        label = e.label or "—"
        rows.append({"tested": label in tested, "pareto": e.number in front,
                     "cells": [str(e.rank), f"#{e.number}", label,
                               *(_cell(k, e.values[i] if i < len(e.values) else None)
                                 for i, k in enumerate(keys)),
                               *(format_param(e.params.get(n)) for n in used)]})
    return {"header": header, "numeric": numeric, "rows": rows}


def sweep_section(summary: SweepSummary, figures: Mapping[str, Sequence[str | os.PathLike]],
                  tested: Collection[str] = ()) -> dict[str, Any]:
    """What `render_report(..., sweep=...)` shows: the sweep's name and protocol, the
    "mattered most" sentence, the importance ranking (method named), the figures and their
    captions, and the best configurations (`tested`: labels retrained and in the results)."""
    rank = summary.ranking()
    keys = summary.objectives
    table = _best_table(summary, set(tested))
    if len(keys) > 1:
        best_note = ("The Pareto front's trials, most accurate first: none is beaten on both "
                     f"{' and '.join(objective_name(k) for k in keys)}.")
    else:
        best_note = f"The complete trials with the best {objective_name(keys[0])}."
    if any(r["tested"] for r in table["rows"]):
        best_note += (" Those marked ✓ were retrained with several seeds on the full training "
                      "split and evaluated once on the test set: they are in the results above.")
    captions = sweep_captions(summary)
    return {
        "name": summary.name,
        "space_file": summary.space_file,
        "protocol": summary.protocol,
        "states": summary.counts(),
        "objectives": [f"{objective_name(k)} ({'maximize' if summary.maximize(i) else 'minimize'})"
                       for i, k in enumerate(keys)],
        "sentence": most_important_sentence(summary),
        "ranked": len(rank) >= 2 and _not_enough(summary) is None,
        "method": summary.importance_method,
        "target": summary.target_name(),
        "importance": [{"rank": i + 1, "name": n, "value": f"{v:.3f}"}
                       for i, (n, v) in enumerate(rank)],
        "best": table,
        "best_note": best_note,
        "figures": {stem: list(paths) for stem, paths in figures.items()},
        "captions": {stem: captions.get(stem, stem) for stem in figures},
    }
