"""Time to accuracy: validation balanced accuracy against cumulative training seconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from k49.evaluation.time_to_accuracy import cumulative_seconds
from k49.formats import finite_or_none
from k49.report import aggregate
from k49.report.collect import RunRecord
from k49.report.figures.inputs import FigureInputs, family, seeds_note
from k49.report.figures.registry import figure
from k49.report.figures.style import (
    FAMILY_STYLES,
    Maker,
    family_colour,
    finish,
    log_axis,
    muted,
    subtitle,
)
from k49.report.time_table import FRACTIONS, KEY, time_to_accuracy_rows, timed_runs
from k49.viz import new_figure, title_for

#: Markers that tell apart the models of one family (which share a colour).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def mean_time_curve(runs: Sequence[RunRecord], key: str = KEY) -> tuple[np.ndarray, np.ndarray]:
    """(mean cumulative training seconds, mean `key`) epoch by epoch over the seeds, each mean
    over the seeds that have a finite value at that epoch; epochs without one are left out."""
    by_epoch: dict[float, tuple[list[float], list[float]]] = {}
    for r in runs:
        if not r.history:
            continue
        for i, (h, s) in enumerate(zip(r.history, cumulative_seconds(r.history), strict=True)):
            v = finite_or_none(h.get(key))
            if v is not None:
                secs, values = by_epoch.setdefault(float(h.get("epoch", i + 1)), ([], []))
                secs.append(float(s))
                values.append(v)
    epochs = sorted(by_epoch)
    return (np.array([aggregate.mean(by_epoch[e][0]) for e in epochs], dtype=np.float64),
            np.array([aggregate.mean(by_epoch[e][1]) for e in epochs], dtype=np.float64))


def _styles(inputs: FigureInputs, labels: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """(colour, linestyle, marker) per label: the family's colour and style, a marker each."""
    out, seen = {}, {}
    for lb in labels:
        fam = family(inputs.study, lb)
        k = seen.get(fam, 0)
        seen[fam] = k + 1
        out[lb] = (family_colour(fam), FAMILY_STYLES.get(fam, "-"), MARKERS[k % len(MARKERS)])
    return out


@figure("time_to_accuracy",
        caption="Validation balanced accuracy of each model against its cumulative training "
                "time in seconds (log scale), the mean over its seeds epoch by epoch with a "
                "marker at the end of each epoch, coloured by family; the dashed lines mark 80%, "
                "90% and 95% of the best model's final validation balanced accuracy, and "
                "evaluation time is excluded.")
def time_to_accuracy_figure(inputs: FigureInputs) -> Maker | None:
    """One curve per model of validation balanced accuracy against training seconds."""
    study = inputs.study
    rows = time_to_accuracy_rows(study)
    if not rows:
        return None
    curves = {r["model"]: mean_time_curve(timed_runs(study, r["model"])) for r in rows}
    curves = {lb: (s[s > 0], v[s > 0]) for lb, (s, v) in curves.items()}  # log axis
    curves = {lb: c for lb, c in curves.items() if len(c[0])}
    if not curves:
        return None
    labels = list(curves)
    styles = _styles(inputs, labels)
    target, best = rows[0]["target"], rows[0]["target_model"]
    note = seeds_note(study, labels, intervals=False)

    def make():
        fig = new_figure(figsize=(10, 4.8))
        ax = fig.add_subplot()
        for lb in labels:
            colour, ls, marker = styles[lb]
            ax.plot(*curves[lb], ls=ls, color=colour, marker=marker, ms=4, lw=1.4, label=lb)
        trans = ax.get_yaxis_transform()
        for p, fraction in FRACTIONS:
            y = fraction * target
            ax.axhline(y, ls="--", lw=0.9, color=muted(), zorder=1)
            ax.text(0.005, y, f"{p}% of target ({100 * y:.1f}%)", transform=trans, ha="left",
                    va="bottom", fontsize="x-small", color=muted())
        lo = min(c[0].min() for c in curves.values())
        hi = max(c[0].max() for c in curves.values())
        log_axis(ax, "x", subs=(1.0, 2.0, 5.0) if hi / lo > 30 else tuple(range(1, 10)))
        ax.set_xlabel("cumulative training time (s, log scale; evaluation excluded)")
        ax.set_ylabel("validation balanced accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.grid(True)
        ax.set_axisbelow(True)
        handles = ax.get_legend_handles_labels()[0]
        handles.append(Line2D([], [], ls="--", lw=0.9, color=muted(),
                              label="80/90/95% of target"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1),
                  fontsize="small", ncols=2 if len(handles) > 16 else 1)
        subtitle(ax, f"{note}; target: {best}'s final validation balanced accuracy "
                     f"({100 * target:.1f}%)")
        fig.suptitle(title_for(study.spec, "Time to accuracy"))
        return finish(fig)

    return make
