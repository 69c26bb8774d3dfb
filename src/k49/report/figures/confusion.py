"""The best model's confusions: its confusion matrix, and its most-confused class pairs."""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from k49.errors import K49Error
from k49.evaluation import metrics as M
from k49.report.collect import RunRecord
from k49.report.figures.inputs import FigureInputs
from k49.report.figures.registry import figure
from k49.report.figures.style import Maker, char_labels, finish, is_dark, muted, subtitle
from k49.viz import CYCLE, image_grid, new_figure, title_for

#: Most-confused pairs shown, and example images per class of a pair.
N_CONFUSED, N_EXAMPLES = 5, 8


def _confusion_counts(run: RunRecord) -> np.ndarray | None:
    cm = run.metrics.get("confusion")
    if cm is None:
        return None
    cm = np.asarray(cm, dtype=np.float64)
    return cm if cm.ndim == 2 and cm.shape[0] == cm.shape[1] else None


@figure("confusion_matrix", model="best",
        caption="Row-normalised confusion matrix of the best model: each row is a true class "
                "and sums to 1, the diagonal is the class's recall.")
def confusion_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """The row-normalised confusion matrix of `label` (its lowest seed), from metrics.json."""
    study = inputs.study
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
        cmap = "magma" if is_dark() else "Blues"
        im = ax.imshow(norm, cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1),
                       interpolation="nearest")
        char_labels(ax, chars, "x", fontsize=8)
        char_labels(ax, chars, "y", fontsize=8)
        ax.set_xlabel("predicted class", labelpad=14)
        ax.set_ylabel("true class", labelpad=14)
        for spine in ax.spines.values():
            spine.set_visible(False)
        cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        cb.set_label("share of the true class (square-root colour scale)")
        cb.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        cb.outline.set_visible(False)
        subtitle(ax, f"{label}, seed {run.seed}: diagonal = recall "
                     f"(balanced accuracy {np.mean(np.diag(norm)[rows[:, 0] > 0]):.1%})")
        fig.suptitle(title_for(study.spec, "Confusion matrix, rows normalised"))
        return finish(fig)

    return make


def _examples(run: RunRecord, test_images: np.ndarray | None, pairs, seed: int = 0):
    """For each pair (i, j): images of i read as j (then other i), and images of j read as j."""
    if test_images is None:
        return None
    try:
        labels, probs = run.predictions
    except (K49Error, OSError, KeyError, ValueError) as e:
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


@figure("confused_pairs", model="best",
        caption="The class pairs the best model confuses most (true class read as the predicted "
                "one), with test images of both classes when available.")
def confused_pairs_figure(inputs: FigureInputs, label: str) -> Maker | None:
    """The most-confused pairs of `label` (its lowest seed): with `inputs.test_images` (aligned
    with its predictions), images of the true class (misread ones framed) beside images of the
    class it was read as; without, the pairs as a table."""
    study, test_images = inputs.study, inputs.test_images
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
            ax.text(x, 0.25, head, fontsize="small", color=muted(), va="center")
        for k, (i, j, c) in enumerate(pairs, start=1):
            ax.text(0.0, k, chars[i], fontsize=18, va="center")
            ax.text(0.12, k, chars[j], fontsize=18, va="center")
            ax.text(0.32, k, f"{c:,}{share(i, c)}", fontsize=10, va="center")
        subtitle(ax, f"{label}, seed {run.seed} (no test images given)")
        fig.suptitle(title_for(study.spec, "Most confused class pairs"))
        return finish(fig)

    def make_images():
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
            subtitle(left, f"{lines[k]}; misread ones framed" if n_wrong else lines[k])
            subtitle(right, f"{chars[j]}, as read: {n_right} read correctly" +
                      (f", {len(imgs_j) - n_right} others" if len(imgs_j) > n_right else ""))
        fig.suptitle(title_for(study.spec, f"Most confused class pairs of {label}, "
                                           f"seed {run.seed}"))
        return finish(fig)

    return make_images if examples else make_text

