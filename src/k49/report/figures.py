"""The study's result figures (the seed's, and a few more), each in SVG and PNG, light and dark.

`report_figures(study, out_dir)` writes, through `k49.viz.save_figure`:

- `accuracy`: accuracy and balanced accuracy per model (mean ± sd over seeds);
- `training_curves_<label>`: loss and accuracy per epoch, train vs validation, of each model;
- `training_curves_all`: every model's validation accuracy and loss on one plot;
- `roc_nightmare`: the 49 one-vs-rest ROC curves of the best model, with micro/macro averages;
- `auc_pairs`: per-class AUC of the seed's five pairs of models (`choose_pairs`), one panel each;
- `auc_inverse_frequency`: the seed's inverse-frequency weighted AUC per model, beside macro AUC;
- `accuracy_vs_auc`: accuracy against that weighted AUC, one point per model;
- `confusion_matrix`: the best model's row-normalised confusion matrix;
- `confused_pairs`: its most-confused class pairs, with test images of both classes if given;
- `cost_benefit`: balanced accuracy against trainable parameters and against training time;
- `recall_vs_train_count`: per-class recall against the class's training count;
- `reliability`: the best model's reliability diagram and ECE.

Figures are drawn from the metrics already in each run's metrics.json; only the ROC figure (the
curves are not stored) and the example images read a run's predictions, of one run. Failed or
incomplete runs are not drawn; a figure whose inputs are absent is skipped. Class labels are
the characters themselves, and every title says which dataset it shows (`viz.title_for`), so
figures of synthetic data are always titled as synthetic.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import PowerNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from k49.evaluation import metrics as M
from k49.report.collect import RunRecord, Study
from k49.viz import CYCLE, THEMES, image_grid, new_figure, save_figure, title_for

#: Colours and names of the model families (RunRecord.family), shared by every figure.
FAMILY_COLOURS = {"mlp": CYCLE[0], "cnn": CYCLE[1], "resnet": CYCLE[2], "knn": CYCLE[4]}
FAMILY_NAMES = {"mlp": "NN (MLP)", "cnn": "CNN", "resnet": "ResNet", "knn": "k-NN"}
FAMILY_STYLES = {"mlp": "--", "cnn": "-", "resnet": "-.", "knn": ":"}
OTHER_COLOUR = CYCLE[5]

#: Points kept per ROC curve (per class; the micro and macro averages keep more).
ROC_POINTS, ROC_AVG_POINTS = 120, 400
#: Most-confused pairs shown, and example images per class of a pair.
N_CONFUSED, N_EXAMPLES = 5, 8
#: The training set of K49 is about 6 times its test set, class by class.
TRAIN_PER_TEST = 6

#: One sentence per figure stem; `training_curves_<label>` stands for every model's.
CAPTIONS: dict[str, str] = {
    "accuracy": "Accuracy and balanced accuracy (mean recall over classes) of each model on the "
                "test set; with several seeds, bars are means and error bars one standard "
                "deviation.",
    "training_curves_<label>": "Loss and accuracy per epoch of one model, on its training "
                               "batches and on the held-out validation split.",
    "training_curves_all": "Validation accuracy and validation loss per epoch of every model, "
                           "overlaid (NNs dashed, CNNs solid).",
    "roc_nightmare": "The seed's 'ROC nightmare': the 49 one-vs-rest ROC curves of the best model "
                     "by balanced accuracy, with the micro and macro averages in bold, on a "
                     "linear and on a logarithmic false-positive axis.",
    "auc_pairs": "Per-class AUC of the seed's pairs of models (best Adam vs best SGD NN and CNN, "
                 "dense vs dense with batch normalisation, best NN vs best CNN), class by "
                 "character.",
    "auc_inverse_frequency": "The seed's weighted AUC (per-class AUCs averaged with weights "
                             "1 / class count, so rare classes count most) beside the plain "
                             "macro AUC, per model.",
    "accuracy_vs_auc": "Accuracy against inverse-frequency weighted AUC, one point per model, "
                       "coloured by family.",
    "confusion_matrix": "Row-normalised confusion matrix of the best model: each row is a true "
                        "class and sums to 1, the diagonal is the class's recall.",
    "confused_pairs": "The class pairs the best model confuses most (true class read as the "
                      "predicted one), with test images of both classes when available.",
    "cost_benefit": "Balanced accuracy against trainable parameters and against training time, "
                    "one point per model; the line joins the models no smaller (or faster) "
                    "model beats.",
    "recall_vs_train_count": "Per-class recall of the best model (characters) and the mean over "
                             "models against the class's number of training images: whether "
                             "the imbalance hurts the rare classes.",
    "reliability": "Reliability diagram of the best model: accuracy against top-1 confidence "
                   "in equal-width bins, with its expected calibration error (ECE).",
}


def figure_captions(study: Study | None = None) -> dict[str, str]:
    """One sentence per figure stem, in the report's order.

    Without a study the per-model stem is the pattern `training_curves_<label>`; with one it is
    expanded to each of its models.
    """
    if study is None:
        return dict(CAPTIONS)
    out = {}
    for stem, text in CAPTIONS.items():
        if stem == "training_curves_<label>":
            for label in study.labels():
                out[f"training_curves_{label}"] = text.replace("one model", label)
        else:
            out[stem] = text
    return out


def caption(stem: str) -> str:
    """The caption of any stem written by `report_figures` ('' if unknown)."""
    if stem in CAPTIONS:
        return CAPTIONS[stem]
    if stem.startswith("training_curves_"):
        return CAPTIONS["training_curves_<label>"].replace("one model", stem[16:])
    return ""


# ---------------------------------------------------------------------------------------------
# What the figures read from the study


def _family(study: Study, label: str) -> str:
    runs = study.by_label(label)
    return runs[0].family if runs else ""


def _optimizer(study: Study, label: str) -> str | None:
    runs = study.by_label(label)
    return runs[0].config.get("config", {}).get("optimizer") if runs else None


def _values(study: Study, label: str, key: str) -> np.ndarray:
    return np.array([float(r.metrics[key]) for r in study.by_label(label)
                     if isinstance(r.metrics.get(key), (int, float))], dtype=np.float64)


def _mean_sd(study: Study, labels: Sequence[str], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd (0 with one seed, NaN with none) of metric `key` for each label."""
    means, sds = [], []
    for label in labels:
        v = _values(study, label, key)
        v = v[np.isfinite(v)]
        means.append(v.mean() if len(v) else np.nan)
        sds.append(v.std(ddof=1) if len(v) > 1 else (0.0 if len(v) else np.nan))
    return np.array(means), np.array(sds)


