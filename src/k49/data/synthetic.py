"""A synthetic K49-like dataset, drawn from Japanese fonts, in K49's exact file format.

Each of the 49 classes is rendered once per font that has its glyph (the always-present
matplotlib-fontja font in a light and a bold weight) and, where a font such as IPAmj Mincho has
them, once per hentaigana variant of its syllable (Unicode's Kana Supplement and Kana Extended-A
blocks; a code point's Unicode name gives its syllable: ``HENTAIGANA LETTER KA-3`` is a か).
These *templates* are rendered once at 64x64 with their strokes pulled towards an even,
brush-like weight; every sample is then one template through a batched torch pipeline:

1. a random affine transform (rotation, shear, anisotropic scale, translation) and an elastic
   distortion (a smooth random displacement field), in one ``grid_sample``;
2. K49's framing: the ink's bounding box centred, its longer side filling the frame (at 56x56);
3. stroke-width change like a brush's: an occasional 3x3 dilation, then a blur and a soft
   threshold that varies smoothly across the character; ink intensity varies the same way;
4. area-averaging to 28x28, a light blur and ink noise: white ink on black, uint8.

Same ``seed`` and ``scale`` give byte-identical arrays (and files). The result is *not* K49: every
figure or score made from it must say "synthetic".
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import subprocess
import time
import unicodedata
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k49.data.datasets import DATASETS, K49_CHARS, K49_TEST_COUNTS
from k49.errors import K49Error

#: The demo's size: 23,237 train and 3,855 test images, generated in a few seconds.
DEFAULT_SCALE = 0.1

#: Set to 0 / false / no / off to use only the font matplotlib-fontja ships (no system fonts).
SYSTEM_FONTS_ENV = "K49_SYNTH_SYSTEM_FONTS"

#: Bumped whenever the pipeline changes what a given seed produces.
GENERATOR_VERSION = 1

#: Real K49 sizes the scale is a fraction of.
K49_TRAIN_SIZE = DATASETS["k49"].train_size
K49_TEST_SIZE = DATASETS["k49"].test_size

#: Side of a rendered template, and the longer side of the glyph inside it (the rest is margin
#: for rotation, shear and elastic distortion).
TEMPLATE_SIZE = 64
GLYPH_SIZE = 40

#: Template stroke width as a fraction of the glyph's longer side, how far (0..1) each font's
#: own weight is pulled towards it, and the most of its bounding box a glyph may ink after that.
STROKE_WIDTH = 0.075
STROKE_PULL = 0.75
MAX_COVERAGE = 0.5
#: The always-present font is drawn in two weights, its strokes fully pulled to a lighter and a
#: heavier target, so that every class has two distinct templates even with no system fonts.
FONTJA_WEIGHTS = {
    "light": {"stroke": STROKE_WIDTH * 0.7, "pull": 1.0},
    "bold": {"stroke": STROKE_WIDTH * 1.3, "pull": 1.0, "max_coverage": 0.65},
}

#: Samples per batch through the torch pipeline.
BATCH_SIZE = 256

#: Share of a class's samples drawn from its hentaigana templates (when it has any); the rest
#: come from the modern glyph in the various fonts.
HENTAIGANA_SHARE = 0.3

#: Where fonts are looked for when fontconfig's `fc-list` is not available.
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "~/Library/Fonts",
    "C:/Windows/Fonts",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")

#: Hentaigana blocks: Kana Supplement and Kana Extended-A.
HENTAIGANA_RANGE = range(0x1B000, 0x1B130)


@dataclass(frozen=True)
class Distortion:
    """Strength of every random transform; the defaults are tuned to K49's statistics."""

    rotation_deg: float = 9.0  # standard deviation
    shear: float = 0.18  # standard deviation of the x-shear factor
    scale_log_sd: float = 0.08  # overall size (removed again by the framing)
    aspect_log_mean: float = -0.20  # log(width / height) factor: brush characters are tall
    aspect_log_sd: float = 0.22
    translate: float = 0.05  # standard deviation, in units of half the frame
    elastic: float = 0.06  # displacement standard deviation, in units of half the frame
    elastic_grid: int = 5  # control points per side of the smooth random fields
    dilate_prob: float = 0.15  # chance of a 3x3 dilation (at 56 px) before thresholding
    threshold: tuple[float, float] = (0.33, 0.63)  # range of the soft threshold: stroke width
    threshold_field: float = 0.06  # how much the threshold varies across the character
    ramp: float = 6.0  # steepness of the soft threshold
    intensity: tuple[float, float] = (0.85, 1.3)  # ink intensity range (clipped at 1 later)
    intensity_field: float = 0.2
    blur: tuple[float, float] = (0.0, 0.3)  # weight of a final 3x3 blur
    noise: float = 0.06  # multiplicative ink noise standard deviation
    floor: float = 6.0  # subtracted from 0..255 values: faint specks become background


