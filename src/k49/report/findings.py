"""The report's findings, written from the numbers (never fixed prose).

Each finding compares runs by mean balanced accuracy over their seeds; with several seeds a
Welch t-test says whether the difference stands out from seed-to-seed noise.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ttest_ind

from k49.report import aggregate
from k49.report.collect import Study

METRIC = aggregate.RANKING_METRIC


def _pts(x: float) -> str:
    return f"{100 * x:.2f}"


def _stats(study: Study, label: str, key: str = METRIC) -> tuple[float, float, int]:
    """Mean, sd and number of the seeds' values (see `aggregate`)."""
    values = aggregate.metric_values(study, label, key)
    return aggregate.mean(values), aggregate.sd(values), len(values)


def _show(study: Study, label: str) -> str:
    mean, sd, n = _stats(study, label)
    return f"{label} {_pts(mean)}%" + (f" ± {_pts(sd)}" if n > 1 else "")


def compare(study: Study, a: str, b: str, what: str) -> str | None:
    """'<winner> beat <loser> ... by N points' for two labels, or None if either is missing."""
    if not (study.by_label(a) and study.by_label(b)):
        return None
    (ma, _, na), (mb, _, nb) = _stats(study, a), _stats(study, b)
    winner, loser = (a, b) if ma >= mb else (b, a)
    gap = abs(ma - mb)
    noise = ""
    if na > 1 and nb > 1:
        p = welch_p(study, a, b)
        noise = (f" — significant over seeds (Welch t-test p = {p:.3g})" if p < 0.05
                 else f" — not significant over seeds (Welch t-test p = {p:.2g}): "
                      "within seed noise")
    return (f"{what}: {winner} beat {loser} by {_pts(gap)} points of balanced accuracy "
            f"({_show(study, a)} vs {_show(study, b)}){noise}.")


def welch_p(study: Study, a: str, b: str, key: str = METRIC) -> float:
    """Two-sided Welch t-test p-value of `key` between the seeds of two runs."""
    xa, xb = aggregate.metric_values(study, a, key), aggregate.metric_values(study, b, key)
    if np.std(xa) == 0 and np.std(xb) == 0:
        return 0.0 if np.mean(xa) != np.mean(xb) else 1.0
    return float(ttest_ind(xa, xb, equal_var=False).pvalue)


def _family(study: Study, family: str) -> list[str]:
    return [lb for lb in study.labels() if study.by_label(lb)[0].family == family]


def optimizer_findings(study: Study) -> list[str]:
    out = []
    for stem in ("NN_1", "NN_2", "CNN_1", "CNN_2"):
        line = compare(study, f"{stem}_adam", f"{stem}_sgd", f"Optimizer ({stem})")
        if line:
            out.append(line)
    return out


def batchnorm_findings(study: Study) -> list[str]:
    out = []
    for stem in ("NN_dense", "CNN_dense"):
        a, b = f"{stem}_batch_norm", stem
        line = compare(study, a, b, f"BatchNorm ({stem})")
        if line:
            helped = aggregate.metric_mean(study, a) >= aggregate.metric_mean(study, b)
            out.append(line.replace(f"BatchNorm ({stem}):",
                                    f"BatchNorm {'helped' if helped else 'did not help'} "
                                    f"{stem}:"))
    return out


def depth_findings(study: Study) -> list[str]:
    out = []
    for kind in ("NN", "CNN"):
        for opt in ("sgd", "adam"):
            line = compare(study, f"{kind}_2_{opt}", f"{kind}_1_{opt}",
                           f"Depth ({kind}, {opt.upper() if opt == 'sgd' else 'Adam'})")
            if line:
                out.append(line)
    return out


def nn_vs_cnn(study: Study) -> list[str]:
    nn, cnn = (aggregate.best(study, _family(study, fam)) for fam in ("mlp", "cnn"))
    if nn and cnn:
        return [compare(study, cnn, nn, "Best CNN against best NN")]
    return []


def best_for_cost(study: Study, tolerance: float = 0.01) -> list[str]:
    """The best model, and the smallest one within `tolerance` of it: the seed's conclusion."""
    labels = study.labels()
    best = aggregate.best(study, labels)
    if best is None:
        return []
    mean = {lb: aggregate.metric_mean(study, lb) for lb in labels}
    top = mean[best]
    params = {lb: study.by_label(lb)[0].metrics.get("params") or 0 for lb in labels}
    close = [lb for lb in labels if mean[lb] >= top - tolerance and params[lb] > 0]
    out = [f"Best model: {_show(study, best)} balanced accuracy, {params[best]:,} trainable "
           "parameters."]
    if close:
        small = min(close, key=lambda lb: params[lb])
        if small != best:
            out.append(
                f"Best for its size: {small} comes within {_pts(top - mean[small])}"
                f" points of {best} with {params[small]:,} parameters "
                f"({params[best] / max(params[small], 1):.1f}x fewer): the smallest model that is "
                "as good wins.")
        else:
            out.append(f"No model within {_pts(tolerance)} points of {best} is smaller: it is "
                       "also the best for its size.")
    return out


def imbalance_findings(study: Study, train_counts=None) -> list[str]:
    """Do rare classes suffer? Recall of the rarest classes against the rest, best model."""
    labels = study.labels()
    by_bal = aggregate.best(study, labels)
    if by_bal is None:
        return []
    best = study.representative(by_bal)
    recall = np.asarray(best.metrics["per_class"]["recall"], dtype=float)
    counts = np.asarray(train_counts if train_counts is not None
                        else best.metrics["per_class"]["support"], dtype=float)
    order = np.argsort(counts)
    rare, rest = order[:5], order[5:]
    chars = study.spec.chars
    rare_recall, rest_recall = aggregate.mean(recall[rare]), aggregate.mean(recall[rest])
    verdict = "hurts" if rest_recall - rare_recall > 0.02 else "does not clearly hurt"
    lines = [f"Imbalance {verdict} the rare classes: the 5 rarest "
             f"({' '.join(chars[i] for i in rare)}) have a mean recall of "
             f"{_pts(rare_recall)}% with {best.label}, against {_pts(rest_recall)}%"
             " for the others."]
    by_acc, by_auc = (aggregate.best(study, labels, key)
                      for key in ("accuracy", "auc_inverse_frequency"))
    if by_acc != by_bal or by_acc != by_auc:
        lines.append(f"The metrics disagree on the winner: accuracy picks {by_acc}, "
                     f"balanced accuracy {by_bal}, inverse-frequency AUC {by_auc}.")
    else:
        lines.append(f"Accuracy, balanced accuracy and inverse-frequency AUC agree on the winner "
                     f"({by_bal}).")
    return lines


def missing_findings(study: Study) -> list[str]:
    bad = [r for r in study.runs if not r.ok]
    return [f"{len(bad)} run(s) missing or failed and left out: "
            + ", ".join(f"{r.label} seed {r.seed} ({r.status})" for r in bad) + "."] if bad else []


def findings(study: Study, train_counts=None) -> list[str]:
    """Every finding the numbers support, most important first."""
    return [line for line in (
        *best_for_cost(study), *nn_vs_cnn(study), *optimizer_findings(study),
        *batchnorm_findings(study), *depth_findings(study),
        *imbalance_findings(study, train_counts), *missing_findings(study),
    ) if line]
