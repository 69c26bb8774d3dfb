"""The sweep's figures, drawn from the sweep summary (`k49.report.sweep_data.SweepSummary`), and
registered like every figure of the report (`source="sweep"`), each with its caption.

Each `*_figure(summary)` returns a `Figure` drawn under the current theme (`k49.viz.save_figure`
builds it once per theme); each title ends with the summary's dataset label, so a sweep on
synthetic data always says so.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from k49.report.figures.registry import figure
from k49.report.figures.style import (
    Maker,
    finish,
    foreground,
    is_dark,
    log_axis,
    muted,
    subtitle,
)
from k49.report.sweep_data import (
    SweepSummary,
    format_objective,
    format_param,
    is_fraction,
    is_numeric,
    log_scaled,
    objective_name,
)
from k49.viz import CYCLE, new_figure

#: At most this many parameters get an axis in the parallel coordinates.
PARALLEL_AXES = 6


def _percent_axis(ax, key: str, axis: str = "y") -> None:
    if is_fraction(key):
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, 0))


def importance_figure(summary: SweepSummary) -> Figure:
    """Horizontal bars of each hyperparameter's importance, the most important on top."""
    rank = summary.ranking()
    method = summary.importance_method
    names, vals = [n for n, _ in rank][::-1], np.array([v for _, v in rank][::-1])
    fig = new_figure(figsize=(6.5, max(2.4, 0.42 * len(rank) + 1.4)))
    ax = fig.add_subplot()
    y = np.arange(len(names))
    colours = [CYCLE[1] if i == len(names) - 1 else CYCLE[0] for i in y]
    ax.barh(y, vals, color=colours, height=0.65)
    top = float(vals.max()) if len(vals) else 1.0
    for yi, v in zip(y, vals, strict=True):
        ax.text(v + 0.01 * top, yi, f"{v:.3f}", va="center", fontsize="small")
    ax.set_yticks(y, names)
    ax.set_xlim(0, top * 1.15 or 1)
    ax.set_xlabel(f"importance ({method})")
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    subtitle(ax, f"{method} for {summary.target_name()}, over "
                 f"{len(summary.complete())} complete trials")
    fig.suptitle(summary.title(f"Hyperparameter importance ({method})"))
    return finish(fig)


def history_figure(summary: SweepSummary) -> Figure:
    """Objective 1 per trial: complete trials as dots, pruned as faint x, the best so far."""
    key = summary.objectives[0]
    done = summary.complete()
    fig = new_figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    pruned = [(t.number, s[-1]) for t in summary.trials_in("PRUNED") if len(s := t.epochs()[1])]
    if pruned:
        px, py = zip(*pruned, strict=True)
        ax.scatter(px, py, marker="x", s=18, color=muted(), alpha=0.5, linewidths=0.9,
                   label="pruned (score when stopped)")
    if done:
        x = np.array([t.number for t in done], dtype=float)
        y = np.array([t.value() for t in done])
        ax.scatter(x, y, s=20, color=CYCLE[0], zorder=3, label="complete")
        acc = np.maximum.accumulate if summary.maximize() else np.minimum.accumulate
        last = max([t.number for t in summary.trials] + [x[-1]])
        ax.step(np.append(x, last), np.append(acc(y), acc(y)[-1]), where="post",
                color=CYCLE[1], lw=1.6, zorder=2, label="best so far")
        b = summary.best_trial()
        note = f"best {format_objective(key, b.value())} (trial {b.number})"
    else:
        note = "no complete trial"
    ax.set_xlabel("trial")
    ax.set_ylabel(objective_name(key))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _percent_axis(ax, key)
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    if done or pruned:
        ax.legend(fontsize="small", loc="best")
    subtitle(ax, f"{summary.counts()}; {note}")
    fig.suptitle(summary.title("Sweep history"))
    return finish(fig)


def _axis(vals: list[Any], jitter: np.ndarray,
          name: str = "") -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Heights in [0, 1] of each trial's value on one axis, and the (height, label) ticks."""
    present = [v for v in vals if v is not None]
    if is_numeric(vals):
        log = log_scaled(vals, name)
        t = np.array([np.nan if v is None else float(v) for v in vals])
        t = np.log10(t) if log else t
        lo, hi = float(np.nanmin(t)), float(np.nanmax(t))
        if hi - lo <= 0:
            return np.where(np.isnan(t), np.nan, 0.5), [(0.5, format_param(present[0]))]
        distinct = sorted(set(present))
        if all(isinstance(v, int) for v in present) and len(distinct) <= 6:
            ticks = distinct
        else:
            ticks = [10 ** u if log else u for u in np.linspace(lo, hi, 3)]
        scale = (lambda u: (np.log10(u) - lo) / (hi - lo)) if log else \
            (lambda u: (u - lo) / (hi - lo))
        return (t - lo) / (hi - lo), [(float(scale(u)), format_param(u)) for u in ticks]
    cats = sorted({format_param(v) for v in present})
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    h = np.array([np.nan if v is None else pos[format_param(v)] for v in vals]) + jitter
    return h, [(p, c) for c, p in pos.items()]


