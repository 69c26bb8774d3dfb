"""AUC figures: the seed's per-class model pairs, its inverse-frequency weighted AUC, and
accuracy against that AUC."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import PercentFormatter

from k49.report import aggregate
from k49.report.collect import CollectedRuns
from k49.report.figures.inputs import (
    INTERVALS_NOTE,
    FigureInputs,
    family,
    mean_errors,
    optimizer,
    seeds_note,
)
from k49.report.figures.registry import figure
from k49.report.figures.style import (
    Maker,
    char_labels,
    error_bars,
    family_colour,
    family_legend,
    finish,
    model_axis,
    muted,
    paired_bars,
    scatter_labels,
    subtitle,
)
from k49.viz import CYCLE, new_figure, title_for


def _find(study: CollectedRuns, model: str) -> str | None:
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


def choose_pairs(study: CollectedRuns) -> list[tuple[str, str, str]]:
    """The seed's five AUC comparisons as (title, label_a, label_b), chosen from the results.

    "Best" is by mean balanced accuracy over seeds; NN is family "mlp", CNN family "cnn";
    Adam and SGD come from the run's config, among the models the seed built in both variants
    (the `_sgd`/`_adam` ones), so the comparison changes only the optimizer, not the depth. A
    pair with a missing model is left out.
    """
    labels = study.labels()

    def best(fam: str, opt: str | None = None) -> str | None:
        return aggregate.best(study, [lb for lb in labels if family(study, lb) == fam and
                                      (opt is None or (optimizer(study, lb) == opt
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


@figure("auc_pairs",
        caption="Per-class AUC of the seed's pairs of models (best Adam vs best SGD NN and CNN, "
                "dense vs dense with batch normalisation, best NN vs best CNN), class by "
                "character.")
def auc_pairs_figure(inputs: FigureInputs) -> Maker | None:
    """One panel per pair of `choose_pairs`: both models' per-class AUC (mean over seeds),
    class by character."""
    study = inputs.study
    data = []
    for title, a, b in choose_pairs(study):
        va, vb = (aggregate.per_class_mean(study, lb, "auc") for lb in (a, b))
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
            ax.vlines(x[ok], np.minimum(va, vb)[ok], np.maximum(va, vb)[ok], color=muted(),
                      lw=1.0, alpha=0.8)
            ax.plot(x, va, "o", ms=4.5, color=CYCLE[0],
                    label=f"{a} (mean {aggregate.mean(va):.4f})")
            ax.plot(x, vb, "D", ms=3.8, color=CYCLE[1],
                    label=f"{b} (mean {aggregate.mean(vb):.4f})")
            wins = int((va[ok] > vb[ok]).sum())
            subtitle(ax, f"{title}: {a} has the higher AUC on {wins} of {int(ok.sum())} classes")
            char_labels(ax, chars, "x", fontsize=11)
            ax.set_xlim(-0.7, len(chars) - 0.3)
            ax.set_ylabel("AUC")
            ax.yaxis.grid(True)
            ax.set_axisbelow(True)
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        fig.suptitle(title_for(study.spec, "Per-class AUC, model against model"))
        return finish(fig)

    return make


@figure("auc_inverse_frequency",
        caption="The seed's weighted AUC (per-class AUCs averaged with weights 1 / class count, "
                "so rare classes count most) beside the plain macro AUC, per model (the mean "
                "over its seeds); " + INTERVALS_NOTE + ".")
def auc_inverse_frequency_figure(inputs: FigureInputs) -> Maker | None:
    """Bars of the inverse-frequency weighted AUC per model, beside the macro AUC."""
    study = inputs.study
    labels = [lb for lb in study.labels()
              if len(aggregate.metric_values(study, lb, "auc_inverse_frequency"))]
    if not labels:
        return None
    inv, inv_err = mean_errors(study, labels, "auc_inverse_frequency")
    mac, mac_err = mean_errors(study, labels, "auc_macro")
    x = np.arange(len(labels))
    lo = np.nanmin(np.concatenate([inv - np.nan_to_num(inv_err[0]),
                                   mac - np.nan_to_num(mac_err[0])]))
    floor = max(0.0, math.floor((lo - 0.02) * 20) / 20)  # bars would all look equal from 0
    note = seeds_note(study, labels)

    def make():
        fig = new_figure(figsize=(max(6.5, 0.62 * len(labels) + 2), 4.6))
        ax = fig.add_subplot()
        paired_bars(ax, x, [(inv, inv_err, "inverse-frequency weighted AUC", CYCLE[0]),
                            (mac, mac_err, "macro AUC", CYCLE[2])],
                    floor=floor, fmt="{:.3f}", pad=0.004 * (1 - floor))
        model_axis(ax, labels)
        ax.set_ylim(floor, 1 + 0.1 * (1 - floor))
        ax.set_ylabel(f"AUC (axis from {floor:g})" if floor > 0 else "AUC")
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        subtitle(ax, note)
        fig.suptitle(title_for(study.spec, "AUC weighted by inverse class frequency"))
        return finish(fig)

    return make


@figure("accuracy_vs_auc",
        caption="Accuracy against inverse-frequency weighted AUC, one point per model, coloured "
                "by family, at the mean over its seeds; " + INTERVALS_NOTE + ".")
def accuracy_vs_auc_figure(inputs: FigureInputs) -> Maker | None:
    """Accuracy against inverse-frequency weighted AUC, a labelled point per model, with the
    95% interval of each (`aggregate.interval`) as error bars."""
    study = inputs.study
    labels: Sequence[str] = study.labels()
    auc, auc_err = mean_errors(study, labels, "auc_inverse_frequency")
    acc, acc_err = mean_errors(study, labels, "accuracy")
    keep = np.isfinite(auc) & np.isfinite(acc)
    if not keep.any():
        return None
    labels = [lb for lb, k in zip(labels, keep, strict=True) if k]
    auc, auc_err, acc, acc_err = auc[keep], auc_err[:, keep], acc[keep], acc_err[:, keep]
    fams = [family(study, lb) for lb in labels]
    colours = [family_colour(f) for f in fams]

    def make():
        fig = new_figure(figsize=(7.5, 5.2))
        ax = fig.add_subplot()
        error_bars(ax, auc, acc, xerr=auc_err, yerr=acc_err, color=muted(), elinewidth=0.8)
        ax.scatter(auc, acc, c=colours, s=42, zorder=3)
        scatter_labels(ax, auc, acc, labels, colours)
        ax.set_xlabel("inverse-frequency weighted AUC")
        ax.set_ylabel("accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.grid(True)
        ax.set_axisbelow(True)
        ax.margins(0.12)
        family_legend(ax, fams, loc="lower right")
        subtitle(ax, seeds_note(study, labels))
        fig.suptitle(title_for(study.spec, "Accuracy against weighted AUC"))
        return finish(fig)

    return make
