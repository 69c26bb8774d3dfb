"""The study's result figures (the seed's, and a few more), each in SVG and PNG, light and dark.

`report_figures(study, out_dir)` writes, through `k49.viz.save_figure`, every figure of the
registry (`registry.FIGURES`) that the study allows; `figure_captions()` lists them with their
captions. Each figure is declared once, with `@figure(stem, caption=...)`, in the module that
draws it; the modules are imported below in the report's order.

Figures are drawn from the metrics already in each run's metrics.json; only the ROC figure (the
curves are not stored) and the example images read a run's predictions, of one run. Failed or
incomplete runs are not drawn; a figure whose inputs are absent is skipped. Class labels are
the characters themselves, and every title says which dataset it shows (`viz.title_for`), so
figures of synthetic data are always titled as synthetic. Means, sds and the best model come
from `k49.report.aggregate`.
"""

from __future__ import annotations

from k49.report.aggregate import best_label
from k49.report.figures.inputs import FigureInputs
from k49.report.figures.registry import FIGURES, caption, figure, figure_captions, report_figures

# The order in which the figure modules are imported is the order of the report's figures.
# isort: off
from k49.report.figures import accuracy, curves, auc, confusion, cost, time, imbalance, calibration  # noqa: F401
# isort: on
from k49.report.figures.auc import choose_pairs

__all__ = [
    "FIGURES",
    "FigureInputs",
    "best_label",
    "caption",
    "choose_pairs",
    "figure",
    "figure_captions",
    "report_figures",
]