DISTORTION = Distortion()


@dataclass
class FontInfo:
    path: str
    family: str
    style: str
    source: str  # "matplotlib-fontja" or "system"
    templates: int = 0


@dataclass
class TemplateSet:
    """Rendered templates: images (T, 1, S, S) float32 in [0, 1], their class and origin."""

    images: Any  # torch.Tensor
    labels: np.ndarray
    records: list[dict[str, Any]]  # per template: class, char, code point, kind, font, weight
    weights: np.ndarray  # (n_classes, T) sampling probabilities, rows sum to 1
    fonts: list[FontInfo] = field(default_factory=list)

    @property
    def kinds(self) -> np.ndarray:
        return np.asarray([r["kind"] for r in self.records])

    def per_class(self, chars: Sequence[str] = K49_CHARS) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(chars))
        return {ch: int(n) for ch, n in zip(chars, counts, strict=True)}


# --- counts ---------------------------------------------------------------------------------


def _check_scale(scale: float) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise K49Error(f"scale must be a number, got {scale!r}: use e.g. --scale 0.1") from None
    if isinstance(scale, bool) or not math.isfinite(value) or value <= 0:
        raise K49Error(
            f"scale must be a positive fraction of K49's size, got {scale!r}: "
            f"use e.g. --scale {DEFAULT_SCALE} (1.0 = full K49 size)"
        )
    if value > 10:
        raise K49Error(
            f"scale {value:g} would generate {value * K49_TRAIN_SIZE:,.0f} training images: "
            "use a scale of at most 10 (1.0 = full K49 size)"
        )
    return value


def _apportion(weights: Sequence[int], total: int) -> np.ndarray:
    """Largest-remainder apportionment of `total` in proportion to `weights` (ties: lower index)."""
    w = np.asarray(weights, dtype=np.float64)
    quotas = w * total / w.sum()
    counts = np.floor(quotas).astype(np.int64)
    remainder = int(total - counts.sum())
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