def parallel_figure(summary: SweepSummary) -> Figure:
    """Parallel coordinates of the complete trials over the most important parameters,
    each line coloured by objective 1."""
    key = summary.objectives[0]
    done = summary.complete()
    names = summary.param_names()[:PARALLEL_AXES]
    imp = dict(summary.ranking())
    scores = np.array([t.value() for t in done])
    sign = 1 if summary.maximize() else -1
    order = np.argsort(sign * scores, kind="stable")  # the best drawn last, on top
    jitter = (np.random.default_rng(0).random(len(done)) - 0.5) * 0.04
    axes = [_axis([t.params.get(n) for t in done], jitter, n) for n in names]
    k = len(names)
    fig = new_figure(figsize=(max(6.5, 1.3 * k + 2.2), 4.6))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    if is_dark():  # viridis's darkest end vanishes on a dark background
        cmap = ListedColormap(cmap(np.linspace(0.22, 1.0, 256)))
    cmap = cmap if sign > 0 else cmap.reversed()
    lo, hi = (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)
    norm = Normalize(lo, hi if hi > lo else lo + 1e-9)
    xs = np.arange(k)
    for i in order:
        ax.plot(xs, [h[i] for h, _ in axes], color=cmap(norm(scores[i])), lw=1.2, alpha=0.8,
                marker="o" if k == 1 else None, ms=4)  # one axis: points, not lines
    bg = matplotlib.rcParams["axes.facecolor"]
    for x, (name, (_, ticks)) in enumerate(zip(names, axes, strict=True)):
        ax.vlines(x, 0, 1, color=foreground(), lw=0.9, zorder=1)
        for h, text in ticks:
            ax.text(x - 0.04, h, text, ha="right", va="center", fontsize=7, zorder=4,
                    bbox={"facecolor": bg, "edgecolor": "none", "alpha": 0.75, "pad": 0.6})
        ax.text(x, -0.07, name, ha="center", va="top", fontsize="small")
        if name in imp:
            ax.text(x, -0.14, f"{imp[name]:.2f}", ha="center", va="top", fontsize=7,
                    color=muted())
    ax.set_xlim(-0.45, max(k - 1, 0) + 0.25)
    ax.set_ylim(-0.2, 1.06)
    ax.set_axis_off()
    bar = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, pad=0.02, fraction=0.04)
    bar.set_label(objective_name(key))
    if is_fraction(key):
        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, 0))
    searched = len(summary.param_names())
    extra = f" (the {k} most important of {searched})" if searched > k else ""
    subtitle(ax, f"{len(done)} complete trials{extra}; "
                 f"under each axis: its importance" if imp else f"{len(done)} complete trials")
    fig.suptitle(summary.title("Hyperparameters of each trial"))
    return finish(fig)


def pareto_figure(summary: SweepSummary) -> Figure:
    """Objective 1 against objective 2 (log x) for every complete trial, the front joined."""
    k1, k2 = summary.objectives[:2]
    pts = [t for t in summary.complete() if t.value(1) is not None]
    front_ids = set(summary.pareto_numbers())
    front = sorted((t for t in pts if t.number in front_ids), key=lambda t: t.value(1))
    fig = new_figure(figsize=(6.5, 4.4))
    ax = fig.add_subplot()
    ax.scatter([t.value(1) for t in pts], [t.value() for t in pts], s=18, color=CYCLE[0],
               alpha=0.55, label="complete trial")
    if front:
        fx, fy = [t.value(1) for t in front], [t.value() for t in front]
        ax.plot(fx, fy, drawstyle="steps-post", color=CYCLE[1], lw=1.4, zorder=2)
        ax.scatter(fx, fy, s=34, color=CYCLE[1], zorder=3, label="Pareto front")
        for t, x, y in zip(front, fx, fy, strict=True):
            ax.annotate(f"#{t.number}", (x, y), xytext=(4, 4), textcoords="offset points",
                        fontsize=7, color=CYCLE[1])
    if pts and all(t.value(1) > 0 for t in pts):
        log_axis(ax, "x", subs=(1.0, 2.0, 3.0, 5.0))
    how = [u for u, on in (("s", "seconds" in k2), ("log scale", ax.get_xscale() == "log")) if on]
    ax.set_xlabel(objective_name(k2) + (f" ({', '.join(how)})" if how else ""))
    ax.set_ylabel(objective_name(k1))
    _percent_axis(ax, k1)
    ax.grid(True)
    ax.set_axisbelow(True)
    ax.legend(fontsize="small", loc="lower right")
    subtitle(ax, f"{len(pts)} complete trials, {len(front)} on the front")
    fig.suptitle(summary.title("Accuracy against training cost"))
    return finish(fig)


