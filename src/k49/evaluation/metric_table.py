"""Every test metric k49 reports, described once: its name in sentences, its table title,
whether it is a percentage, whether it gets a bootstrap interval, and what it measures. The
intervals, the results table, the model card and `k49 evaluate` all read this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k49.formats import format_fraction, format_percent, format_range


@dataclass(frozen=True)
class Metric:
    key: str
    #: In sentences and on the command line: "balanced accuracy".
    name: str
    #: A table's column header: "Balanced acc.".
    title: str
    #: Shown as a percentage ("87.00%"); otherwise as a fraction with four digits ("0.9912").
    percent: bool
    #: Gets a stratified bootstrap interval, and is shown with it.
    interval: bool
    #: What it measures (a table's tooltip, the model card).
    description: str
    lower_is_better: bool = False

    def format(self, value: Any, sd: Any = None, digits: int | None = None) -> str:
        """`value` (and its sd) as this metric is written; a dash when missing."""
        if self.percent:
            return format_percent(value, sd, 2 if digits is None else digits)
        return format_fraction(value, sd, 4 if digits is None else digits)

    def format_interval(self, low: Any, high: Any, digits: int | None = None) -> str:
        """The interval's ends without brackets, "85.9–88.1" or "0.9901–0.9920"."""
        if self.percent:
            return format_range(low, high, 100.0, 1 if digits is None else digits)
        return format_range(low, high, 1.0, 4 if digits is None else digits)


#: In the order tables and the model card show them.
METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("accuracy", "accuracy", "Accuracy", True, True, "top-1 accuracy"),
    Metric("balanced_accuracy", "balanced accuracy", "Balanced acc.", True, True,
           "mean over the classes of each class's recall (the K49 authors' metric)"),
    Metric("f1_macro", "macro F1", "F1 (macro)", True, True,
           "mean of the classes' F1 scores"),
    Metric("auc_macro", "macro AUC", "AUC (macro)", False, True,
           "mean of the one-vs-rest ROC AUCs of the classes"),
    Metric("auc_inverse_frequency", "inverse-frequency AUC", "AUC (inv. freq.)", False, True,
           "one-vs-rest ROC AUCs weighted by the inverse of each class's test count"),
    Metric("top5_accuracy", "top-5 accuracy", "Top-5", True, False,
           "share of images whose class is among the five most probable"),
    Metric("log_loss", "log loss", "Log loss", False, False,
           "mean negative log-probability of the true class", lower_is_better=True),
    Metric("ece", "expected calibration error", "ECE", True, False,
           "expected calibration error: the gap between confidence and accuracy",
           lower_is_better=True),
)}

#: The metrics that get a bootstrap interval, in the order tables show them.
INTERVAL_METRICS = tuple(key for key, m in METRICS.items() if m.interval)
