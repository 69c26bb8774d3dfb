"""Curves: training curves per model and overlaid, and the best model's ROC curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from k49.evaluation import metrics as M
from k49.report import aggregate
from k49.report.collect import CollectedRuns, RunRecord
from k49.report.figures.inputs import FigureInputs, family, seeds_note
from k49.report.figures.registry import figure
from k49.report.figures.style import (
    FAMILY_STYLES,
    Maker,
    finish,
    foreground,
    log_axis,
    muted,
    subtitle,
    thin,
)
from k49.viz import CYCLE, new_figure, title_for

#: Points kept per ROC curve (per class; the micro and macro averages keep more).
ROC_POINTS, ROC_AVG_POINTS = 120, 400
#: How the figures say that a run had not converged (`aggregate.still_improving`).
STILL_IMPROVING = "still improving when training stopped"
#: The label (hidden from legends) of the marker at the end of a still-improving curve.
STILL_IMPROVING_MARK = "_still improving: {label}"


def still_improving_note(seeds: Sequence[int | None], n_runs: int) -> str:
    """"still improving when training stopped", and which seeds when there are several ("seeds
    0, 2 of 3", on a second line); "" when none was."""
    if not seeds:
        return ""
    if n_runs == 1:
        return STILL_IMPROVING
    which = ", ".join(str(s) for s in seeds)
    return f"{STILL_IMPROVING}\n(seed{'s' if len(seeds) > 1 else ''} {which} of {n_runs})"


def _history(run: RunRecord, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [h for h in run.history if h.get(key) is not None]
    epochs = np.array([h.get("epoch", i + 1) for i, h in enumerate(rows)], dtype=np.float64)
    return epochs, np.array([h[key] for h in rows], dtype=np.float64)


def _mean_history(runs: Sequence[RunRecord], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The mean over seeds of history `key`, epoch by epoch."""
    by_epoch: dict[float, list[float]] = {}
    for r in runs:
        for e, v in zip(*_history(r, key), strict=True):
            by_epoch.setdefault(e, []).append(v)
    epochs = np.array(sorted(by_epoch))
    return epochs, np.array([aggregate.mean(by_epoch[e]) for e in epochs])


@figure("training_curves_<label>", model="each",
        caption="Loss and accuracy per epoch of {model}, on its training batches and on the "
                "held-out validation split; a note above the curves says if a seed was still "
                "improving when training stopped (more epochs could change its results).")
def training_curves_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """Loss and accuracy per epoch of `label`, train vs validation (each seed)."""
    study = inputs.study
    runs = [r for r in sorted(study.by_label(label), key=lambda r: r.seed or 0) if r.history]
    if not runs:
        return None
    several = len(runs) > 1
    note = still_improving_note(aggregate.still_improving(study, label), len(runs))

    def make():
        fig = new_figure(figsize=(8.5, 3.4))
        axes = fig.subplots(1, 2)
        for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
            for part, colour, style in (("train", CYCLE[0], "-"), ("val", CYCLE[1], "--")):
                for k, r in enumerate(runs):
                    e, v = _history(r, f"{part}_{what}")
                    name = {"train": "train", "val": "validation"}[part]
                    ax.plot(e, v, style, color=colour, marker="o", ms=3, lw=1.4,
                            alpha=0.55 if several else 1.0,
                            label=(name + (" (each seed)" if several else "")) if k == 0
                            else None)
            ax.set_xlabel("epoch")
            ax.set_ylabel(what)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(True)
            ax.set_axisbelow(True)
            if what == "accuracy":
                ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        axes[0].legend(fontsize="small")
        if note:  # where the rising accuracy curves leave room
            axes[1].text(0.97, 0.05, note, transform=axes[1].transAxes, ha="right",
                         va="bottom", fontsize="small", color=foreground(), zorder=5,
                         bbox={"boxstyle": "round,pad=0.4", "lw": 1.2, "ec": CYCLE[3],
                               "fc": matplotlib.rcParams["axes.facecolor"]})
        seeds = ", ".join(str(r.seed) for r in runs)
        fig.suptitle(title_for(study.spec, f"Training curves of {label} "
                                           f"(seed{'s' if several else ''} {seeds})"))
        return finish(fig)

    return make


def _line_styles(study: CollectedRuns, labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A (colour, linestyle) per label: colours cycle within a family, the style marks it."""
    out, seen = {}, {}
    for label in labels:
        fam = family(study, label)
        k = seen.get(fam, 0)
        seen[fam] = k + 1
        out[label] = (CYCLE[k % len(CYCLE)], FAMILY_STYLES.get(fam, "-"))
    return out


@figure("training_curves_all",
        caption="Validation accuracy and validation loss per epoch of every model, overlaid "
                "(NNs dashed, CNNs solid); an open triangle at the end of a curve marks a model "
                "that was still improving when training stopped (for several seeds, any of "
                "them).")
def training_curves_all_figure(inputs: FigureInputs) -> Maker | None:
    """Validation accuracy and loss of every model (mean over seeds, epoch by epoch)."""
    study = inputs.study
    labels = [lb for lb in study.labels() if any(r.history for r in study.by_label(lb))]
    if not labels:
        return None
    styles = _line_styles(study, labels)
    curves = {lb: {k: _mean_history(study.by_label(lb), k) for k in ("val_accuracy", "val_loss")}
              for lb in labels}
    improving = [lb for lb in labels if aggregate.still_improving(study, lb)]

    def make():
        fig = new_figure(figsize=(11, 4.2))
        axes = fig.subplots(1, 2)
        for ax, key, name in ((axes[0], "val_accuracy", "validation accuracy"),
                              (axes[1], "val_loss", "validation loss")):
            for lb in labels:
                colour, ls = styles[lb]
                e, v = curves[lb][key]
                ax.plot(e, v, ls=ls, color=colour, lw=1.5, marker="o", ms=2.5, label=lb)
                if lb in improving and len(e):
                    ax.plot(e[-1:], v[-1:], ls="", marker=">", ms=9, mfc="none", mew=1.5,
                            color=colour, label=STILL_IMPROVING_MARK.format(label=lb),
                            zorder=4)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(True)
            ax.set_axisbelow(True)
        axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        extra = [Line2D([], [], ls="", marker=">", ms=8, mfc="none", mew=1.5,
                        color=foreground(), label=STILL_IMPROVING)] if improving else []
        handles = axes[1].get_legend_handles_labels()[0] + extra
        axes[1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1),
                       fontsize="small")
        note = seeds_note(study, labels, intervals=False)
        fig.suptitle(title_for(study.spec, f"Validation curves of every model ({note})"))
        return finish(fig)

    return make


@figure("roc_nightmare", model="best",
        caption="The seed's 'ROC nightmare': the 49 one-vs-rest ROC curves of the best model by "
                "balanced accuracy, with the micro and macro averages in bold, on a linear and "
                "on a logarithmic false-positive axis.")
def roc_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """The 49 one-vs-rest ROC curves of `label` (its lowest seed), thinned to ROC_POINTS
    points each, with the micro and macro averages, on a linear and a log FPR axis."""
    study = inputs.study
    run = study.representative(label)
    labels, probs = run.predictions
    roc = M.roc_curves(labels, probs)
    aucs = roc["auc"]
    lin = [thin(f, t, ROC_POINTS) for f, t in roc["per_class"]]
    log = [thin(f, t, ROC_POINTS, logx=True) for f, t in roc["per_class"]]
    avg = {k: (thin(*roc[k], ROC_AVG_POINTS), thin(*roc[k], ROC_AVG_POINTS, logx=True))
           for k in ("micro", "macro")}
    support = np.bincount(labels, minlength=probs.shape[1])
    fpr_min = 1.0 / max(len(labels) - support[support > 0].min(), 1)  # the smallest step
    chars = study.spec.chars
    defined = np.flatnonzero(np.isfinite(aucs))
    worst = defined[np.argsort(aucs[defined])[:3]]
    worst_text = ", ".join(f"{chars[c]} {aucs[c]:.3f}" for c in worst)
    n_classes = probs.shape[1]

    def make():
        fig = new_figure(figsize=(11, 5.2))
        axes = fig.subplots(1, 2)
        colours = matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, n_classes))
        fg = foreground()
        for ax, curves, k in ((axes[0], lin, 0), (axes[1], log, 1)):
            segs = [np.column_stack(c) for c in curves if len(c[0])]
            cols = [colours[i] for i, c in enumerate(curves) if len(c[0])]
            ax.add_collection(LineCollection(segs, colors=cols, linewidths=0.8, alpha=0.6,
                                             label=f"{len(segs)} classes, one vs rest"))
            mi, ma = avg["micro"][k], avg["macro"][k]
            ax.plot(*mi, color=fg, lw=2.4, label=f"micro average (AUC {roc['auc_micro']:.4f})")
            ax.plot(*ma, color=CYCLE[3], lw=2.4, ls="--",
                    label=f"macro average (AUC {roc['auc_macro']:.4f})")
            ax.set_xlabel("false positive rate" + (" (log scale)" if k else ""))
            ax.set_ylabel("true positive rate")
            ax.grid(True)
            ax.set_axisbelow(True)
            ax.set_ylim(-0.01, 1.01)
        g = np.geomspace(fpr_min, 1, 50)
        axes[0].plot([0, 1], [0, 1], ":", color=muted(), lw=1, label="chance")
        axes[1].plot(g, g, ":", color=muted(), lw=1, label="chance")
        axes[0].set_xlim(-0.01, 1.01)
        log_axis(axes[1], "x", subs=(1.0,))
        axes[1].set_xlim(fpr_min, 1)
        axes[0].legend(loc="lower right", fontsize="small")
        subtitle(axes[0], f"lowest AUC: {worst_text}")
        subtitle(axes[1], "the same curves, false positive rate on a log scale")
        fig.suptitle(title_for(study.spec, f"ROC nightmare: {label} (best balanced accuracy), "
                                           f"seed {run.seed}"))
        return finish(fig)

    return make