def _per_class(study: Study, label: str, key: str) -> np.ndarray | None:
    """Mean over seeds of metrics["per_class"][key] (None → NaN); None if absent."""
    rows = []
    for r in study.by_label(label):
        v = r.metrics.get("per_class", {}).get(key)
        if v is not None and len(v) == study.spec.n_classes:
            rows.append([np.nan if x is None else float(x) for x in v])
    if not rows:
        return None
    a = np.array(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class undefined in every seed
        return np.nanmean(a, axis=0)


def _best(study: Study, labels: Sequence[str], key: str = "balanced_accuracy") -> str | None:
    scored = [(study.mean(lb, key), lb) for lb in labels]
    scored = [(v, lb) for v, lb in scored if np.isfinite(v)]
    return max(scored, key=lambda t: t[0])[1] if scored else None


def best_label(study: Study) -> str | None:
    """The model with the highest mean balanced accuracy (the one shown alone)."""
    return _best(study, study.labels())


def _find(study: Study, model: str) -> str | None:
    """The label of seed model `model`: its own name, or a run of it without mixup."""
    labels = study.labels()
    if model in labels:
        return model
    for label in labels:
        runs = study.by_label(label)
        if runs and runs[0].metrics.get("model") == model and \
                runs[0].metrics.get("mixup", "none") in ("none", None):
            return label
    return None


def choose_pairs(study: Study) -> list[tuple[str, str, str]]:
    """The seed's five AUC comparisons as (title, label_a, label_b), chosen from the results.

    "Best" is by mean balanced accuracy over seeds; NN is family "mlp", CNN family "cnn";
    Adam and SGD come from the run's config, among the models the seed built in both variants
    (the `_sgd`/`_adam` ones), so the comparison changes only the optimizer, not the depth. A
    pair with a missing model is left out.
    """
    labels = study.labels()

    def best(family: str, optimizer: str | None = None) -> str | None:
        return _best(study, [lb for lb in labels if _family(study, lb) == family and
                             (optimizer is None or (_optimizer(study, lb) == optimizer
                                                    and lb.endswith(("_sgd", "_adam"))))])

    candidates = [
        ("best Adam NN vs best SGD NN", best("mlp", "adam"), best("mlp", "sgd")),
        ("best Adam CNN vs best SGD CNN", best("cnn", "adam"), best("cnn", "sgd")),
        ("NN_dense vs NN_dense_batch_norm", _find(study, "NN_dense"),
         _find(study, "NN_dense_batch_norm")),
        ("CNN_dense vs CNN_dense_batch_norm", _find(study, "CNN_dense"),
         _find(study, "CNN_dense_batch_norm")),
        ("best NN vs best CNN", best("mlp"), best("cnn")),
    ]
    return [(t, a, b) for t, a, b in candidates if a and b and a != b]


# ---------------------------------------------------------------------------------------------
# Drawing helpers


def _fg() -> str:
    return matplotlib.rcParams["text.color"]


def _dark() -> bool:
    r, g, b, _ = to_rgba(matplotlib.rcParams["figure.facecolor"])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5


def _muted() -> str:
    return matplotlib.rcParams["xtick.color"]


def _done(fig: Figure) -> Figure:
    """Lay `fig` out once (constrained), then freeze that layout.

    Saving runs the layout engine at every draw, twice per file with a tight bounding box: for
    two formats that is four layouts of the same figure. Frozen, the figure is saved as laid
    out, which saves a fifth to a third of the time of a figure.
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")
    return fig


def _subtitle(ax, text: str, **kw: Any) -> None:
    """A small left-aligned axes title at a fixed height.

    A title at an explicit height skips matplotlib's search for overlapping tick labels, which
    measures every tick label of the axes again at each draw.
    """
    ax.set_title(text, loc="left", fontsize="small", y=1.0, **kw)


def _compact(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _log_axis(ax, axis: str = "x", subs: Sequence[float] = (1.0, 2.0, 5.0),
              fmt: Callable[[float], str] = _compact) -> None:
    """A log scale with plain tick labels (1k, 2k, 5k): matplotlib's default 10^k labels are
    mathtext, parsed anew at every draw, which doubles the time to save a figure."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(LogLocator(subs=subs))
    a.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    a.set_minor_formatter(NullFormatter())


def _char_labels(ax, chars: Sequence[str], axis: str = "x", fontsize: float = 11,
                 positions: Sequence[float] | None = None) -> None:
    """The class characters as plain text along an axis, in place of tick labels.

    49 matplotlib ticks (each two lines and two texts, measured again at every layout) cost
    about twice as much to save as 49 texts; the text is the same in the SVG.
    """
    from matplotlib.transforms import offset_copy

    pos = np.arange(len(chars)) if positions is None else positions
    fig = ax.get_figure()
    if axis == "x":
        ax.set_xticks([])
        tr = offset_copy(ax.get_xaxis_transform(), fig=fig, y=-3, units="points")
        for p, c in zip(pos, chars, strict=True):
            ax.text(p, 0, c, transform=tr, ha="center", va="top", fontsize=fontsize)
    else:
        ax.set_yticks([])
        tr = offset_copy(ax.get_yaxis_transform(), fig=fig, x=-3, units="points")
        for p, c in zip(pos, chars, strict=True):
            ax.text(0, p, c, transform=tr, ha="right", va="center", fontsize=fontsize)


def _family_colour(family: str) -> str:
    return FAMILY_COLOURS.get(family, OTHER_COLOUR)


def _family_legend(ax, families: Sequence[str], extra: Sequence[Any] = (), **kw) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", color=_family_colour(f),
                      label=FAMILY_NAMES.get(f, f or "other")) for f in dict.fromkeys(families)]
    ax.legend(handles=handles + list(extra), fontsize="small", **kw)