def intermediate_figure(summary: SweepSummary) -> Figure:
    """Per-epoch validation scores of every trial; pruned trials faint, the best in bold."""
    fig = new_figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    b = summary.best_trial()
    best_no = b.number if b else None
    for state, colour, alpha, lw in (("PRUNED", muted(), 0.35, 0.8),
                                     ("COMPLETE", CYCLE[0], 0.6, 1.0)):
        for t in summary.trials_in(state):
            x, y = t.epochs()
            if not len(x) or t.number == best_no:
                continue
            ax.plot(x, y, color=colour, alpha=alpha, lw=lw)
            if state == "PRUNED":
                ax.plot(x[-1:], y[-1:], "x", color=colour, alpha=0.6, ms=4)
    if b is not None and len(b.epochs()[0]):
        ax.plot(*b.epochs(), color=CYCLE[1], lw=2.2, marker="o", ms=3, zorder=3)
    ax.legend(handles=[Line2D([], [], color=CYCLE[0], label="complete"),
                       Line2D([], [], color=muted(), marker="x", ms=4, label="pruned"),
                       Line2D([], [], color=CYCLE[1], lw=2.2,
                              label=f"best (trial {best_no})")][:3 if b else 2],
              fontsize="small", loc="lower right")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation balanced accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _percent_axis(ax, "val_balanced_accuracy")
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    subtitle(ax, summary.counts())
    fig.suptitle(summary.title("Validation score per epoch of each trial"))
    return finish(fig)


# --- the registered sweep figures, in the section's order: when each is drawn, its caption ---

def _first(summary: SweepSummary) -> str:
    return objective_name(summary.objectives[0])


def _has_epochs(summary: SweepSummary) -> bool:
    return any(len(t.epochs()[0]) for t in summary.trials)


@figure("sweep_importance", source="sweep", caption=lambda s: (
    f"Importance of each hyperparameter for the {s.target_name()}, by "
    f"{s.importance_method} over the complete trials: the longer the bar, the more the "
    "parameter mattered."))
def sweep_importance(summary: SweepSummary) -> Maker | None:
    return partial(importance_figure, summary) if summary.ranking() else None


@figure("sweep_history", source="sweep", caption=lambda s: (
    f"The {_first(s)} of each trial in the order they ran (dots: complete; faint x: pruned, "
    "at their score when stopped), and the best so far."))
def sweep_history(summary: SweepSummary) -> Maker | None:
    drawable = bool(summary.complete()) or _has_epochs(summary)
    return partial(history_figure, summary) if drawable else None


@figure("sweep_parallel", source="sweep", caption=lambda s: (
    "Parallel coordinates: each line is one complete trial through its hyperparameter values, "
    f"coloured by its {_first(s)}."))
def sweep_parallel(summary: SweepSummary) -> Maker | None:
    drawable = bool(summary.complete()) and bool(summary.param_names())
    return partial(parallel_figure, summary) if drawable else None


@figure("sweep_pareto", source="sweep", caption=lambda s: (
    f"The {_first(s)} against the {objective_name(s.objectives[-1])} of every complete trial; "
    "the Pareto front (trials no other beats on both) is joined."))
def sweep_pareto(summary: SweepSummary) -> Maker | None:
    drawable = len(summary.objectives) > 1 and any(t.value(1) is not None
                                                   for t in summary.complete())
    return partial(pareto_figure, summary) if drawable else None


@figure("sweep_intermediate", source="sweep", caption=(
    "Validation balanced accuracy after each epoch of every trial: pruned trials, faint, were "
    "stopped early; the best is in bold."))
def sweep_intermediate(summary: SweepSummary) -> Maker | None:
    return partial(intermediate_figure, summary) if _has_epochs(summary) else None
