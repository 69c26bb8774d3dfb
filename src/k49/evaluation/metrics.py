"""Imbalance-aware metrics: pure functions over labels and class probabilities.

Inputs are validated first (as scikit-learn does): a bad argument fails with a message naming
it, what was expected and what was received. Where scikit-learn computes a metric, it is used;
k49 adds what it lacks (the seed's inverse-frequency AUC, ECE and its reliability diagram) and
the conventions for a class missing from the test set (its AUC is undefined, NaN, and left out
of averages).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from k49.errors import InvalidInput

#: Tolerance on probability rows summing to 1 (float32 softmax).
ROW_SUM_ATOL = 1e-3
#: Most bins of a reliability diagram.
MAX_BINS = 10_000


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """An integer argument, checked to lie in low..high."""
    if (isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low
            or (high is not None and value > high)):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidInput(f"{name} must be an integer in {bound}, got {value!r}")
    return int(value)


def check_labels(y_true: Any, n_classes: int | None = None, name: str = "y_true") -> np.ndarray:
    """`y_true` as 1-D integer class indices (below `n_classes` when given), or an
    InvalidInput naming `name`."""
    try:
        y = np.asarray(y_true)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"{name} must be 1-D class indices, got {type(y_true).__name__} "
                           f"({e})") from None
    if y.ndim != 1:
        raise InvalidInput(f"{name} must be 1-D class indices, got an array of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidInput(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.size == 0:
        raise InvalidInput(f"{name} must not be empty")
    if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
        bound = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
        raise InvalidInput(f"{name} must lie in {bound}, got values {y.min()}..{y.max()}")
    return y.astype(np.int64)


def _real_array(x: Any, name: str) -> np.ndarray:
    """`x` as a float64 array, refusing what is not real numbers (strings, complex, dates)."""
    try:
        a = np.asarray(x)
        if a.dtype.kind not in "cmMV":
            return a.astype(np.float64)
        got = f"dtype {a.dtype}"
    except (TypeError, ValueError) as e:
        got = f"{type(x).__name__} ({e})"
    raise InvalidInput(f"{name} must be an array of real numbers, got {got}")


def check_probs(y_true: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated (labels (N,), probabilities (N, C)) with rows that sum to 1."""
    p = _real_array(probs, "probs")
    if p.ndim != 2:
        raise InvalidInput(f"probs must be a 2-D array (n_samples, n_classes), got shape {p.shape}")
    y = check_labels(y_true, p.shape[1])
    if len(y) != len(p):
        raise InvalidInput(
            f"y_true and probs must have the same number of samples, got {len(y)} and {len(p)}"
        )
    if not np.isfinite(p).all():
        raise InvalidInput(f"probs must be finite, got {int((~np.isfinite(p)).sum())} NaN or inf")
    if (p < 0).any() or (p > 1).any():
        raise InvalidInput(f"probs must lie in [0, 1], got values {p.min():.3g}..{p.max():.3g}")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=ROW_SUM_ATOL):
        worst = sums[np.argmax(np.abs(sums - 1))]
        raise InvalidInput(
            f"each row of probs must sum to 1 (within {ROW_SUM_ATOL}), got a row summing to "
            f"{worst:.6g}: pass softmax probabilities, not logits"
        )
    return y, p


def _classes(p: np.ndarray) -> np.ndarray:
    return np.arange(p.shape[1])


def accuracy(y_true, probs) -> float:
    """The share of images whose most probable class is the true one."""
    y, p = check_probs(y_true, probs)
    return float(skm.accuracy_score(y, p.argmax(1)))


def balanced_accuracy(y_true, probs) -> float:
    """Mean recall over the classes present in `y_true` (the K49 authors' metric)."""
    y, p = check_probs(y_true, probs)
    present = np.unique(y)
    recall = skm.recall_score(y, p.argmax(1), labels=present, average=None, zero_division=0)
    return float(recall.mean())