def _model_axis(ax, labels: Sequence[str]) -> None:
    ax.set_xticks(np.arange(len(labels)), labels, rotation=40, ha="right",
                  rotation_mode="anchor", fontsize="small")
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)


def _seeds_note(study: Study, labels: Sequence[str]) -> str:
    n = [len(study.by_label(lb)) for lb in labels]
    if not n or max(n) <= 1:
        return "one seed per model"
    return f"mean ± sd over {min(n)}–{max(n)} seeds" if min(n) != max(n) else \
        f"mean ± sd over {n[0]} seeds"


def _thin(x: np.ndarray, y: np.ndarray, n: int, logx: bool = False) -> tuple[np.ndarray, ...]:
    """At most ~n points of curve (x, y), evenly spaced along its length, endpoints kept."""
    if len(x) <= n:
        return x, y
    u = np.log10(np.maximum(x, 1e-12)) / 4 if logx else x  # 4 decades ≈ the x axis length
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(u), np.diff(y)))])
    idx = np.searchsorted(s, np.linspace(0.0, s[-1], n))
    idx = np.unique(np.concatenate([[0], np.minimum(idx, len(x) - 1), [len(x) - 1]]))
    return x[idx], y[idx]


def _scatter_labels(ax, xs, ys, names, colours, fontsize: float = 7) -> None:
    """Each point's name beside it, alternating sides to limit overlaps."""
    order = np.argsort(ys)
    for k, i in enumerate(order):
        dx = 5 if k % 2 == 0 else -5
        ax.annotate(names[i], (xs[i], ys[i]), xytext=(dx, 3), textcoords="offset points",
                    ha="left" if dx > 0 else "right", va="bottom", fontsize=fontsize,
                    color=colours[i])


