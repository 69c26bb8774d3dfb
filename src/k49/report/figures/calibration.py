"""Calibration: the best model's reliability diagram."""

from __future__ import annotations

import numpy as np

from k49.report.figures.inputs import FigureInputs
from k49.report.figures.registry import figure
from k49.report.figures.style import Maker, finish, foreground, muted, subtitle
from k49.viz import CYCLE, new_figure, title_for


@figure("reliability", model="best",
        caption="Reliability diagram of the best model: accuracy against top-1 confidence in "
                "equal-width bins, with its expected calibration error (ECE).")
def reliability_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """The reliability diagram of `label` (its lowest seed) and its ECE, from metrics.json."""
    study = inputs.study
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
        top.plot([0, 1], [0, 1], ":", color=foreground(), lw=1.2, label="perfect calibration")
        top.set_ylim(0, 1.02)
        top.set_ylabel("accuracy")
        top.grid(True)
        top.set_axisbelow(True)
        bottom.bar(centres, count, widths * 0.92, color=muted())
        bottom.set_ylabel("test images")
        bottom.set_xlabel("top-1 confidence")
        bottom.set_xlim(0, 1)
        bottom.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
        ece_text = f"ECE {ece:.3f}" if isinstance(ece, (int, float)) else "ECE unknown"
        subtitle(top, f"{label}, seed {run.seed}: {ece_text}")
        fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   fontsize="small")
        fig.suptitle(title_for(study.spec, "Reliability diagram"))
        return finish(fig)

    return make