def top_k_accuracy(y_true, probs, k: int = 5) -> float:
    """The share of images whose true class is among the `k` most probable."""
    y, p = check_probs(y_true, probs)
    k = check_int(k, "k", 1, p.shape[1])
    # scikit-learn's top_k_accuracy_score, whose binary case fails on one or two classes: ties
    # broken the same way (towards the higher class index).
    top = np.argsort(p, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float((top == y[:, None]).any(axis=1).mean())


def log_loss(y_true, probs) -> float:
    """The mean negative log-probability of the true class (cross-entropy)."""
    y, p = check_probs(y_true, probs)
    if p.shape[1] == 1:  # every probability is 1; scikit-learn refuses a single class
        return 0.0
    # float32 softmax rows sum to 1 only within rounding; renormalise as scikit-learn expects.
    return float(skm.log_loss(y, p / p.sum(axis=1, keepdims=True), labels=_classes(p)))


def per_class_scores(y_true, probs) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class (0 where undefined)."""
    y, p = check_probs(y_true, probs)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, p.argmax(1), labels=_classes(p), zero_division=0
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def f1(y_true, probs, average: str = "macro") -> float:
    """Macro F1 over the classes present in y_true or predicted; or support-weighted F1."""
    if average not in ("macro", "weighted"):
        raise InvalidInput(f"average must be 'macro' or 'weighted', got {average!r}")
    y, p = check_probs(y_true, probs)
    return float(skm.f1_score(y, p.argmax(1), average=average, zero_division=0))


def roc_curves(y_true, probs) -> dict[str, Any]:
    """One-vs-rest ROC curve and AUC of every class, with micro and macro averages.

    A class absent from y_true has no ROC curve: its AUC is NaN and it is left out of the
    macro average.
    """
    y, p = check_probs(y_true, probs)
    n = p.shape[1]
    onehot = np.eye(n, dtype=bool)[y]
    curves, aucs = [], np.full(n, np.nan)
    for c in range(n):
        if onehot[:, c].any() and not onehot[:, c].all():
            fpr, tpr, _ = skm.roc_curve(onehot[:, c], p[:, c])
            aucs[c] = skm.auc(fpr, tpr)
            curves.append((fpr, tpr))
        else:
            curves.append((np.array([]), np.array([])))
    micro_fpr, micro_tpr, _ = skm.roc_curve(onehot.ravel(), p.ravel())
    defined = [c for c in range(n) if not np.isnan(aucs[c])]
    grid = np.unique(np.concatenate([curves[c][0] for c in defined])) if defined else np.array([])
    macro_tpr = (np.mean([np.interp(grid, *curves[c]) for c in defined], axis=0)
                 if defined else np.array([]))
    return {
        "per_class": curves,
        "auc": aucs,
        "micro": (micro_fpr, micro_tpr),
        "auc_micro": float(skm.auc(micro_fpr, micro_tpr)),
        "macro": (grid, macro_tpr),
        "auc_macro": float(np.nanmean(aucs)) if defined else float("nan"),
    }


def inverse_frequency_auc(aucs, counts) -> float:
    """The seed's average of per-class AUCs, each weighted by 1 / its sample count.

    Classes with no samples or an undefined (NaN) AUC are left out.
    """
    a = _real_array(aucs, "aucs")
    c = _real_array(counts, "counts")
    if a.shape != c.shape or a.ndim != 1:
        raise InvalidInput(
            f"aucs and counts must be 1-D of the same length, got shapes {a.shape} and {c.shape}"
        )
    if not (np.isnan(a) | ((a >= 0) & (a <= 1))).all():
        raise InvalidInput(f"aucs must lie in [0, 1] or be NaN, got values "
                           f"{np.nanmin(a):.3g}..{np.nanmax(a):.3g}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise InvalidInput(f"counts must be non-negative and finite, got values "
                           f"{c.min():.3g}..{c.max():.3g}")
    keep = (c > 0) & ~np.isnan(a)
    if not keep.any():
        return float("nan")
    w = 1.0 / c[keep]
    return float(np.sum(w * a[keep]) / np.sum(w))


def confusion(y_true, probs) -> dict[str, np.ndarray]:
    """Confusion matrix (rows: true class, columns: predicted), as counts and row-normalised."""
    y, p = check_probs(y_true, probs)
    counts = skm.confusion_matrix(y, p.argmax(1), labels=_classes(p))
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    return {"counts": counts, "normalised": normalised}


def calibration(y_true, probs, n_bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top-1 confidence, and the reliability diagram's bins.

    ECE = sum over equal-width confidence bins of (bin size / N) * |accuracy - confidence|.
    """
    n_bins = check_int(n_bins, "n_bins", 1, MAX_BINS)
    y, p = check_probs(y_true, probs)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    nonempty = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.full(n_bins, np.nan), where=nonempty)
    mean_acc = np.divide(acc_sum, count, out=np.full(n_bins, np.nan), where=nonempty)
    ece = float(np.sum(np.abs(acc_sum - conf_sum)) / len(y))
    return {"ece": ece, "edges": edges, "count": count, "confidence": mean_conf,
            "accuracy": mean_acc}


