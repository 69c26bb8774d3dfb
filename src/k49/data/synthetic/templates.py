"""Glyph templates: every class rendered once per font that has it, plus hentaigana variants.

Each of the 49 classes is rendered once per font that has its glyph (the always-present
matplotlib-fontja font in a light and a bold weight) and, where a font such as IPAmj Mincho has
them, once per hentaigana variant of its syllable (Unicode's Kana Supplement and Kana Extended-A
blocks; a code point's Unicode name gives its syllable: ``HENTAIGANA LETTER KA-3`` is a か).
These *templates* are rendered once at 64x64 with their strokes pulled towards an even,
brush-like weight; the distortions then turn each sample's template into an image.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ft2font import LoadFlags

from k49.data.datasets import K49_CHARS
from k49.data.synthetic.fonts import FONTJA, SYSTEM, find_fonts, has_glyph, open_font
from k49.data.synthetic.metadata import describe, template_summary
from k49.errors import K49Error

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

#: A template's ink is split into PARTS spatial clusters ("stroke groups"), each of which the
#: distortions move, turn and thicken on its own; their soft membership maps are kept at
#: PART_RES x PART_RES (the displacement they make is smooth, so strokes bend rather than tear).
PARTS = 4
PART_RES = 16
PART_SOFTNESS = 0.08  # width of the blend between neighbouring parts, in half-frame units

#: Hentaigana blocks: Kana Supplement and Kana Extended-A.
HENTAIGANA_RANGE = range(0x1B000, 0x1B130)


@dataclass
class FontInfo:
    path: str
    family: str
    style: str
    source: str  # FONTJA or SYSTEM
    templates: int = 0


@dataclass
class TemplateSet:
    """Rendered templates: images (T, 1, S, S) float32 in [0, 1], their class and origin, and
    each one's stroke groups: soft membership maps `parts` (T, PARTS, PART_RES, PART_RES) that
    sum to 1 at every point, and their centres `part_centres` (T, PARTS, 2) as (x, y) in
    [-1, 1]."""

    images: Any  # torch.Tensor
    labels: np.ndarray
    records: list[dict[str, Any]]  # per template: class, char, code point, kind, font, weight
    n_classes: int
    fonts: list[FontInfo] = field(default_factory=list)
    parts: Any = None  # torch.Tensor
    part_centres: Any = None  # torch.Tensor

    def class_weights(self, variant_share: float) -> np.ndarray:
        """(n_classes, T) probabilities of drawing each template for a class, rows summing to
        1: `variant_share` (Difficulty.variant_share) of a class's draws from its hentaigana
        variants (all of them if it has no modern template, none if it has no variant), the
        rest from its modern glyphs, evenly."""
        return template_weights(self.labels, self.kinds, self.n_classes, variant_share)

    @property
    def kinds(self) -> np.ndarray:
        return np.asarray([r["kind"] for r in self.records])

    def per_class(self, chars: Sequence[str] = K49_CHARS) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(chars))
        return {ch: int(n) for ch, n in zip(chars, counts, strict=True)}

    @property
    def n_hentaigana(self) -> int:
        return int((self.kinds == "hentaigana").sum())

    def subset(self, keep: np.ndarray) -> TemplateSet:
        """The templates where the boolean `keep` (T,) is true, and the fonts they come from."""
        keep = np.asarray(keep, dtype=bool)
        index = torch.from_numpy(np.flatnonzero(keep))
        records = [r for r, k in zip(self.records, keep, strict=True) if k]
        families = {r["font"] for r in records}
        return TemplateSet(images=self.images[index], labels=self.labels[keep], records=records,
                           n_classes=self.n_classes,
                           fonts=[f for f in self.fonts if f.family in families],
                           parts=self.parts[index], part_centres=self.part_centres[index])

    def describe(self, chars: Sequence[str] = K49_CHARS) -> str:
        """`built from 7 fonts, 664 templates (per class: min 6, median 14, max 19)`."""
        return describe(len(self.fonts), template_summary(self.per_class(chars)))


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


_RENDER_PX = 100  # em size in pixels at which glyphs are rendered, then fitted to GLYPH_SIZE


def template_weights(labels: np.ndarray, kinds: np.ndarray, n_classes: int,
                     variant_share: float) -> np.ndarray:
    """See TemplateSet.class_weights."""
    weights = np.zeros((n_classes, len(labels)), dtype=np.float64)
    for c in range(n_classes):
        modern = (labels == c) & (kinds == "modern")
        hent = (labels == c) & (kinds == "hentaigana")
        share = 0.0 if not hent.any() else 1.0 if not modern.any() else variant_share
        if modern.any():
            weights[c, modern] = (1 - share) / modern.sum()
        if hent.any():
            weights[c, hent] = share / hent.sum()
    return weights


def _grid(res: int) -> np.ndarray:
    """(res * res, 2) pixel-centre coordinates (x, y) in [-1, 1], row-major."""
    t = (2 * np.arange(res) + 1) / res - 1
    y, x = np.meshgrid(t, t, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], 1)


def stroke_parts(template, parts: int = PARTS, res: int = PART_RES,
                 softness: float = PART_SOFTNESS) -> tuple[np.ndarray, np.ndarray]:
    """Split a template's ink into `parts` spatial clusters (k-means from a farthest-point
    start, deterministic) and return their soft membership maps (parts, res, res), summing to 1
    at each point, and centres (parts, 2) as (x, y) in [-1, 1]. A glyph with fewer ink pixels
    than parts gets empty parts (membership 0, centre at its ink's mean)."""
    image = np.asarray(template, dtype=np.float32).reshape(TEMPLATE_SIZE, TEMPLATE_SIZE)
    half = TEMPLATE_SIZE // 2  # clustered at half resolution: the same parts, 4x fewer points
    image = image.reshape(half, 2, half, 2).mean((1, 3))
    ink = _grid(half)[image.ravel() > 0.5]
    if len(ink) == 0:
        maps = np.zeros((parts, res, res), dtype=np.float32)
        maps[0] = 1.0
        return maps, np.zeros((parts, 2), dtype=np.float32)
    k = min(parts, len(ink))
    centres = [ink[0]]
    for _ in range(k - 1):  # farthest-point start
        d = np.min(((ink[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), 1)
        centres.append(ink[int(d.argmax())])
    centres = np.asarray(centres)
    for _ in range(10):
        owner = ((ink[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.asarray([ink[owner == j].mean(0) if (owner == j).any() else centres[j]
                              for j in range(k)])
    owner = ((ink[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    points = _grid(res)
    # distance from each map point to the nearest ink pixel of each part
    dist = np.stack([np.sqrt(((points[:, None] - ink[owner == j][None]) ** 2).sum(-1)).min(1)
                     if (owner == j).any() else np.full(len(points), np.inf)
                     for j in range(k)])
    logits = -((dist - dist.min(0, keepdims=True)) / softness) ** 2
    member = np.exp(logits)
    member /= member.sum(0, keepdims=True)
    maps = np.zeros((parts, res * res), dtype=np.float32)
    maps[:k] = member
    out_centres = np.tile(ink.mean(0), (parts, 1)).astype(np.float32)
    out_centres[:k] = centres
    return maps.reshape(parts, res, res), out_centres


def _render_raw(font, ch: str) -> np.ndarray | None:
    """The glyph's antialiased bitmap cropped to its ink, float32 in [0, 1]; None if blank."""
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
    system_fonts: bool | None = None, chars: Sequence[str] = K49_CHARS,
    exclude_families: tuple[str, ...] = (),
) -> TemplateSet:
    """Render every class in every usable font (less the system fonts of `exclude_families`),
    plus hentaigana variants; see the module doc.

    Cached per process for the same fonts (paths, sizes and modification times) and classes.
    """
    paths = find_fonts(system_fonts, exclude_families)
    key = (tuple(chars), GLYPH_SIZE, TEMPLATE_SIZE) + tuple(
        (str(p), src, p.stat().st_size, p.stat().st_mtime_ns) for p, src in paths
    )
    if key not in _TEMPLATE_CACHE:
        _TEMPLATE_CACHE.clear()
        _TEMPLATE_CACHE[key] = _render_templates(paths, chars)
    return _TEMPLATE_CACHE[key]


def _render_templates(paths: list[tuple[Path, str]], chars: Sequence[str]) -> TemplateSet:
    images: list = []
    labels: list[int] = []
    records: list[dict[str, Any]] = []
    fonts: list[FontInfo] = []
    hentaigana = hentaigana_classes(chars)
    for path, source in paths:
        try:
            font = open_font(path)
        except Exception:  # noqa: BLE001 - an unreadable system font is skipped, not fatal
            if source == SYSTEM:
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
        weights = list(FONTJA_WEIGHTS.items()) if source == FONTJA else [("regular", {})]
        for label, ch in enumerate(chars):
            if not has_glyph(font, ch):
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
            if not has_glyph(font, chr(cp)):
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
    missing = [ch for i, ch in enumerate(chars) if not (labels_arr == i).any()]
    if missing:
        raise K49Error(
            f"no font has a glyph for {''.join(missing)}: reinstall matplotlib-fontja "
            "(`pip install --force-reinstall matplotlib-fontja`)"
        )
    parts = [stroke_parts(tpl.numpy()) for tpl in images]
    return TemplateSet(
        images=torch.stack(images)[:, None].contiguous(),
        labels=labels_arr,
        records=records,
        n_classes=len(chars),
        fonts=fonts,
        parts=torch.from_numpy(np.stack([m for m, _ in parts])),
        part_centres=torch.from_numpy(np.stack([c for _, c in parts])),
    )
