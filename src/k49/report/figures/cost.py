"""What the accuracy costs: balanced accuracy against parameters and against training time."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import PercentFormatter

from k49.report.aggregate import pareto_front
from k49.report.figures.inputs import (
    INTERVALS_NOTE,
    FigureInputs,
    family,
    mean_errors,
    means,
    seeds_note,
)
from k49.report.figures.registry import figure
from k49.report.figures.style import (
    Maker,
    error_bars,
    family_colour,
    family_legend,
    finish,
    log_axis,
    muted,
    scatter_labels,
    subtitle,
)
from k49.viz import new_figure, title_for


@figure("cost_benefit",
        caption="Balanced accuracy against trainable parameters and against training time, one "
                "point per model (the mean over its seeds); the line joins the models no smaller "
                "(or faster) model beats; " + INTERVALS_NOTE + ".")
def cost_benefit_figure(inputs: FigureInputs) -> Maker | None:
    """Balanced accuracy against trainable parameters and against training time."""
    study = inputs.study
    labels = study.labels()
    bal, bal_err = mean_errors(study, labels, "balanced_accuracy")
    params = means(study, labels, "params")
    secs = means(study, labels, "train_seconds")
    if not (np.isfinite(bal) & (np.isfinite(params) | np.isfinite(secs))).any():
        return None
    fams = [family(study, lb) for lb in labels]
    colours = [family_colour(f) for f in fams]

    def panel(ax, xs, name, log):
        keep = np.isfinite(xs) & np.isfinite(bal) & (xs > 0)
        if not keep.any():
            ax.text(0.5, 0.5, f"no {name} recorded", ha="center", va="center",
                    transform=ax.transAxes, color=muted())
            ax.set_xticks([])
            ax.set_yticks([])
            return
        idx = np.flatnonzero(keep)
        x, y = xs[idx], bal[idx]
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color=muted(), lw=1, ls="--", zorder=1,
                label="best for its cost")
        error_bars(ax, x, y, yerr=bal_err[:, idx], color=muted(), elinewidth=0.8)
        cols = [colours[i] for i in idx]
        ax.scatter(x, y, c=cols, s=40, zorder=3)
        scatter_labels(ax, x, y, [labels[i] for i in idx], cols, fontsize=6.5)
        if log or x.max() / x.min() > 20:
            log_axis(ax, "x")
        ax.margins(0.12)
        ax.grid(True)
        ax.set_axisbelow(True)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))

    def make():
        fig = new_figure(figsize=(12, 4.8))
        a, b = fig.subplots(1, 2, sharey=True)
        panel(a, params, "parameter counts", True)
        a.set_xlabel("trainable parameters" + (" (log scale)" if a.get_xscale() == "log" else ""))
        a.set_ylabel("balanced accuracy")
        panel(b, secs, "training times", False)
        b.set_xlabel("training time (s" + (", log scale)" if b.get_xscale() == "log" else ")"))
        family_legend(a, fams, loc="lower right", extra=a.get_legend_handles_labels()[0])
        subtitle(a, seeds_note(study, labels))
        fig.suptitle(title_for(study.spec, "What the accuracy costs"))
        return finish(fig)

    return make
