"""What the report's figures share: family colours and line styles, axes, labels and layout.

Colours follow the current theme's rcParams (`k49.viz.theme`), so one drawing serves the light
and the dark figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import offset_copy

from k49.viz import CYCLE

#: Colours and names of the model families (RunRecord.family), shared by every figure.
FAMILY_COLOURS = {"mlp": CYCLE[0], "cnn": CYCLE[1], "resnet": CYCLE[2], "knn": CYCLE[4]}
FAMILY_NAMES = {"mlp": "NN (MLP)", "cnn": "CNN", "resnet": "ResNet", "knn": "k-NN"}
FAMILY_STYLES = {"mlp": "--", "cnn": "-", "resnet": "-.", "knn": ":"}
OTHER_COLOUR = CYCLE[5]

#: A figure builder's result: draws the figure under the current theme (`k49.viz.save_figure`).
Maker = Callable[[], Figure]


def foreground() -> str:
    """The theme's text colour."""
    return matplotlib.rcParams["text.color"]


def muted() -> str:
    """The theme's colour for secondary marks (the tick colour)."""
    return matplotlib.rcParams["xtick.color"]


def is_dark() -> bool:
    """Whether the theme's background is dark."""
    r, g, b, _ = to_rgba(matplotlib.rcParams["figure.facecolor"])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5


def finish(fig: Figure) -> Figure:
    """Lay `fig` out once (constrained), then freeze that layout.

    Saving runs the layout engine at every draw, twice per file with a tight bounding box: for
    two formats that is four layouts of the same figure. Frozen, the figure is saved as laid
    out, which saves a fifth to a third of the time of a figure.
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")
    return fig


def subtitle(ax, text: str, **kw: Any) -> None:
    """A small left-aligned axes title at a fixed height.

    A title at an explicit height skips matplotlib's search for overlapping tick labels, which
    measures every tick label of the axes again at each draw.
    """
    ax.set_title(text, loc="left", fontsize="small", y=1.0, **kw)


def compact(v: float) -> str:
    """1500 -> "1.5k", 2e6 -> "2M"."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def log_axis(ax, axis: str = "x", subs: Sequence[float] = (1.0, 2.0, 5.0),
             fmt: Callable[[float], str] = compact) -> None:
    """A log scale with plain tick labels (1k, 2k, 5k): matplotlib's default 10^k labels are
    mathtext, parsed anew at every draw, which doubles the time to save a figure."""
    getattr(ax, f"set_{axis}scale")("log")
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(LogLocator(subs=subs))
    a.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    a.set_minor_formatter(NullFormatter())


def char_labels(ax, chars: Sequence[str], axis: str = "x", fontsize: float = 11,
                positions: Sequence[float] | None = None) -> None:
    """The class characters as plain text along an axis, in place of tick labels.

    49 matplotlib ticks (each two lines and two texts, measured again at every layout) cost
    about twice as much to save as 49 texts; the text is the same in the SVG.
    """
    pos = np.arange(len(chars)) if positions is None else positions
    fig = ax.get_figure()
    if axis == "x":
        ax.set_xticks([])
        tr = offset_copy(ax.get_xaxis_transform(), fig=fig, y=-3, units="points")
        for p, c in zip(pos, chars, strict=True):
            ax.text(p, 0, c, transform=tr, ha="center", va="top", fontsize=fontsize)
    else:
        ax.set_yticks([])
        tr = offset_copy(ax.get_yaxis_transform(), fig=fig, x=-3, units="points")
        for p, c in zip(pos, chars, strict=True):
            ax.text(0, p, c, transform=tr, ha="right", va="center", fontsize=fontsize)


def family_colour(family: str) -> str:
    return FAMILY_COLOURS.get(family, OTHER_COLOUR)


def family_legend(ax, families: Sequence[str], extra: Sequence[Any] = (), **kw) -> None:
    """A legend of one coloured dot per family (in order of first appearance), then `extra`."""
    handles = [Line2D([], [], marker="o", ls="", color=family_colour(f),
                      label=FAMILY_NAMES.get(f, f or "other")) for f in dict.fromkeys(families)]
    ax.legend(handles=handles + list(extra), fontsize="small", **kw)


def model_axis(ax, labels: Sequence[str]) -> None:
    """Model names as slanted x tick labels, one per bar group, with a y grid."""
    ax.set_xticks(np.arange(len(labels)), labels, rotation=40, ha="right",
                  rotation_mode="anchor", fontsize="small")
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)


def error_bars(ax, x, y, *, xerr=None, yerr=None, color: str | None = None, **kw: Any) -> None:
    """Error bars at points (x, y), `xerr` and `yerr` each a (2, n) array of the lengths below
    and above (`inputs.interval_errors`); a point whose lengths are NaN gets no bar on that
    axis, and no bar at all is drawn where none is known."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    style = {"fmt": "none", "ecolor": color or foreground(), "elinewidth": 0.9, "capsize": 2,
             **kw}
    for name, err in (("xerr", xerr), ("yerr", yerr)):
        if err is None:
            continue
        err = np.asarray(err, dtype=np.float64).reshape(2, len(x))
        ok = np.isfinite(err).all(axis=0) & np.isfinite(x) & np.isfinite(y)
        if ok.any():
            ax.errorbar(x[ok], y[ok], **{name: err[:, ok]}, **style)


def paired_bars(ax, x: np.ndarray, series, *, floor: float = 0.0, fmt: str, pad: float) -> None:
    """Two bars per model, each (values, errors, name, colour): `errors` is a (2, n) array of
    the error bar's lengths below and above each value (NaN: no bar for that model). Each value
    is written above its error bar; bars rise from `floor`."""
    w = 0.4
    for dx, (v, err, name, colour) in zip((-w / 2, w / 2), series, strict=True):
        xs = x + dx
        ax.bar(xs, v - floor, w, bottom=floor, label=name, color=colour)
        error_bars(ax, xs, v, yerr=err)
        above = np.nan_to_num(np.asarray(err, dtype=np.float64).reshape(2, len(v))[1])
        for xi, vi, ai in zip(xs, v, above, strict=True):
            if np.isfinite(vi):
                ax.text(xi, vi + ai + pad, fmt.format(vi), ha="center", va="bottom",
                        rotation=90, fontsize=6.5)


def scatter_labels(ax, xs, ys, names, colours, fontsize: float = 7) -> None:
    """Each point's name beside it, alternating sides to limit overlaps."""
    order = np.argsort(ys)
    for k, i in enumerate(order):
        dx = 5 if k % 2 == 0 else -5
        ax.annotate(names[i], (xs[i], ys[i]), xytext=(dx, 3), textcoords="offset points",
                    ha="left" if dx > 0 else "right", va="bottom", fontsize=fontsize,
                    color=colours[i])


def thin(x: np.ndarray, y: np.ndarray, n: int, logx: bool = False) -> tuple[np.ndarray, ...]:
    """At most ~n points of curve (x, y), evenly spaced along its length, endpoints kept."""
    if len(x) <= n:
        return x, y
    u = np.log10(np.maximum(x, 1e-12)) / 4 if logx else x  # 4 decades ≈ the x axis length
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(u), np.diff(y)))])
    idx = np.searchsorted(s, np.linspace(0.0, s[-1], n))
    idx = np.unique(np.concatenate([[0], np.minimum(idx, len(x) - 1), [len(x) - 1]]))
    return x[idx], y[idx]