def _pareto(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the points no cheaper point beats (lower x, higher y), by increasing x."""
    order = np.lexsort((-ys, xs))
    front, best = [], -np.inf
    for i in order:
        if ys[i] > best:
            front.append(i)
            best = ys[i]
    return np.array(front, dtype=int)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: NaN
        return float(spearmanr(x[keep], y[keep]).statistic)


# ---------------------------------------------------------------------------------------------
# The figures: each builder returns `make() -> Figure`, or None when its inputs are absent.

Maker = Callable[[], Figure]


def _paired_bars(ax, x: np.ndarray, series, *, floor: float = 0.0, fmt: str, pad: float):
    """Two bars per model, each (values, sd, name, colour) with sd error bars when there are
    several seeds, and its value written above the error bar; bars rise from `floor`."""
    w = 0.4
    err = {"elinewidth": 0.9, "capsize": 2, "ecolor": _fg()}
    for dx, (v, sd, name, colour) in zip((-w / 2, w / 2), series, strict=True):
        ax.bar(x + dx, v - floor, w, bottom=floor, label=name, color=colour,
               yerr=sd if np.nanmax(sd) > 0 else None, error_kw=err)
        for xi, vi, si in zip(x + dx, v, np.nan_to_num(sd), strict=True):
            if np.isfinite(vi):
                ax.text(xi, vi + si + pad, fmt.format(vi), ha="center", va="bottom",
                        rotation=90, fontsize=6.5)


def accuracy_figure(study: Study) -> Maker | None:
    """Grouped bars of accuracy and balanced accuracy per model (mean ± sd over seeds)."""
    labels = study.labels()
    if not labels:
        return None
    acc, acc_sd = _mean_sd(study, labels, "accuracy")
    bal, bal_sd = _mean_sd(study, labels, "balanced_accuracy")
    x = np.arange(len(labels))
    note = _seeds_note(study, labels)

    def make():
        fig = new_figure(figsize=(max(6.5, 0.62 * len(labels) + 2), 4.6))
        ax = fig.add_subplot()
        _paired_bars(ax, x, [(acc, acc_sd, "accuracy", CYCLE[0]),
                             (bal, bal_sd, "balanced accuracy", CYCLE[1])],
                     fmt="{:.1%}", pad=0.012)
        _model_axis(ax, labels)
        ax.set_ylim(0, 1.12)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        _subtitle(ax, note)
        fig.suptitle(title_for(study.spec, "Test accuracy per model"))
        return _done(fig)

    return make


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
    return epochs, np.array([np.nanmean(by_epoch[e]) for e in epochs])


def training_curves_figure(study: Study, label: str) -> Maker | None:
    """Loss and accuracy per epoch of `label`, train vs validation (each seed)."""
    runs = [r for r in sorted(study.by_label(label), key=lambda r: r.seed or 0) if r.history]
    if not runs:
        return None
    several = len(runs) > 1

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
        seeds = ", ".join(str(r.seed) for r in runs)
        fig.suptitle(title_for(study.spec, f"Training curves of {label} "
                                           f"(seed{'s' if several else ''} {seeds})"))
        return _done(fig)

    return make


def _line_styles(study: Study, labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A (colour, linestyle) per label: colours cycle within a family, the style marks it."""
    out, seen = {}, {}
    for label in labels:
        fam = _family(study, label)
        k = seen.get(fam, 0)
        seen[fam] = k + 1
        out[label] = (CYCLE[k % len(CYCLE)], FAMILY_STYLES.get(fam, "-"))
    return out


def training_curves_all_figure(study: Study) -> Maker | None:
    """Validation accuracy and loss of every model (mean over seeds, epoch by epoch)."""
    labels = [lb for lb in study.labels() if any(r.history for r in study.by_label(lb))]
    if not labels:
        return None
    styles = _line_styles(study, labels)
    curves = {lb: {k: _mean_history(study.by_label(lb), k) for k in ("val_accuracy", "val_loss")}
              for lb in labels}

    def make():
        fig = new_figure(figsize=(11, 4.2))
        axes = fig.subplots(1, 2)
        for ax, key, name in ((axes[0], "val_accuracy", "validation accuracy"),
                              (axes[1], "val_loss", "validation loss")):
            for lb in labels:
                colour, ls = styles[lb]
                ax.plot(*curves[lb][key], ls=ls, color=colour, lw=1.5, marker="o", ms=2.5,
                        label=lb)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(True)
            ax.set_axisbelow(True)
        axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
        note = _seeds_note(study, labels).replace("mean ± sd", "mean")
        fig.suptitle(title_for(study.spec, f"Validation curves of every model ({note})"))
        return _done(fig)

    return make


def roc_figure(study: Study, label: str) -> Maker | None:
    """The 49 one-vs-rest ROC curves of `label` (its lowest seed), thinned to ROC_POINTS
    points each, with the micro and macro averages, on a linear and a log FPR axis."""
    run = study.representative(label)
    labels, probs = run.predictions
    roc = M.roc_curves(labels, probs)
    aucs = roc["auc"]
    lin = [_thin(f, t, ROC_POINTS) for f, t in roc["per_class"]]
    log = [_thin(f, t, ROC_POINTS, logx=True) for f, t in roc["per_class"]]
    avg = {k: (_thin(*roc[k], ROC_AVG_POINTS), _thin(*roc[k], ROC_AVG_POINTS, logx=True))
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
        fg = _fg()
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
        axes[0].plot([0, 1], [0, 1], ":", color=_muted(), lw=1, label="chance")
        axes[1].plot(g, g, ":", color=_muted(), lw=1, label="chance")
        axes[0].set_xlim(-0.01, 1.01)
        _log_axis(axes[1], "x", subs=(1.0,))
        axes[1].set_xlim(fpr_min, 1)
        axes[0].legend(loc="lower right", fontsize="small")
        _subtitle(axes[0], f"lowest AUC: {worst_text}")
        _subtitle(axes[1], "the same curves, false positive rate on a log scale")
        fig.suptitle(title_for(study.spec, f"ROC nightmare: {label} (best balanced accuracy), "
                                           f"seed {run.seed}"))
        return _done(fig)

    return make


def auc_pairs_figure(study: Study, pairs: Sequence[tuple[str, str, str]]) -> Maker | None:
    """One panel per pair: both models' per-class AUC (mean over seeds), class by character."""
    data = []
    for title, a, b in pairs:
        va, vb = _per_class(study, a, "auc"), _per_class(study, b, "auc")
        if va is not None and vb is not None:
            data.append((title, a, b, va, vb))
    if not data:
        return None
    chars = study.spec.chars
    x = np.arange(len(chars))

    def make():
        fig = new_figure(figsize=(12, 2.7 * len(data) + 0.6))
        axes = np.atleast_1d(fig.subplots(len(data), 1))
        for ax, (title, a, b, va, vb) in zip(axes, data, strict=True):
            ok = np.isfinite(va) & np.isfinite(vb)
            ax.vlines(x[ok], np.minimum(va, vb)[ok], np.maximum(va, vb)[ok], color=_muted(),
                      lw=1.0, alpha=0.8)
            ax.plot(x, va, "o", ms=4.5, color=CYCLE[0], label=f"{a} (mean {np.nanmean(va):.4f})")
            ax.plot(x, vb, "D", ms=3.8, color=CYCLE[1], label=f"{b} (mean {np.nanmean(vb):.4f})")
            wins = int((va[ok] > vb[ok]).sum())
            _subtitle(ax, f"{title}: {a} has the higher AUC on {wins} of {int(ok.sum())} classes")
            _char_labels(ax, chars, "x", fontsize=11)
            ax.set_xlim(-0.7, len(chars) - 0.3)
            ax.set_ylabel("AUC")
            ax.yaxis.grid(True)
            ax.set_axisbelow(True)
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        fig.suptitle(title_for(study.spec, "Per-class AUC, model against model"))
        return _done(fig)

    return make


def auc_inverse_frequency_figure(study: Study) -> Maker | None:
    """Bars of the inverse-frequency weighted AUC per model, beside the macro AUC."""
    labels = [lb for lb in study.labels() if len(_values(study, lb, "auc_inverse_frequency"))]
    if not labels:
        return None
    inv, inv_sd = _mean_sd(study, labels, "auc_inverse_frequency")
    mac, mac_sd = _mean_sd(study, labels, "auc_macro")
    x = np.arange(len(labels))
    lo = np.nanmin(np.concatenate([inv - inv_sd, mac - mac_sd]))
    floor = max(0.0, math.floor((lo - 0.02) * 20) / 20)  # bars would all look equal from 0
    note = _seeds_note(study, labels)

    def make():
        fig = new_figure(figsize=(max(6.5, 0.62 * len(labels) + 2), 4.6))
        ax = fig.add_subplot()
        _paired_bars(ax, x, [(inv, inv_sd, "inverse-frequency weighted AUC", CYCLE[0]),
                             (mac, mac_sd, "macro AUC", CYCLE[2])],
                     floor=floor, fmt="{:.3f}", pad=0.004 * (1 - floor))
        _model_axis(ax, labels)
        ax.set_ylim(floor, 1 + 0.1 * (1 - floor))
        ax.set_ylabel(f"AUC (axis from {floor:g})" if floor > 0 else "AUC")
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        _subtitle(ax, note)
        fig.suptitle(title_for(study.spec, "AUC weighted by inverse class frequency"))
        return _done(fig)

    return make


def accuracy_vs_auc_figure(study: Study) -> Maker | None:
    """Accuracy against inverse-frequency weighted AUC, a labelled point per model."""
    labels = study.labels()
    auc, auc_sd = _mean_sd(study, labels, "auc_inverse_frequency")
    acc, acc_sd = _mean_sd(study, labels, "accuracy")
    keep = np.isfinite(auc) & np.isfinite(acc)
    if not keep.any():
        return None
    labels = [lb for lb, k in zip(labels, keep, strict=True) if k]
    auc, auc_sd, acc, acc_sd = auc[keep], auc_sd[keep], acc[keep], acc_sd[keep]
    fams = [_family(study, lb) for lb in labels]
    colours = [_family_colour(f) for f in fams]

    def make():
        fig = new_figure(figsize=(7.5, 5.2))
        ax = fig.add_subplot()
        if np.nanmax(np.concatenate([auc_sd, acc_sd])) > 0:
            ax.errorbar(auc, acc, xerr=auc_sd, yerr=acc_sd, fmt="none", ecolor=_muted(),
                        elinewidth=0.8, capsize=2)
        ax.scatter(auc, acc, c=colours, s=42, zorder=3)
        _scatter_labels(ax, auc, acc, labels, colours)
        ax.set_xlabel("inverse-frequency weighted AUC")
        ax.set_ylabel("accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.grid(True)
        ax.set_axisbelow(True)
        ax.margins(0.12)
        _family_legend(ax, fams, loc="lower right")
        _subtitle(ax, _seeds_note(study, labels).replace("mean ± sd", "means, bars ± sd"))
        fig.suptitle(title_for(study.spec, "Accuracy against weighted AUC"))
        return _done(fig)

    return make


def _confusion_counts(run: RunRecord) -> np.ndarray | None:
    cm = run.metrics.get("confusion")
    if cm is None:
        return None
    cm = np.asarray(cm, dtype=np.float64)
    return cm if cm.ndim == 2 and cm.shape[0] == cm.shape[1] else None


def confusion_figure(study: Study, label: str) -> Maker | None:
    """The row-normalised confusion matrix of `label` (its lowest seed), from metrics.json."""
    run = study.representative(label)
    cm = _confusion_counts(run)
    if cm is None or cm.shape[0] != study.spec.n_classes:
        return None
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    chars = study.spec.chars

    def make():
        fig = new_figure(figsize=(9.6, 8.6))
        ax = fig.add_subplot()
        cmap = "magma" if _dark() else "Blues"
        im = ax.imshow(norm, cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1),
                       interpolation="nearest")
        _char_labels(ax, chars, "x", fontsize=8)
        _char_labels(ax, chars, "y", fontsize=8)
        ax.set_xlabel("predicted class", labelpad=14)
        ax.set_ylabel("true class", labelpad=14)
        for spine in ax.spines.values():
            spine.set_visible(False)
        cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        cb.set_label("share of the true class (square-root colour scale)")
        cb.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        cb.outline.set_visible(False)
        _subtitle(ax, f"{label}, seed {run.seed}: diagonal = recall "
                     f"(balanced accuracy {np.mean(np.diag(norm)[rows[:, 0] > 0]):.1%})")
        fig.suptitle(title_for(study.spec, "Confusion matrix, rows normalised"))
        return _done(fig)

    return make


def _examples(run: RunRecord, test_images: np.ndarray | None, pairs, seed: int = 0):
    """For each pair (i, j): images of i read as j (then other i), and images of j read as j."""
    if test_images is None:
        return None
    try:
        labels, probs = run.predictions
    except (OSError, KeyError, ValueError) as e:
        warnings.warn(f"predictions of {run.label} unreadable ({e}): confused pairs shown "
                      "without images", stacklevel=3)
        return None
    if len(test_images) != len(labels):
        warnings.warn(f"test_images has {len(test_images)} images but the predictions of "
                      f"{run.label} have {len(labels)}: confused pairs shown without images",
                      stacklevel=3)
        return None
    pred = probs.argmax(axis=1)
    rng = np.random.default_rng(seed)

    def pick(mask_first, mask_rest):
        first = np.flatnonzero(mask_first)
        first = rng.permutation(first)[:N_EXAMPLES]
        rest = np.flatnonzero(mask_rest & ~mask_first)
        rest = rng.permutation(rest)[:N_EXAMPLES - len(first)]
        return np.sort(first), np.sort(rest)

    out = []
    for i, j, _ in pairs:
        wrong, other_i = pick((labels == i) & (pred == j), labels == i)
        right_j, other_j = pick((labels == j) & (pred == j), labels == j)
        out.append((test_images[np.concatenate([wrong, other_i])], len(wrong),
                    test_images[np.concatenate([right_j, other_j])], len(right_j)))
    return out


def confused_pairs_figure(study: Study, label: str,
                          test_images: np.ndarray | None) -> Maker | None:
    """The most-confused pairs of `label` (its lowest seed): with `test_images` (aligned with
    its predictions), images of the true class (misread ones framed) beside images of the class
    it was read as; without, the pairs as a table."""
    run = study.representative(label)
    pairs = run.metrics.get("most_confused")
    if pairs is None:
        cm = _confusion_counts(run)
        if cm is None:
            return None
        pairs = M.most_confused(cm.astype(np.int64), k=N_CONFUSED)
    pairs = [(int(i), int(j), int(c)) for i, j, c in pairs][:N_CONFUSED]
    if not pairs:
        return None
    support = run.metrics.get("per_class", {}).get("support")
    chars = study.spec.chars
    examples = _examples(run, test_images, pairs)

    def share(i, c):
        return f" ({c / support[i]:.1%} of {chars[i]})" if support and support[i] else ""

    lines = [f"{chars[i]} read as {chars[j]}: {c:,}×{share(i, c)}" for i, j, c in pairs]

    def make_text():
        fig = new_figure(figsize=(6.5, 0.42 * len(pairs) + 1.1))
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(len(pairs) + 0.4, 0.0)
        for x, head in ((0.0, "true"), (0.12, "predicted"),
                        (0.32, "test images of the true class read as the predicted one")):
            ax.text(x, 0.25, head, fontsize="small", color=_muted(), va="center")
        for k, (i, j, c) in enumerate(pairs, start=1):
            ax.text(0.0, k, chars[i], fontsize=18, va="center")
            ax.text(0.12, k, chars[j], fontsize=18, va="center")
            ax.text(0.32, k, f"{c:,}{share(i, c)}", fontsize=10, va="center")
        _subtitle(ax, f"{label}, seed {run.seed} (no test images given)")
        fig.suptitle(title_for(study.spec, "Most confused class pairs"))
        return _done(fig)

    def make_images():
        from matplotlib.patches import Rectangle

        fig = new_figure(figsize=(11, 1.1 * len(pairs) + 0.8))
        axes = np.atleast_2d(fig.subplots(len(pairs), 2))
        for k, ((_, j, _), (imgs_i, n_wrong, imgs_j, n_right)) in enumerate(
                zip(pairs, examples, strict=True)):
            left, right = axes[k]
            xs, ys = image_grid(left, imgs_i, N_EXAMPLES, gap=3)
            image_grid(right, imgs_j, N_EXAMPLES, gap=3)
            h, w = imgs_i.shape[1:3] if len(imgs_i) else (28, 28)
            for col in range(n_wrong):  # the misread ones, framed in red
                left.add_patch(Rectangle((xs[col] - w / 2 - 1, ys[0] - h / 2 - 1), w + 2, h + 2,
                                         fill=False, edgecolor=CYCLE[3], lw=1.6))
            _subtitle(left, f"{lines[k]}; misread ones framed" if n_wrong else lines[k])
            _subtitle(right, f"{chars[j]}, as read: {n_right} read correctly" +
                      (f", {len(imgs_j) - n_right} others" if len(imgs_j) > n_right else ""))
        fig.suptitle(title_for(study.spec, f"Most confused class pairs of {label}, "
                                           f"seed {run.seed}"))
        return _done(fig)

    return make_images if examples else make_text


def cost_benefit_figure(study: Study) -> Maker | None:
    """Balanced accuracy against trainable parameters and against training time."""
    labels = study.labels()
    bal, bal_sd = _mean_sd(study, labels, "balanced_accuracy")
    params, _ = _mean_sd(study, labels, "params")
    secs, _ = _mean_sd(study, labels, "train_seconds")
    if not (np.isfinite(bal) & (np.isfinite(params) | np.isfinite(secs))).any():
        return None
    fams = [_family(study, lb) for lb in labels]
    colours = [_family_colour(f) for f in fams]

    def panel(ax, xs, name, log):
        keep = np.isfinite(xs) & np.isfinite(bal) & (xs > 0)
        if not keep.any():
            ax.text(0.5, 0.5, f"no {name} recorded", ha="center", va="center",
                    transform=ax.transAxes, color=_muted())
            ax.set_xticks([])
            ax.set_yticks([])
            return
        idx = np.flatnonzero(keep)
        x, y = xs[idx], bal[idx]
        front = _pareto(x, y)
        ax.step(x[front], y[front], where="post", color=_muted(), lw=1, ls="--", zorder=1,
                label="best for its cost")
        if np.nanmax(bal_sd[idx]) > 0:
            ax.errorbar(x, y, yerr=bal_sd[idx], fmt="none", ecolor=_muted(), elinewidth=0.8,
                        capsize=2)
        cols = [colours[i] for i in idx]
        ax.scatter(x, y, c=cols, s=40, zorder=3)
        _scatter_labels(ax, x, y, [labels[i] for i in idx], cols, fontsize=6.5)
        if log or x.max() / x.min() > 20:
            _log_axis(ax, "x")
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
        _family_legend(a, fams, loc="lower right", extra=a.get_legend_handles_labels()[0])
        _subtitle(a, _seeds_note(study, labels))
        fig.suptitle(title_for(study.spec, "What the accuracy costs"))
        return _done(fig)

    return make


def recall_figure(study: Study, label: str, train_counts: np.ndarray | None) -> Maker | None:
    """Per-class recall of `label` (characters) and the range over models against the training
    count of each class (`train_counts`, else 6 × the test counts), log x."""
    spec = study.spec
    n = spec.n_classes
    estimated = train_counts is None
    counts = (np.asarray(spec.test_counts, dtype=np.float64) * TRAIN_PER_TEST if estimated
              else np.asarray(train_counts, dtype=np.float64))
    if counts.shape != (n,):
        warnings.warn(f"train_counts must have one count per class ({n}), got shape "
                      f"{counts.shape}: recall_vs_train_count skipped", stacklevel=3)
        return None
    best = _per_class(study, label, "recall")
    every = [v for lb in study.labels() if (v := _per_class(study, lb, "recall")) is not None]
    if best is None or not every:
        return None
    every = np.array(every)
    mean, lo, hi = every.mean(0), every.min(0), every.max(0)
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
            ax.vlines(x[idx], lo[idx], hi[idx], color=_muted(), lw=0.8, alpha=0.6,
                      label=f"range over the {n_models} models")
            ax.plot(x[idx], mean[idx], "_", color=_muted(), ms=7, mew=1.5,
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
        _log_axis(ax, "x")
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
        _subtitle(ax, f"Spearman rank correlation of recall with the training count: {rho}")
        fig.suptitle(title_for(spec, "Does the imbalance hurt the rare classes?"))
        return _done(fig)

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


def reliability_figure(study: Study, label: str) -> Maker | None:
    """The reliability diagram of `label` (its lowest seed) and its ECE, from metrics.json."""
    run = study.representative(label)
    rel = run.metrics.get("reliability")
    if not rel or not rel.get("edges"):
        return None
    edges = np.asarray(rel["edges"], dtype=np.float64)
    count = np.asarray(rel["count"], dtype=np.float64)
    conf = np.array([np.nan if v is None else v for v in rel["confidence"]], dtype=np.float64)
    acc = np.array([np.nan if v is None else v for v in rel["accuracy"]], dtype=np.float64)
    ece = run.metrics.get("ece")
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)

    def make():
        fig = new_figure(figsize=(6.4, 6.8))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        ok = np.isfinite(acc)
        w = widths[ok] * 0.92
        top.bar(centres[ok], acc[ok], w, color=CYCLE[0], label="accuracy of the bin")
        top.hlines(conf[ok], centres[ok] - w / 2, centres[ok] + w / 2, color=CYCLE[3], lw=2.2,
                   label="mean confidence of the bin")
        top.plot([0, 1], [0, 1], ":", color=_fg(), lw=1.2, label="perfect calibration")
        top.set_ylim(0, 1.02)
        top.set_ylabel("accuracy")
        top.grid(True)
        top.set_axisbelow(True)
        bottom.bar(centres, count, widths * 0.92, color=_muted())
        bottom.set_ylabel("test images")
        bottom.set_xlabel("top-1 confidence")
        bottom.set_xlim(0, 1)
        bottom.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
        ece_text = f"ECE {ece:.3f}" if isinstance(ece, (int, float)) else "ECE unknown"
        _subtitle(top, f"{label}, seed {run.seed}: {ece_text}")
        fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   fontsize="small")
        fig.suptitle(title_for(study.spec, "Reliability diagram"))
        return _done(fig)

    return make


# ---------------------------------------------------------------------------------------------


def report_figures(
    study: Study,
    out_dir: str | os.PathLike,
    *,
    train_counts: np.ndarray | None = None,
    test_images: np.ndarray | None = None,
    themes: Sequence[str] = THEMES,
) -> dict[str, list[Path]]:
    """Write every figure the study's runs allow; return {stem: its SVG and PNG paths}.

    `train_counts` (one per class) defaults to 6 × the spec's test counts; `test_images` (the
    test set, in the order of the predictions' labels) adds example images to confused_pairs.
    A figure that cannot be drawn from this study is skipped; one that fails is skipped with a
    warning, so one bad run never stops the report.
    """
    out_dir = Path(out_dir)
    labels = study.labels()
    best = best_label(study)
    builders: list[tuple[str, Callable[[], Maker | None]]] = [
        ("accuracy", lambda: accuracy_figure(study)),
        *[(f"training_curves_{lb}", lambda lb=lb: training_curves_figure(study, lb))
          for lb in labels],
        ("training_curves_all", lambda: training_curves_all_figure(study)),
    ]
    if best is not None:
        builders.append(("roc_nightmare", lambda: roc_figure(study, best)))
    builders += [
        ("auc_pairs", lambda: auc_pairs_figure(study, choose_pairs(study))),
        ("auc_inverse_frequency", lambda: auc_inverse_frequency_figure(study)),
        ("accuracy_vs_auc", lambda: accuracy_vs_auc_figure(study)),
    ]
    if best is not None:
        builders += [
            ("confusion_matrix", lambda: confusion_figure(study, best)),
            ("confused_pairs", lambda: confused_pairs_figure(study, best, test_images)),
        ]
    builders.append(("cost_benefit", lambda: cost_benefit_figure(study)))
    if best is not None:
        builders += [
            ("recall_vs_train_count", lambda: recall_figure(study, best, train_counts)),
            ("reliability", lambda: reliability_figure(study, best)),
        ]
    written: dict[str, list[Path]] = {}
    for stem, build in builders:
        try:
            make = build()
            if make is not None:
                written[stem] = save_figure(make, out_dir, stem, themes)
        except Exception as e:  # noqa: BLE001  (one figure must not stop the report)
            warnings.warn(f"figure {stem} skipped: {type(e).__name__}: {e}", stacklevel=2)
    return written
