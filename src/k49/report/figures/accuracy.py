"""The headline figure: accuracy and balanced accuracy of every model."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import PercentFormatter

from k49.report.figures.inputs import INTERVALS_NOTE, FigureInputs, mean_errors, seeds_note
from k49.report.figures.registry import figure
from k49.report.figures.style import Maker, finish, model_axis, paired_bars, subtitle
from k49.viz import CYCLE, new_figure, title_for


@figure("accuracy",
        caption="Accuracy and balanced accuracy (mean recall over classes) of each model on the "
                "test set; with several seeds, bars are means over the seeds; " + INTERVALS_NOTE
                + ".")
def accuracy_figure(inputs: FigureInputs) -> Maker | None:
    """Grouped bars of accuracy and balanced accuracy per model: the mean over seeds, with its
    95% interval (`aggregate.interval`)."""
    study = inputs.study
    labels = study.labels()
    if not labels:
        return None
    acc, acc_err = mean_errors(study, labels, "accuracy")
    bal, bal_err = mean_errors(study, labels, "balanced_accuracy")
    x = np.arange(len(labels))
    note = seeds_note(study, labels)

    def make():
        fig = new_figure(figsize=(max(6.5, 0.62 * len(labels) + 2), 4.6))
        ax = fig.add_subplot()
        paired_bars(ax, x, [(acc, acc_err, "accuracy", CYCLE[0]),
                            (bal, bal_err, "balanced accuracy", CYCLE[1])],
                    fmt="{:.1%}", pad=0.012)
        model_axis(ax, labels)
        ax.set_ylim(0, 1.12)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        subtitle(ax, note)
        fig.suptitle(title_for(study.spec, "Test accuracy per model"))
        return finish(fig)

    return make
