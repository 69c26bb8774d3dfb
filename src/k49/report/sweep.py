"""The report's sweep section, from the sweep summary: figures, findings and the section's text.

The summary is a plain dict written by `k49 sweep` (the report never reads the Optuna study):
name, space_file, objectives, directions, dataset (the label for titles), synthetic, n_trials,
states, trials (number, state, values, params, seconds, intermediate), importance (method, target,
values), best (rank, number, label, params, values), pareto (trial numbers) and protocol.

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
    Summary,
    best,
    complete,
    format_objective,
    format_param,
    importance_method,
    importance_target,
    is_fraction,
    is_numeric,
    objective_name,
    objectives,
    param_names,
    pareto_numbers,
    ranking,
    trials,
    value,
)
from k49.viz import THEMES

__all__ = ["most_important_sentence", "sweep_captions", "sweep_figures", "sweep_findings",
           "sweep_section"]


def sweep_captions(summary: Summary) -> dict[str, str]:
    """One sentence per sweep figure stem."""
    return {f.stem: f.caption_for(summary=summary) for f in figures_of("sweep")}


def sweep_figures(summary: Summary, out_dir: str | os.PathLike,
                  themes: Sequence[str] = THEMES) -> dict[str, list[Path]]:
    """Write every sweep figure the summary allows to OUT_DIR/<theme>/sweep_*.{svg,png};
    return {stem: paths}. A figure that fails is skipped with a warning."""
    plan = ((f.stem, lambda f=f: f.build(summary)) for f in figures_of("sweep"))
    return draw(plan, out_dir, themes)


def _not_enough(summary: Summary) -> str | None:
    """Why the hyperparameters cannot be ranked, or None when they can."""
    done, names, rank = complete(summary), param_names(summary), ranking(summary)
    n = summary.get("n_trials", len(trials(summary)))
    pruned = len(trials(summary, "PRUNED"))
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


def most_important_sentence(summary: Summary) -> str:
    """Which hyperparameter mattered most, with its importance and the method; or why there is
    not enough to rank them."""
    name = summary.get("name") or "sweep"
    reason = _not_enough(summary)
    if reason is not None:
        return f"Sweep `{name}`: not enough to rank the hyperparameters: {reason}."
    (top, v), (second, v2) = ranking(summary)[:2]
    n = summary.get("n_trials", len(trials(summary)))
    return (f"Sweep `{name}`: {top} mattered most for the {importance_target(summary)} "
            f"({importance_method(summary)} importance {v:.2f}, next {second} at {v2:.2f}), over "
            f"{len(complete(summary))} complete trials of {n}.")


def _params_text(params: Mapping[str, Any], order: Sequence[str]) -> str:
    keys = [k for k in order if k in params] + [k for k in params if k not in order]
    return ", ".join(f"{k} {format_param(params[k])}" for k in keys)


def sweep_findings(summary: Summary) -> list[str]:
    """The sweep's findings: what mattered most, the best configuration, the Pareto front."""
    lines = [most_important_sentence(summary)]
    keys = objectives(summary)
    b = best(summary)
    if b is not None:
        label = next((e.get("label") for e in summary.get("best") or []
                      if e.get("number") == b["number"] and e.get("label")), None)
        lines.append(f"Best sweep trial: #{b['number']}{f' (`{label}`)' if label else ''}, "
                     f"{format_objective(keys[0], value(b))} {objective_name(keys[0])} with "
                     f"{_params_text(b.get('params') or {}, param_names(summary))}.")
    if len(keys) > 1:
        front = sorted((t for t in complete(summary) if t["number"] in
                        set(pareto_numbers(summary)) and value(t, 1) is not None),
                       key=lambda t: value(t, 1))
        if len(front) > 1:
            lo, hi = front[0], front[-1]
            lines.append(
                f"Accuracy against cost: {len(front)} trials are on the Pareto front, from "
                f"#{lo['number']} ({format_objective(keys[0], value(lo))} in "
                f"{format_objective(keys[1], value(lo, 1))}) to #{hi['number']} "
                f"({format_objective(keys[0], value(hi))} in "
                f"{format_objective(keys[1], value(hi, 1))}).")
    return lines


def _cell(key: str, v: Any) -> str:
    if is_fraction(key):
        return format_percent(v)
    return format_seconds(v) if "seconds" in key else format_param(v)


def _best_table(summary: Summary, tested: Collection[str]) -> dict[str, Any]:
    """The best configurations: header titles, which are numeric, and rows of cells."""
    keys = objectives(summary)
    entries = list(summary.get("best") or [])
    order = param_names(summary)
    used = [n for n in order if any(n in (e.get("params") or {}) for e in entries)]
    header = ["Rank", "Trial", "Label", *(objective_name(k).capitalize() for k in keys), *used]
    numeric = [True, True, False, *(True for _ in keys),
               *(is_numeric([(e.get("params") or {}).get(n) for e in entries]) for n in used)]
    rows = []
    front = set(pareto_numbers(summary)) if len(keys) > 1 else set()
    for e in entries:
        vals = e.get("values") or []
        vals = vals if isinstance(vals, (list, tuple)) else [vals]
        label = str(e.get("label") or "—")
        rows.append({"tested": label in tested, "pareto": e.get("number") in front,
                     "cells": [str(e.get("rank", "—")), f"#{e.get('number', '—')}", label,
                               *(_cell(k, vals[i] if i < len(vals) else None)
                                 for i, k in enumerate(keys)),
                               *(format_param((e.get("params") or {}).get(n)) for n in used)]})
    return {"header": header, "numeric": numeric, "rows": rows}


def _states(summary: Summary) -> str:
    states = {str(k).upper(): v for k, v in (summary.get("states") or {}).items()}
    n = summary.get("n_trials", len(trials(summary)))
    return (f"{n} trials: {states.get('COMPLETE', 0)} complete, {states.get('PRUNED', 0)} "
            f"pruned, {states.get('FAIL', 0)} failed")


def sweep_section(summary: Summary, figures: Mapping[str, Sequence[str | os.PathLike]],
                  tested: Collection[str] = ()) -> dict[str, Any]:
    """What `render_report(..., sweep=...)` shows: the sweep's name and protocol, the
    "mattered most" sentence, the importance ranking (method named), the figures and their
    captions, and the best configurations (`tested`: labels retrained and in the results)."""
    rank = ranking(summary)
    keys = objectives(summary)
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
        "name": str(summary.get("name") or "sweep"),
        "space_file": str(summary.get("space_file") or ""),
        "protocol": str(summary.get("protocol") or ""),
        "states": _states(summary),
        "objectives": [f"{objective_name(k)} ({d})" for k, d in
                       zip(keys, list(summary.get("directions") or []) +
                           ["maximize"] * len(keys), strict=False)],
        "sentence": most_important_sentence(summary),
        "ranked": len(rank) >= 2 and _not_enough(summary) is None,
        "method": importance_method(summary),
        "target": importance_target(summary),
        "importance": [{"rank": i + 1, "name": n, "value": f"{v:.3f}"}
                       for i, (n, v) in enumerate(rank)],
        "best": table,
        "best_note": best_note,
        "figures": {stem: list(paths) for stem, paths in figures.items()},
        "captions": {stem: captions.get(stem, stem) for stem in figures},
    }