def class_counts(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and test images per class: K49's proportions at `scale` times K49's size.

    At scale 1.0 the totals are exactly K49's 232,365 and 38,547. Every class gets at least one
    image, so at tiny scales the totals can exceed `scale` times K49's by up to 49.
    """
    scale = _check_scale(scale)
    counts = []
    for size in (K49_TRAIN_SIZE, K49_TEST_SIZE):
        c = _apportion(K49_TEST_COUNTS, round(size * scale))
        counts.append(np.maximum(c, 1))
    return counts[0], counts[1]


# --- fonts ----------------------------------------------------------------------------------


def fontja_font() -> Path:
    """The IPAex Gothic font matplotlib-fontja ships: always available, always used."""
    try:
        import matplotlib_fontja
    except ImportError:
        raise K49Error(
            "matplotlib-fontja is not installed: install it with `pip install matplotlib-fontja`"
        ) from None
    fonts = sorted((Path(matplotlib_fontja.__file__).parent / "fonts").glob("*.tt[fc]"))
    if not fonts:
        raise K49Error(
            "matplotlib-fontja ships no font file: reinstall it with "
            "`pip install --force-reinstall matplotlib-fontja`"
        )
    return fonts[0]


def system_fonts_enabled(system_fonts: bool | None = None) -> bool:
    """`system_fonts` if given, else the K49_SYNTH_SYSTEM_FONTS environment variable (default
    on; 0, false, no or off turn system fonts off)."""
    if system_fonts is not None:
        return bool(system_fonts)
    value = os.environ.get(SYSTEM_FONTS_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off", "")


def _fc_list() -> list[Path] | None:
    exe = shutil.which("fc-list")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, ":lang=ja", "file"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]


def _scan_font_dirs() -> list[Path]:
    found = []
    for d in FONT_DIRS:
        root = Path(d).expanduser()
        if root.is_dir():
            found += [p for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES]
    return found


def system_font_paths() -> list[Path]:
    """Candidate Japanese system fonts (fontconfig's list plus a scan), deduplicated and sorted."""
    candidates = (_fc_list() or []) + _scan_font_dirs()
    unique: dict[str, Path] = {}
    for p in candidates:
        with contextlib.suppress(OSError):
            real = p.resolve(strict=True)
            if real.is_file():
                unique.setdefault(str(real), real)
    return [unique[k] for k in sorted(unique)]


def _open_font(path: Path):
    from matplotlib.ft2font import FT2Font

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FT2Font(str(path))


def _has_glyph(font, ch: str) -> bool:
    return font.get_char_index(ord(ch)) != 0


def hentaigana_classes(chars: Sequence[str] = K49_CHARS) -> dict[int, int]:
    """Hentaigana code point -> class index, from each code point's Unicode name.

    ``HENTAIGANA LETTER KA-3`` is read as syllable KA, the syllable of ``HIRAGANA LETTER KA`` (か).
    Unicode spells ち TI, つ TU, し SI, ふ HU, ゐ WI, ゑ WE, を WO and ん N. Ambiguous letters whose
    name lists several syllables (``A-WO``, ``N-MU-MO-1``) and the archaic YE/WU/YI letters, which
    have no K49 class, are left out; ゝ has no hentaigana.
    """
    syllable_class = {}
    for i, ch in enumerate(chars):
        name = unicodedata.name(ch, "")
        if name.startswith("HIRAGANA LETTER "):
            syllable_class[name.removeprefix("HIRAGANA LETTER ")] = i
    mapping = {}
    for cp in HENTAIGANA_RANGE:
        name = unicodedata.name(chr(cp), "")
        if not name.startswith("HENTAIGANA LETTER "):
            continue
        syllable, _, variant = name.removeprefix("HENTAIGANA LETTER ").rpartition("-")
        if not variant.isdigit() or "-" in syllable:
            continue  # no variant number, or several possible readings
        if syllable in syllable_class:
            mapping[cp] = syllable_class[syllable]
    return mapping


# --- template rendering ---------------------------------------------------------------------

_RENDER_PX = 100  # em size in pixels at which glyphs are rendered, then fitted to GLYPH_SIZE


def _render_raw(font, ch: str) -> np.ndarray | None:
    """The glyph's antialiased bitmap cropped to its ink, float32 in [0, 1]; None if blank."""
    from matplotlib.ft2font import LoadFlags

    font.set_size(_RENDER_PX, 72)
    font.set_text(ch, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(font.get_image(), dtype=np.float32) / 255.0
    ink = img > 0.3
    if ink.sum() < 20:
        return None
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _stroke_width(mask) -> float:
    """Mean stroke width of a binary glyph, in pixels: twice its area over its boundary length."""
    import torch.nn.functional as F

    m = mask.float()[None, None]
    inner = -F.max_pool2d(-F.pad(m, (1, 1, 1, 1)), 3, stride=1)
    edge = (m - inner).sum().item()
    return 2 * m.sum().item() / max(edge, 1.0)


def _coverage(mask) -> float:
    """Share of the ink's bounding box that is ink."""
    rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
    box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    return mask.sum().item() / box.item()


def _morph(mask, radius: int):
    """Dilate (radius > 0) or erode (radius < 0) a binary (H, W) mask by a disk."""
    import torch
    import torch.nn.functional as F

    r = abs(radius)
    if r == 0:
        return mask
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= r * r + r).float()[None, None]
    hits = F.conv2d(mask.float()[None, None], disk, padding=r)[0, 0]
    return hits > 0.5 if radius > 0 else hits > disk.sum() - 0.5


def _fit(
    raw: np.ndarray,
    stroke: float = STROKE_WIDTH,
    pull: float = STROKE_PULL,
    max_coverage: float = MAX_COVERAGE,
):
    """Fit a cropped glyph into the template frame (longer side GLYPH_SIZE, centred), its strokes
    pulled (by `pull`, 0..1) towards `stroke` times that side: K49's brush strokes are of even
    weight, while fonts range from hairline Mincho to heavy Gothic."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(raw))
    pad = round(0.1 * max(x.shape))
    mask = F.pad(x, (pad,) * 4) > 0.5
    width = _stroke_width(mask)
    goal = width ** (1 - pull) * (stroke * max(raw.shape)) ** pull
    radius = max(round((goal - width) / 2), -int(width / 3))  # never erode a stroke away
    # Dilate no further than keeps the character readable.
    while radius > 0 and _coverage(_morph(mask, radius)) > max_coverage:
        radius -= 1
    changed = _morph(mask, radius)
    if changed.any():
        rows, cols = changed.any(1).nonzero()[:, 0], changed.any(0).nonzero()[:, 0]
        x = changed[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].float()
    x = x[None, None]
    h, w = x.shape[-2:]
    k = GLYPH_SIZE / max(h, w)
    nh, nw = max(1, round(h * k)), max(1, round(w * k))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    out = torch.zeros(TEMPLATE_SIZE, TEMPLATE_SIZE)
    top, left = (TEMPLATE_SIZE - nh) // 2, (TEMPLATE_SIZE - nw) // 2
    out[top : top + nh, left : left + nw] = x[0, 0].clamp(0, 1)
    return out


def _same(a, b) -> bool:
    """Whether two templates are near-identical (IoU of their ink above 0.9)."""
    ma, mb = a > 0.5, b > 0.5
    union = (ma | mb).sum().item()
    return union == 0 or (ma & mb).sum().item() / union > 0.9


_TEMPLATE_CACHE: dict[tuple, TemplateSet] = {}


def build_templates(
    system_fonts: bool | None = None, chars: Sequence[str] = K49_CHARS
) -> TemplateSet:
    """Render every class in every usable font, plus hentaigana variants; see the module doc.

    Cached per process for the same fonts (paths, sizes and modification times) and classes.
    """
    paths = [(fontja_font(), "matplotlib-fontja")]
    if system_fonts_enabled(system_fonts):
        base = str(paths[0][0].resolve())
        paths += [(p, "system") for p in system_font_paths() if str(p) != base]
    key = (tuple(chars), GLYPH_SIZE, TEMPLATE_SIZE) + tuple(
        (str(p), src, p.stat().st_size, p.stat().st_mtime_ns) for p, src in paths
    )
    if key not in _TEMPLATE_CACHE:
        _TEMPLATE_CACHE.clear()
        _TEMPLATE_CACHE[key] = _render_templates(paths, chars)
    return _TEMPLATE_CACHE[key]


def _render_templates(paths: list[tuple[Path, str]], chars: Sequence[str]) -> TemplateSet:
    import torch

    images: list = []
    labels: list[int] = []
    records: list[dict[str, Any]] = []
    fonts: list[FontInfo] = []
    hentaigana = hentaigana_classes(chars)
    for path, source in paths:
        try:
            font = _open_font(path)
        except Exception:  # noqa: BLE001 - an unreadable system font is skipped, not fatal
            if source == "system":
                continue
            raise K49Error(
                f"cannot read {path}: reinstall matplotlib-fontja "
                "(`pip install --force-reinstall matplotlib-fontja`)"
            ) from None
        style = font.style_name
        family = font.family_name + ("" if style in ("Regular", "Book", "") else f" {style}")
        info = FontInfo(str(path), family, style, source)
        n_before = len(images)
        # The modern glyph of each class: system fonts in their own (evened) weight, the
        # always-present font in two.
        weights = list(FONTJA_WEIGHTS.items()) if source != "system" else [("regular", {})]
        for label, ch in enumerate(chars):
            if not _has_glyph(font, ch):
                continue
            raw = _render_raw(font, ch)
            if raw is None:
                continue
            for weight, kwargs in weights:
                tpl = _fit(raw, **kwargs)
                if any(_same(tpl, images[j]) for j in range(len(images)) if labels[j] == label):
                    continue  # a font that copies another's glyphs adds nothing
                images.append(tpl)
                labels.append(label)
                records.append({"class": label, "char": ch, "codepoint": f"U+{ord(ch):04X}",
                                "kind": "modern", "font": info.family, "weight": weight})
        for cp, label in hentaigana.items():
            if not _has_glyph(font, chr(cp)):
                continue
            raw = _render_raw(font, chr(cp))
            if raw is None:
                continue
            images.append(_fit(raw))
            labels.append(label)
            records.append({"class": label, "char": chars[label], "codepoint": f"U+{cp:04X}",
                            "kind": "hentaigana", "name": unicodedata.name(chr(cp)),
                            "font": info.family, "weight": "regular"})
        info.templates = len(images) - n_before
        if info.templates:
            fonts.append(info)

    labels_arr = np.asarray(labels, dtype=np.int64)
    kinds_arr = np.asarray([r["kind"] for r in records])
    missing = [ch for i, ch in enumerate(chars) if not (labels_arr == i).any()]
    if missing:
        raise K49Error(
            f"no font has a glyph for {''.join(missing)}: reinstall matplotlib-fontja "
            "(`pip install --force-reinstall matplotlib-fontja`)"
        )
    weights = np.zeros((len(chars), len(labels)), dtype=np.float64)
    for c in range(len(chars)):
        modern = (labels_arr == c) & (kinds_arr == "modern")
        hent = (labels_arr == c) & (kinds_arr == "hentaigana")
        share = 0.0 if not hent.any() else 1.0 if not modern.any() else HENTAIGANA_SHARE
        if modern.any():
            weights[c, modern] = (1 - share) / modern.sum()
        if hent.any():
            weights[c, hent] = share / hent.sum()
    return TemplateSet(
        images=torch.stack(images)[:, None].contiguous(),
        labels=labels_arr,
        records=records,
        weights=weights,
        fonts=fonts,
    )


# --- the batched pipeline -------------------------------------------------------------------
#
# Everything below works on whole batches with elementwise and shifted-slice ops, small matrix
# products and two grid_samples: for single-channel images this small, torch's CPU max_pool2d,
# conv2d and interpolate are several times slower, and thread hand-offs cost more than they save.

OUT = 28  # K49's image side
FRAME = 2 * OUT  # the framed character is drawn at twice that, then area-averaged


@functools.lru_cache(maxsize=8)
def _basis(size: int, n: int):
    """(size, n) smooth interpolation matrix with unit-norm rows: U @ f @ U.T turns (n, n)
    standard-normal control values into a smooth (size, size) field of unit variance."""
    import torch

    pos = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    centres = torch.linspace(-0.15, 1.15, n, dtype=torch.float64)
    width = (centres[1] - centres[0]).item()
    u = torch.exp(-((pos[:, None] - centres[None, :]) ** 2) / (2 * width**2))
    return (u / u.norm(dim=1, keepdim=True)).float()


def _coords(size: int):
    """Pixel-centre coordinates in [-1, 1] (grid_sample's align_corners=False convention)."""
    import torch

    return (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1


def _affine_into(out, a, b_, c, d, e, f):
    """Add the per-sample affine map (x, y) = (a*u + b*v + c, d*u + e*v + f) over output pixel
    centres (u, v) to `out` (B, 2, S, S), in place."""
    s = out.shape[-1]
    t = _coords(s)
    u, v = t.view(1, 1, -1), t.view(1, -1, 1)
    col = lambda z: z.view(-1, 1, 1)  # noqa: E731
    out[:, 0].add_(col(a) * u).add_(col(b_) * v + col(c))
    out[:, 1].add_(col(d) * u).add_(col(e) * v + col(f))
    return out


def _dilate(x):
    """3x3 max filter of (B, 1, H, W) from shifted slices (zero outside)."""
    import torch

    h = x.clone()
    torch.maximum(h[..., 1:], x[..., :-1], out=h[..., 1:])
    torch.maximum(h[..., :-1], x[..., 1:], out=h[..., :-1])
    y = h.clone()
    torch.maximum(y[..., 1:, :], h[..., :-1, :], out=y[..., 1:, :])
    torch.maximum(y[..., :-1, :], h[..., 1:, :], out=y[..., :-1, :])
    return y


def _smooth(x):
    """Separable binomial [1, 2, 1] / 4 blur (sigma about 0.7 px), zero outside."""
    y = x * 0.5
    y[..., 1:].add_(x[..., :-1], alpha=0.25)
    y[..., :-1].add_(x[..., 1:], alpha=0.25)
    z = y * 0.5
    z[..., 1:, :].add_(y[..., :-1, :], alpha=0.25)
    z[..., :-1, :].add_(y[..., 1:, :], alpha=0.25)
    return z


def _uniform(g, n: int, lo: float, hi: float):
    import torch

    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1, 1)


def _extent(profile, threshold: float):
    """First and last index where each row of `profile` (B, S) exceeds `threshold`."""
    import torch

    mask = profile > threshold
    s = mask.shape[1]
    m = mask.to(torch.uint8)
    first = m.argmax(1)
    last = s - 1 - m.flip(1).argmax(1)
    empty = ~mask.any(1)
    first = torch.where(empty, torch.zeros_like(first), first)
    last = torch.where(empty, torch.full_like(last, s - 1), last)
    return first.float(), last.float()


def _frame(x, threshold: float = 0.3):
    """Resample each image to FRAME x FRAME around its ink's bounding box: centred, the longer
    side filling the frame (K49's framing)."""
    import torch
    import torch.nn.functional as F

    b, s = x.shape[0], x.shape[-1]
    r0, r1 = _extent(x[:, 0].amax(2), threshold)
    c0, c1 = _extent(x[:, 0].amax(1), threshold)
    cy, cx = (r0 + r1 + 1) / s - 1, (c0 + c1 + 1) / s - 1
    k = torch.maximum(r1 - r0 + 1, c1 - c0 + 1) / s
    zero = torch.zeros_like(k)
    grid = _affine_into(torch.zeros(b, 2, FRAME, FRAME), k, zero, cx, zero, k, cy)
    return F.grid_sample(
        x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def render_batch(templates, index, g, d: Distortion = DISTORTION):
    """Distort templates[index] into (B, 28, 28) uint8 images; all randomness from generator g."""
    import torch
    import torch.nn.functional as F

    b, s = len(index), templates.shape[-1]
    x = templates[index]

    # 1. affine + elastic in one resampling. The grid maps output to input coordinates, so it is
    #    the inverse of the forward transform rotation @ shear @ scale (+ translation).
    angle = torch.randn(b, generator=g) * math.radians(d.rotation_deg)
    shear = torch.randn(b, generator=g) * d.shear
    size = torch.exp(torch.randn(b, generator=g) * d.scale_log_sd)
    aspect = torch.exp(d.aspect_log_mean + torch.randn(b, generator=g) * d.aspect_log_sd)
    tx, ty = torch.randn(2, b, generator=g) * d.translate
    sx, sy = size * aspect.sqrt(), size / aspect.sqrt()
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward [[p, q], [r, t]] = [[cos, -sin], [sin, cos]] @ [[1, shear], [0, 1]] @ diag(sx, sy)
    p, q = cos * sx, (cos * shear - sin) * sy
    r, t = sin * sx, (sin * shear + cos) * sy
    det = p * t - q * r
    ia, ib, ic, id_ = t / det, -q / det, -r / det, p / det
    basis = _basis(s, d.elastic_grid)
    grid = basis @ (torch.randn(b, 2, d.elastic_grid, d.elastic_grid, generator=g) * d.elastic)
    grid = grid @ basis.T
    _affine_into(grid, ia, ib, -(ia * tx + ib * ty), ic, id_, -(ic * tx + id_ * ty))
    x = F.grid_sample(
        x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
    )

    # 2. K49's framing: centre the ink's bounding box, its longer side filling the frame.
    x = _frame(x)

    # 3. stroke width in output pixels, like a brush: optional dilation, then a light blur and a
    #    soft threshold that varies smoothly across the character; ink intensity likewise.
    dilate = (torch.rand(b, 1, 1, 1, generator=g) < d.dilate_prob).float()
    x = torch.lerp(x, _dilate(x), dilate)
    x = _smooth(x)
    basis = _basis(FRAME, d.elastic_grid)
    fields = basis @ torch.randn(b, 2, d.elastic_grid, d.elastic_grid, generator=g) @ basis.T
    thr = fields[:, :1].mul_(d.threshold_field).add_(_uniform(g, b, *d.threshold)).clamp_(min=0.05)
    x = x.sub_(thr).mul_(d.ramp).clamp_(0, 1)
    ink = fields[:, 1:].mul_(d.intensity_field).add_(1).mul_(_uniform(g, b, *d.intensity))
    x = x.mul_(ink)

    # 4. area-average to 28 x 28, a light blur, ink noise, white on black uint8.
    x = F.avg_pool2d(x, FRAME // OUT)
    x = torch.lerp(x, _smooth(x), _uniform(g, b, *d.blur))
    x = x.mul_(torch.randn(x.shape, generator=g).mul_(d.noise).add_(1))
    x = x.mul_(255.0).sub_(d.floor).clamp_(0, 255).round_()
    return x[:, 0].to(torch.uint8)


#: torch threads while generating. The pipeline is about a hundred small ops per batch, for
#: which handing work to a second thread costs more than it saves: measured on a 2-core CPU,
#: 6,900 images/s with one thread against 1,500 with two.
THREADS = 1


def _split_seeds(seed: int) -> tuple[int, int]:
    train, test = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint64)
    return int(train) & (2**63 - 1), int(test) & (2**63 - 1)


def synthesize(
    counts: Sequence[int],
    seed: int,
    templates: TemplateSet,
    distortion: Distortion = DISTORTION,
    on_batch=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8, `counts[c]` images of class c, shuffled.

    `on_batch(n)` is called after every batch of n images (for progress bars).
    """
    import torch

    g = torch.Generator().manual_seed(int(seed))
    counts = np.asarray(counts, dtype=np.int64)
    labels = torch.from_numpy(np.repeat(np.arange(len(counts)), counts))
    labels = labels[torch.randperm(len(labels), generator=g)]
    weights = torch.from_numpy(templates.weights).float()
    images = np.empty((len(labels), 28, 28), dtype=np.uint8)
    with torch.inference_mode():
        for start in range(0, len(labels), BATCH_SIZE):
            batch = labels[start : start + BATCH_SIZE]
            index = torch.multinomial(weights[batch], 1, generator=g)[:, 0]
            images[start : start + len(batch)] = render_batch(
                templates.images, index, g, distortion
            ).numpy()
            if on_batch is not None:
                on_batch(len(batch))
    return images, labels.numpy().astype(np.uint8)


# --- files ----------------------------------------------------------------------------------


def _write_npz(path: Path, array: np.ndarray) -> None:
    """K49's format (the array under `arr_0`, deflated), with a fixed timestamp so that the same
    array always gives the same bytes."""
    info = zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as zf, zf.open(info, "w", force_zip64=True) as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def generate(
    data_dir: str | os.PathLike,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
    progress: bool = True,
    *,
    system_fonts: bool | None = None,
) -> dict[str, Any]:
    """Write the synthetic set into `data_dir`/synthetic in K49's format; return its report.

    The report (also written as synthetic.json) records seed, scale, counts, the fonts and
    templates used, image statistics and the generation speed. Every file is written to a
    temporary name and renamed only once all of them are complete.
    """
    import torch

    from k49.data.load import write_classmap
    from k49.data.stats import K49_REFERENCE, image_stats
    from k49.io import atomic_path, make_dir, torch_threads

    scale = _check_scale(scale)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise K49Error(f"seed must be a non-negative integer, got {seed!r}: use e.g. --seed 0")
    spec = DATASETS["synthetic"]
    out_dir = Path(data_dir) / spec.name
    make_dir(out_dir)
    train_counts, test_counts = class_counts(scale)

    start = time.perf_counter()
    with torch_threads(THREADS) as threads:
        templates = build_templates(system_fonts)
        t_templates = time.perf_counter() - start
        start = time.perf_counter()
        arrays = {}
        with _progress(progress) as bar:
            for split, counts, split_seed in zip(
                ("train", "test"), (train_counts, test_counts), _split_seeds(seed), strict=True
            ):
                task = bar.add_task(f"synthetic {split}", total=int(counts.sum()))
                arrays[split] = synthesize(
                    counts, split_seed, templates,
                    on_batch=lambda n, task=task: bar.advance(task, n),
                )
    elapsed = time.perf_counter() - start
    n_images = int(train_counts.sum() + test_counts.sum())

    per_class = templates.per_class(spec.chars)
    kinds = templates.kinds
    report: dict[str, Any] = {
        "dataset": spec.name,
        "title": spec.label(),
        "dir": str(out_dir),
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "scale": scale,
        "train_size": int(train_counts.sum()),
        "test_size": int(test_counts.sum()),
        "counts": {
            "train": train_counts.tolist(),
            "test": test_counts.tolist(),
        },
        "system_fonts": system_fonts_enabled(system_fonts),
        "fonts": [asdict(f) for f in templates.fonts],
        "templates_per_class": per_class,
        "hentaigana_per_class": {
            ch: int(((templates.labels == i) & (kinds == "hentaigana")).sum())
            for i, ch in enumerate(spec.chars)
        },
        "hentaigana_share": HENTAIGANA_SHARE,
        "templates": templates.records,
        "distortion": asdict(DISTORTION),
        "stats": {split: image_stats(arrays[split][0]) for split in arrays},
        "reference_stats": dict(K49_REFERENCE),
        "torch": torch.__version__,
        "threads": threads,
        "template_seconds": round(t_templates, 3),
        "seconds": round(elapsed, 3),
        "images_per_second": round(n_images / max(elapsed, 1e-9), 1),
    }

    paths = {role: spec.path(role, data_dir) for role in spec.files}
    start = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            # Entered first, so renamed last: synthetic.json appears once the data files have.
            json_tmp = stack.enter_context(atomic_path(out_dir / "synthetic.json"))
            tmps = {role: stack.enter_context(atomic_path(p)) for role, p in paths.items()}
            for split in ("train", "test"):
                images, labels = arrays[split]
                _write_npz(tmps[f"{split}_images"], images)
                _write_npz(tmps[f"{split}_labels"], labels)
            write_classmap(spec, tmps["classmap"])
            report["write_seconds"] = round(time.perf_counter() - start, 3)
            text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
            json_tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise K49Error(
            f"cannot write the synthetic set to {out_dir} ({e.strerror or e}): "
            "free some disk space or choose another --data-dir"
        ) from None
    return json.loads(text)  # exactly what synthetic.json holds (tuples become lists)