def most_confused(confusion_counts, k: int = 5) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true class, predicted class, count)."""
    k = check_int(k, "k", 0)
    try:
        m = np.array(confusion_counts, copy=True)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"confusion_counts must be a square matrix of counts, got "
                           f"{type(confusion_counts).__name__} ({e})") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or not np.issubdtype(m.dtype, np.integer):
        raise InvalidInput(f"confusion_counts must be a square matrix of integer counts, got "
                           f"{m.dtype} of shape {m.shape}")
    if m.size and m.min() < 0:
        raise InvalidInput(f"confusion_counts must be non-negative, got {m.min()}")
    np.fill_diagonal(m, 0)
    order = np.argsort(m, axis=None)[::-1][:k]
    rows, cols = np.unravel_index(order, m.shape)
    return [(int(i), int(j), int(m[i, j])) for i, j in zip(rows, cols, strict=True)
            if m[i, j] > 0]


def evaluate(y_true, probs, *, n_bins: int = 15) -> dict[str, Any]:
    """Every metric of one model run, as plain JSON-ready values (no curves)."""
    y, p = check_probs(y_true, probs)
    scores = per_class_scores(y, p)
    roc = roc_curves(y, p)
    cm = confusion(y, p)
    cal = calibration(y, p, n_bins=n_bins)
    support = scores["support"]
    return {
        "n_samples": int(len(y)),
        "n_classes": int(p.shape[1]),
        "accuracy": accuracy(y, p),
        "balanced_accuracy": balanced_accuracy(y, p),
        "top5_accuracy": top_k_accuracy(y, p, k=min(5, p.shape[1])),
        "log_loss": log_loss(y, p),
        "f1_macro": f1(y, p, "macro"),
        "f1_weighted": f1(y, p, "weighted"),
        "auc_micro": roc["auc_micro"],
        "auc_macro": roc["auc_macro"],
        "auc_inverse_frequency": inverse_frequency_auc(roc["auc"], support),
        "ece": cal["ece"],
        "per_class": {
            "precision": scores["precision"].tolist(),
            "recall": scores["recall"].tolist(),
            "f1": scores["f1"].tolist(),
            "support": support.tolist(),
            "auc": [None if np.isnan(a) else float(a) for a in roc["auc"]],
        },
        "confusion": cm["counts"].tolist(),
        "most_confused": most_confused(cm["counts"]),
        "reliability": {k: [None if isinstance(v, float) and np.isnan(v) else v
                            for v in np.asarray(cal[k]).tolist()]
                        for k in ("edges", "count", "confidence", "accuracy")},
    }
