"""Does the imbalance hurt the rare classes? The best model's per-class recall against the
class's training count."""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.ticker import PercentFormatter
from scipy.stats import spearmanr

from k49.report import aggregate
from k49.report.figures.inputs import FigureInputs
from k49.report.figures.registry import figure
from k49.report.figures.style import Maker, finish, log_axis, muted, subtitle
from k49.viz import CYCLE, new_figure, title_for

#: The training set of K49 is about 6 times its test set, class by class.
TRAIN_PER_TEST = 6


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: NaN
        return float(spearmanr(x[keep], y[keep]).statistic)


@figure("recall_vs_train_count", model="best",
        caption="Per-class recall of the best model (characters) and the mean over models "
                "against the class's number of training images: whether the imbalance hurts "
                "the rare classes.")
def recall_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """Per-class recall of `label` (characters) and the range over models against the training
    count of each class (`inputs.train_counts`, else 6 × the test counts), log x."""
    study, train_counts = inputs.study, inputs.train_counts
    spec = study.spec
    n = spec.n_classes
    estimated = train_counts is None
    counts = (np.asarray(spec.test_counts, dtype=np.float64) * TRAIN_PER_TEST if estimated
              else np.asarray(train_counts, dtype=np.float64))
    if counts.shape != (n,):
        warnings.warn(f"train_counts must have one count per class ({n}), got shape "
                      f"{counts.shape}: recall_vs_train_count skipped", stacklevel=3)
        return None
    best = aggregate.per_class_mean(study, label, "recall")
    every = [v for lb in study.labels()
             if (v := aggregate.per_class_mean(study, lb, "recall")) is not None]
    if best is None or not every:
        return None
    every = np.array(every)
    # fmin/fmax leave NaN out, as the mean does.
    mean, lo, hi = aggregate.column_mean(every), np.fmin.reduce(every), np.fmax.reduce(every)
    rho_best, rho_mean = _spearman(counts, best), _spearman(counts, mean)
    chars = spec.chars
    n_models = len(every)
    valid = (counts > 0) & np.isfinite(best)
    if not valid.any():
        return None
    figsize, ylim = (10.0, 5.6), (min(0.0, float(np.nanmin(lo)) - 0.02), 1.04)
    lo_x, hi_x = counts[valid].min() / 1.5, counts[valid].max() * 1.5
    x = counts.copy()
    labelled = np.zeros(n, dtype=bool)
    x[valid], labelled[valid] = _swarm(counts[valid], best[valid], (lo_x, hi_x), ylim,
                                       (figsize[0] - 1.2, figsize[1] - 1.6), 11)
    n_unlabelled = int((valid & ~labelled).sum())

    def make():
        fig = new_figure(figsize=figsize)
        ax = fig.add_subplot()
        idx = np.flatnonzero(valid)
        if n_models > 1:
            ax.vlines(x[idx], lo[idx], hi[idx], color=muted(), lw=0.8, alpha=0.6,
                      label=f"range over the {n_models} models")
            ax.plot(x[idx], mean[idx], "_", color=muted(), ms=7, mew=1.5,
                    label=f"mean over the {n_models} models")
        for k in idx[labelled[idx]]:
            ax.text(x[k], best[k], chars[k], ha="center", va="center", fontsize=11,
                    color=CYCLE[0])
        crowded = idx[~labelled[idx]]
        if len(crowded):
            ax.plot(x[crowded], best[crowded], "o", ms=3, color=CYCLE[0])
        ax.plot([], [], "s", color=CYCLE[0], label=f"{label} (best model), one character "
                                                   "per class" +
                (f"; {n_unlabelled} dots with no room for their label" if n_unlabelled
                 else ""))
        log_axis(ax, "x")
        ax.set_xlim(lo_x, hi_x)
        ax.set_ylim(*ylim)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.grid(True)
        ax.set_axisbelow(True)
        ax.set_xlabel("training images of the class" +
                      (f" (estimated as {TRAIN_PER_TEST} × its test images)" if estimated
                       else "") + ", log scale; equal counts spread sideways")
        ax.set_ylabel("recall on the test set")
        ax.legend(loc="lower right", fontsize="small")
        rho = f"{rho_best:+.2f} for {label}"
        if n_models > 1:
            rho += f", {rho_mean:+.2f} for the mean over models"
        subtitle(ax, f"Spearman rank correlation of recall with the training count: {rho}")
        fig.suptitle(title_for(spec, "Does the imbalance hurt the rare classes?"))
        return finish(fig)

    return make


def _swarm(xs: np.ndarray, ys: np.ndarray, xlim: tuple[float, float],
           ylim: tuple[float, float], size_in: tuple[float, float], fontsize: float,
           max_shift: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """x positions (log axis) that keep labels of `fontsize` points from overlapping.

    Labels are placed one by one, each at its own x if free, else moved sideways by whole label
    widths, nearest first (a beeswarm): K49 has 31 classes with the same training count, placed
    after the classes of a count of their own. A label
    with no room within `max_shift` widths keeps its x and is reported as not placed.
    Returns (x, placed).
    """
    box = fontsize / 72 * 1.05  # inches a label needs, either way
    span = np.log10(xlim[1] / xlim[0])
    u = (np.log10(xs) - np.log10(xlim[0])) / span * size_in[0]
    v = (ys - ylim[0]) / (ylim[1] - ylim[0]) * size_in[1]
    out = u.copy()
    placed = np.zeros(len(u), dtype=bool)
    placed_u: list[float] = []
    placed_v: list[float] = []
    steps = [0] + [s * k for k in range(1, max_shift + 1) for s in (1, -1)]
    # Lone counts first, at their own x as far as possible; then the crowded counts fill in.
    _, inverse, sizes = np.unique(xs, return_inverse=True, return_counts=True)
    for i in np.lexsort((v, u, sizes[inverse])):
        pu, pv = np.array(placed_u), np.array(placed_v)
        near = np.abs(pv - v[i]) < box * 0.9
        for k in steps:
            cand = u[i] + k * box
            if not (near & (np.abs(pu - cand) < box * 0.999)).any():  # whole widths apart
                out[i], placed[i] = cand, True
                placed_u.append(cand)
                placed_v.append(v[i])
                break
    return 10 ** (out / size_in[0] * span + np.log10(xlim[0])), placed
