"""The shared plotting base: light and dark themes, Japanese glyphs, atomic SVG+PNG output.

Every figure of the project is built by a function that returns a `Figure` and is saved with
`save_figure`, which builds it once per theme and writes `<out>/<theme>/<stem>.svg` and `.png`
(as the seed's `plots/light/...` and `plots/dark/...`), each file atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures are only ever written to files

import matplotlib_fontja  # noqa: E402,F401  (registers the IPAexGothic font, for the class characters)
import numpy as np  # noqa: E402
from cycler import cycler  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from k49.errors import K49Error  # noqa: E402
from k49.io import atomic_path  # noqa: E402

THEMES = ("light", "dark")

#: The font that has every K49 character (and Latin); the generic family as a fallback (SVG viewers
#: without IPAexGothic then pick any sans-serif font that has the glyphs).
FONT_FAMILY = [matplotlib_fontja.matplotlib_fontja.FONT_NAME, "sans-serif"]

#: Mid-luminance colours (Tailwind 500/400 shades) that keep their contrast on white and on
#: GitHub's dark background, and stay distinguishable from one another.
CYCLE = (
    "#3b82f6",  # blue
    "#f59e0b",  # amber
    "#10b981",  # emerald
    "#ef4444",  # red
    "#a78bfa",  # violet
    "#ec4899",  # pink
    "#14b8a6",  # teal
    "#84cc16",  # lime
)

#: Output resolution of PNG files (and of images embedded in SVG files).
DPI = 150

_COMMON: dict[str, Any] = {
    "font.family": FONT_FAMILY,
    "font.sans-serif": ["DejaVu Sans"],  # keeps the SVG font lists short; bundled with matplotlib
    "font.size": 10,
    "axes.prop_cycle": cycler(color=list(CYCLE)),
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": "medium",
    "figure.titlesize": "large",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "image.cmap": "gray",
    "image.interpolation": "nearest",
    # Text stays text in SVG: searchable, smaller, and the characters are real characters.
    "svg.fonttype": "none",
    # Same figure, same SVG bytes (element ids are hashes salted with this).
    "svg.hashsalt": "k49",
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.1,
}

#: rcParams of each theme; colours follow GitHub's light and dark palettes, since the seed shows
#: its figures in a README with `#gh-light-mode-only` / `#gh-dark-mode-only` pairs.
THEME_RC: dict[str, dict[str, Any]] = {
    "light": {
        **_COMMON,
        "figure.facecolor": "#ffffff",
        "figure.edgecolor": "#ffffff",
        "savefig.facecolor": "#ffffff",
        "savefig.edgecolor": "#ffffff",
        "axes.facecolor": "#ffffff",
        "axes.edgecolor": "#57606a",
        "axes.labelcolor": "#24292f",
        "axes.titlecolor": "#24292f",
        "text.color": "#24292f",
        "xtick.color": "#57606a",
        "ytick.color": "#57606a",
        "xtick.labelcolor": "#24292f",
        "ytick.labelcolor": "#24292f",
        "grid.color": "#d0d7de",
        "legend.labelcolor": "#24292f",
        "patch.edgecolor": "#ffffff",
    },
    "dark": {
        **_COMMON,
        "figure.facecolor": "#0d1117",
        "figure.edgecolor": "#0d1117",
        "savefig.facecolor": "#0d1117",
        "savefig.edgecolor": "#0d1117",
        "axes.facecolor": "#0d1117",
        "axes.edgecolor": "#8b949e",
        "axes.labelcolor": "#e6edf3",
        "axes.titlecolor": "#e6edf3",
        "text.color": "#e6edf3",
        "xtick.color": "#8b949e",
        "ytick.color": "#8b949e",
        "xtick.labelcolor": "#e6edf3",
        "ytick.labelcolor": "#e6edf3",
        "grid.color": "#30363d",
        "legend.labelcolor": "#e6edf3",
        "patch.edgecolor": "#0d1117",
    },
}


def _check_theme(name: str) -> None:
    if name not in THEME_RC:
        raise K49Error(f"unknown theme {name!r}: use one of {', '.join(THEMES)}")


@contextmanager
def theme(name: str) -> Iterator[dict[str, Any]]:
    """Apply theme `name` to every figure built (and saved) inside the block."""
    _check_theme(name)
    with matplotlib.rc_context(THEME_RC[name]):
        yield THEME_RC[name]


def new_figure(**kwargs: Any) -> Figure:
    """A figure outside pyplot (no global state, nothing to close), themed by the rcParams."""
    kwargs.setdefault("layout", "constrained")
    return Figure(**kwargs)


def title_for(spec_or_dataset: Any, text: str) -> str:
    """`text` followed by the dataset's label: figures of synthetic data always say "synthetic".

    Takes a `DatasetSpec`, or anything with a `.spec` (a `Dataset`).
    """
    spec = getattr(spec_or_dataset, "spec", spec_or_dataset)
    if not hasattr(spec, "label"):
        raise TypeError(f"title_for needs a DatasetSpec or a Dataset, got {type(spec).__name__}")
    return f"{text} — {spec.label()}"


def _close(fig: Figure) -> None:
    # A figure made with pyplot stays registered (and in memory) until closed.
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)


def save_figure(
    make_fig: Callable[[], Figure],
    out_dir: str | os.PathLike,
    stem: str,
    themes: Sequence[str] = THEMES,
) -> list[Path]:
    """Build `make_fig()` under each theme; write `out_dir/<theme>/<stem>.svg` and `.png`.

    Each file appears complete under its final name or not at all. Returns the written paths,
    for each theme the SVG then the PNG.
    """
    for name in themes:
        _check_theme(name)
    out_dir = Path(out_dir)

    paths: list[Path] = []
    for name in themes:
        with theme(name):
            fig = make_fig()
            try:
                for fmt in ("svg", "png"):
                    path = out_dir / name / f"{stem}.{fmt}"
                    # No date in the SVG, so the same figure gives the same bytes.
                    metadata = {"Date": None} if fmt == "svg" else None
                    with atomic_path(path) as tmp:
                        fig.savefig(tmp, format=fmt, metadata=metadata)
                    paths.append(path)
            finally:
                _close(fig)
    return paths


def image_grid(
    ax: Any,
    images: np.ndarray,
    ncols: int,
    captions: Sequence[str] | None = None,
    *,
    gap: int = 3,
    caption_space: int = 0,
    fontsize: float | None = None,
    frame: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw `images` (N, H, W) uint8 in one axes as a grid of `ncols` columns, white on black.

    All tiles go into one montage image (gaps transparent), much faster to draw and save than
    one axes or one image per tile. `captions`, if given, are written above each tile, in
    `caption_space` pixels of room. Returns the centres (x of each column, y of each row) in
    data coordinates (pixels), for labels.
    """
    images = np.asarray(images)
    n = len(images)
    h, w = images.shape[1:3] if n else (28, 28)
    gap_px, cap_px = int(round(gap)), int(round(caption_space))
    nrows = max(1, -(-n // ncols))
    cell_w, cell_h = w + gap_px, h + gap_px + cap_px
    x0 = np.arange(ncols) * cell_w
    y0 = np.arange(nrows) * cell_h + cap_px
    montage = np.full((nrows * cell_h, ncols * cell_w), np.nan, dtype=np.float32)
    frames = []
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        left, top = x0[c], y0[r]
        montage[top : top + h, left : left + w] = image
        frames.append(Rectangle((left - 0.5, top - 0.5), w, h))
        if captions is not None:
            ax.text(
                left + (w - 1) / 2,
                top - 1.2,
                captions[i],
                ha="center",
                va="bottom",
                fontsize=fontsize,
            )
    cmap = matplotlib.colormaps["gray"].with_extremes(bad=(0, 0, 0, 0))
    ax.imshow(montage, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    if frame and frames:
        edge = matplotlib.rcParams["axes.edgecolor"]
        ax.add_collection(
            PatchCollection(frames, facecolor="none", edgecolor=edge, linewidth=0.5, alpha=0.6)
        )
    ax.set_xlim(-0.5 - gap_px / 2, ncols * cell_w - 0.5 - gap_px / 2)
    ax.set_ylim(nrows * cell_h - 0.5 - gap_px / 2, -0.5 - gap_px / 2)
    ax.set_axis_off()
    return x0 + (w - 1) / 2, y0 + (h - 1) / 2
