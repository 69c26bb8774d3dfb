"""The metric table is the one description of every reported metric: it names only what
`evaluate` computes, the intervals are computed for exactly its interval metrics, and the
results table, model card and CLI write each metric as it says."""

from __future__ import annotations

import numpy as np

from k49.deploy.model_card import _metric_rows
from k49.evaluation.metric_table import INTERVAL_METRICS, METRICS
from k49.evaluation.metrics import evaluate
from k49.evaluation.stats import bootstrap_intervals
from k49.report.table import COLUMNS


def _predictions(n_classes=5, per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs.astype(np.float32)


def test_every_metric_in_the_table_is_computed():
    y, probs = _predictions()
    computed = evaluate(y, probs)
    assert set(METRICS) <= set(computed)
    for key in METRICS:
        assert np.isfinite(computed[key]), key


def test_intervals_are_computed_for_exactly_the_interval_metrics():
    y, probs = _predictions()
    intervals = bootstrap_intervals(y, probs, n_resamples=50)
    assert set(INTERVAL_METRICS) == {k for k in intervals if k in METRICS}
    assert INTERVAL_METRICS == tuple(k for k, m in METRICS.items() if m.interval)


def test_formats_follow_the_table():
    assert METRICS["balanced_accuracy"].format(0.87654) == "87.65%"
    assert METRICS["auc_macro"].format(0.987654) == "0.9877"
    assert METRICS["accuracy"].format(0.5, 0.01, digits=1) == "50.0 ± 1.0%"
    assert METRICS["accuracy"].format(float("nan")) == "—"
    assert METRICS["auc_macro"].format_interval(0.9, 0.95) == "0.9000–0.9500"
    assert METRICS["f1_macro"].format_interval(0.859, 0.881) == "85.9–88.1"


def test_the_results_table_and_model_card_take_titles_and_names_from_it():
    columns = {c.key: c for c in COLUMNS}
    for key, column in columns.items():
        if key in METRICS:
            assert column.title == METRICS[key].title
            assert column.tip.startswith(METRICS[key].description)
            assert (column.ci is not None) == METRICS[key].interval
    y, probs = _predictions()
    metrics = evaluate(y, probs)
    rows = _metric_rows({"metrics": metrics, "intervals": {"accuracy": [0.5, 0.6]}})
    names = [r["name"].lower() for r in rows]
    assert names == [m.name.lower() for m in METRICS.values()]
    accuracy = next(r for r in rows if r["name"] == "Accuracy")
    assert accuracy["value"] == METRICS["accuracy"].format(metrics["accuracy"])
    assert accuracy["ci"] == "50.00–60.00"
