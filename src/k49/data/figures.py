"""The seed's dataset figures, each in SVG and PNG, light and dark (see k49.viz).

- `75_random_samples`: 75 random training images, each captioned with its class character;
- `5_classes_train_samples`: 5 classes, one per row, to show the variation within a class;
- `classes_imbalance_train_samples`: training and test images per class;
- `synthetic_vs_real`: the dataset's images beside the 100 real K49 test images, with the
  image statistics of each side (only when a real sample is given).

Figures of a generated synthetic set say at the bottom what it was built from (fonts, templates).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from k49.data.k49format import check_images, read_array
from k49.data.load import Dataset
from k49.data.stats import K49_REFERENCE, image_stats
from k49.viz import image_grid, new_figure, save_figure, title_for

N_RANDOM, RANDOM_COLS = 75, 15
N_CLASSES_SHOWN, PER_CLASS = 5, 10
#: Images of the dataset measured for the comparison with the real sample.
STATS_SAMPLE = 5000

STEMS = (
    "75_random_samples",
    "5_classes_train_samples",
    "classes_imbalance_train_samples",
    "synthetic_vs_real",
)


def built_from(ds: Dataset) -> str | None:
    """`Synthetic set built from 7 fonts, 1,290 templates (...)`, or None if not known."""
    summary = (ds.synthetic_info or {}).get("summary")
    return f"Synthetic set {summary}" if summary else None


def _footnote(fig, ds: Dataset) -> None:
    if note := built_from(ds):
        fig.supxlabel(note, fontsize="x-small", alpha=0.8)


def random_samples_figure(ds: Dataset, seed: int = 0):
    """75 random training images (5 rows of 15), each captioned with its class character."""
    rng = np.random.default_rng(seed)
    n = min(N_RANDOM, len(ds.train_images))
    idx = rng.choice(len(ds.train_images), size=n, replace=False)
    images, labels = ds.train_images[idx], ds.train_labels[idx]
    captions = [ds.chars[int(y)] for y in labels]

    def make():
        fig = new_figure(figsize=(11, 4.6))
        ax = fig.add_subplot()
        image_grid(ax, images, RANDOM_COLS, captions, gap=4, caption_space=11, fontsize=12)
        fig.suptitle(title_for(ds, f"{n} random training samples"))
        _footnote(fig, ds)
        return fig

    return make


def classes_samples_figure(ds: Dataset, seed: int = 0):
    """5 classes (rows, labelled by their character) of 10 training images each."""
    rng = np.random.default_rng(seed)
    present = np.unique(ds.train_labels)
    classes = np.sort(rng.choice(present, size=min(N_CLASSES_SHOWN, len(present)), replace=False))
    blank = np.zeros(ds.train_images.shape[1:], dtype=np.uint8)
    rows = []
    for c in classes:
        members = np.flatnonzero(ds.train_labels == c)
        pick = np.sort(rng.choice(members, size=min(PER_CLASS, len(members)), replace=False))
        row = list(ds.train_images[pick])
        rows.extend(row + [blank] * (PER_CLASS - len(row)))
    images = np.stack(rows) if rows else np.zeros((0, 28, 28), np.uint8)

    def make():
        fig = new_figure(figsize=(7.5, 4.0))
        ax = fig.add_subplot()
        _, ys = image_grid(ax, images, PER_CLASS, gap=3)
        for y, c in zip(ys, classes, strict=False):
            ax.text(-4, y, ds.chars[int(c)], ha="right", va="center", fontsize=22)
            ax.text(
                -4,
                y + 10,
                f"U+{ord(ds.chars[int(c)]):04X}",
                ha="right",
                va="center",
                fontsize=7,
                alpha=0.7,
            )
        ax.set_xlim(-34, ax.get_xlim()[1])
        fig.suptitle(title_for(ds, f"{PER_CLASS} training samples of {len(classes)} classes"))
        _footnote(fig, ds)
        return fig

    return make


def imbalance_figure(ds: Dataset):
    """Stacked bars of training and test images per class, the characters on the x axis."""
    train = np.bincount(ds.train_labels, minlength=ds.n_classes)
    test = np.bincount(ds.test_labels, minlength=ds.n_classes)
    x = np.arange(ds.n_classes)

    def make():
        fig = new_figure(figsize=(12, 4.4))
        ax = fig.add_subplot()
        ax.bar(x, train, width=0.8, label=f"train ({train.sum():,})")
        ax.bar(x, test, width=0.8, bottom=train, label=f"test ({test.sum():,})")
        ax.set_xticks(x, ds.chars, fontsize=12)
        ax.tick_params(axis="x", length=0)
        ax.set_xlim(-0.7, ds.n_classes - 0.3)
        ax.set_ylabel("images")
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        ax.set_title(
            f"rarest: {_rare(ds.chars, train)}; most common: {train.max():,} (train)",
            fontsize="small",
            loc="left",
        )
        fig.suptitle(title_for(ds, "Images per class"))
        _footnote(fig, ds)
        return fig

    return make


def _rare(chars, counts: np.ndarray, k: int = 3) -> str:
    order = np.argsort(counts, kind="stable")[:k]
    return ", ".join(f"{chars[i]} {counts[i]:,}" for i in order)


def _stats_line(stats: dict[str, float], n: int) -> str:
    return (
        f"n={n:,}  mean pixel {stats['mean_pixel']:.1f}  "
        f">128 {stats['frac_above_128']:.1%}  >0 {stats['frac_above_0']:.1%}\n"
        f"ink box {stats['ink_height']:.1f} × {stats['ink_width']:.1f} px"
    )


def load_real_sample(path: str | os.PathLike) -> np.ndarray:
    """The real K49 images of `path` (npz, `arr_0` uint8 (N, 28, 28)), checked."""
    path = Path(path)
    return check_images(read_array(path), path)


def synthetic_vs_real_figure(ds: Dataset, real: np.ndarray, seed: int = 0):
    """The dataset's images beside real K49 images, with each side's statistics."""
    rng = np.random.default_rng(seed)
    n_show = min(len(real), len(ds.train_images), 100)
    cols = int(np.ceil(np.sqrt(n_show))) or 1
    shown = ds.train_images[np.sort(rng.choice(len(ds.train_images), n_show, replace=False))]
    real_shown = real[:n_show]
    n_stats = min(STATS_SAMPLE, len(ds.train_images))
    measured = ds.train_images[rng.choice(len(ds.train_images), n_stats, replace=False)]
    ours, theirs = image_stats(measured), image_stats(real)

    def make():
        fig = new_figure(figsize=(10, 6.0))
        left, right = fig.subplots(1, 2)
        image_grid(left, shown, cols, gap=2)
        image_grid(right, real_shown, cols, gap=2)
        left.set_axis_on()
        right.set_axis_on()
        for ax, name, stats, n in (
            (left, ds.spec.label(), ours, n_stats),
            (right, "real K49 (first test images)", theirs, len(real)),
        ):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(f"{name}\n{_stats_line(stats, n)}", fontsize="small")
        ref = K49_REFERENCE
        fig.suptitle(title_for(ds, "Dataset images beside real K49 images"))
        note = built_from(ds)
        fig.supxlabel(
            (f"{note}.\n" if note else "")
            + f"K49 reference: mean pixel {ref['mean_pixel']}, >128 {ref['frac_above_128']:.1%}, "
            f"ink box {ref['ink_height']} × {ref['ink_width']} px.  Real images: KMNIST Dataset "
            "(CODH), adapted from Kuzushiji Dataset (NIJL and others), CC BY-SA 4.0",
            fontsize="x-small",
            alpha=0.8,
        )
        return fig

    return make


def dataset_figures(
    ds: Dataset,
    out_dir: str | os.PathLike,
    seed: int = 0,
    real_sample: str | os.PathLike | None = None,
) -> list[Path]:
    """Write the dataset figures to `out_dir/{light,dark}/<stem>.{svg,png}`; return the paths.

    `synthetic_vs_real` is made only when `real_sample` is given; if that file is missing the
    figure is skipped with a warning (the other figures do not depend on it).
    """
    out_dir = Path(out_dir)
    paths = []
    paths += save_figure(random_samples_figure(ds, seed), out_dir, "75_random_samples")
    paths += save_figure(classes_samples_figure(ds, seed), out_dir, "5_classes_train_samples")
    paths += save_figure(imbalance_figure(ds), out_dir, "classes_imbalance_train_samples")
    if real_sample is not None:
        if Path(real_sample).exists():
            real = load_real_sample(real_sample)
            paths += save_figure(
                synthetic_vs_real_figure(ds, real, seed), out_dir, "synthetic_vs_real"
            )
        else:
            warnings.warn(
                f"{real_sample} is missing: synthetic_vs_real figure skipped", stacklevel=2
            )
    return paths
