"""The generalisation measure: does what a model learns from the synthetic set carry over to
renderings of the same characters that it never saw?

Leave-fonts-out. The fonts of HELD_OUT_FAMILIES (a handwriting font in two weights and a brush
font, 3 of the 9 modern glyphs of every class) are kept out of the training set's templates
(`generate(..., exclude_families=HELD_OUT_FAMILIES)`), and the measure's test images are their
modern glyphs, drawn two ways that share nothing with the training set's hands, variant forms
or page effects:

- **plain**: k49's own rendering path with every difficulty mechanism off (PLAIN): each sample
  its own affine map and warp of a held-out template, evened and framed as in training;
- **other path**: Pillow's FreeType rasteriser straight from the font file, with its own
  stroke width, rotation, shear, proportions and blur, the ink box centred with its longer
  side 26 px (K49's framing), and none of k49's templates, stroke evening or distortions.

A model trained on the held-out-fonts set is scored on both by balanced accuracy (the sets are
balanced, PER_CLASS images per class). The other path is the headline: it does not move when
the generator's rendering changes, so it compares generator versions on the same images.
Nothing is ever tuned on these sets. Every score on them is on synthetic data, not K49.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from k49.data.datasets import K49_CHARS
from k49.data.synthetic.difficulty import EASY
from k49.data.synthetic.fonts import font_in_families, system_font_paths

#: Family-name prefixes of the held-out fonts: Klee One (a pen hand, Regular and SemiBold) and
#: Aoyagi Kouzan T (a brush hand); both have all 49 classes. Debian: fonts-klee,
#: fonts-aoyagi-kouzan-t (scripts/install-fonts.sh).
HELD_OUT_FAMILIES = ("Klee One", "AoyagiKouzanFont")
#: Test images per class in each measure set (balanced: accuracy equals balanced accuracy).
PER_CLASS = 100
#: Every difficulty mechanism off and the sample's own draws at the Distortion's deviations:
#: the held-out glyphs as plainly as k49's pipeline draws a character.
PLAIN = dataclasses.replace(EASY, sample_strength=1.0)
#: Seeds of the measure's two sets: fixed, so every generator is scored on the same images.
PLAIN_SEED, OTHER_SEED = 4901, 4902
#: The other path's framing: the ink box's longer side, in pixels (K49's mean box: 26.3 x 21.7).
OTHER_BOX = 26
#: Subtracted from its 0..255 pixels, so the blur's faint halo is background, as in K49.
OTHER_FLOOR = 12


def held_out_font_paths() -> list[Path]:
    """The held-out fonts' files on this machine (empty without fonts-klee and
    fonts-aoyagi-kouzan-t)."""
    return [p for p in system_font_paths() if font_in_families(p, HELD_OUT_FAMILIES)]


def plain_set(per_class: int = PER_CLASS, seed: int = PLAIN_SEED,
              chars=K49_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """The held-out fonts' modern glyphs through k49's pipeline with every mechanism off:
    images (49 * per_class, 28, 28) uint8 and labels."""
    from k49.data.synthetic.pipeline import synthesize
    from k49.data.synthetic.templates import build_templates

    templates = build_templates(True, chars)
    keep = np.asarray([r["kind"] == "modern" and r["font"].startswith(HELD_OUT_FAMILIES)
                       for r in templates.records])
    held_out = templates.subset(keep)
    missing = [ch for i, ch in enumerate(chars) if not (held_out.labels == i).any()]
    if missing:
        raise ValueError(f"the held-out fonts have no glyph for {''.join(missing)}: install "
                         "fonts-klee and fonts-aoyagi-kouzan-t (scripts/install-fonts.sh)")
    return synthesize([per_class] * len(chars), seed, held_out, difficulty=PLAIN)


def _other_glyph(font, ch: str, rng: np.random.Generator):
    """One character drawn by Pillow: a random stroke width, rotation, shear and proportions,
    then K49's framing, a blur and a random ink level; (28, 28) uint8."""
    from PIL import Image, ImageDraw, ImageFilter

    canvas = Image.new("L", (192, 192), 0)
    ImageDraw.Draw(canvas).text((96, 96), ch, fill=255, font=font, anchor="mm",
                                stroke_width=int(rng.integers(0, 5)), stroke_fill=255)
    angle = math.radians(rng.normal(0, 6))
    shear = rng.normal(0, 0.12)
    sx = math.exp(rng.normal(-0.1, 0.1))
    # inverse map (output -> input) of rotation @ shear @ x-scale, about the centre
    cos, sin = math.cos(angle), math.sin(angle)
    fwd = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, 1])
    inv = np.linalg.inv(fwd)
    offset = np.array([96, 96]) - inv @ np.array([96, 96])
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                              (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1]),
                              resample=Image.Resampling.BICUBIC)
    box = canvas.point(lambda v: 255 if v > 96 else 0).getbbox()
    out = Image.new("L", (28, 28), 0)
    if box is not None:
        glyph = canvas.crop(box)
        k = OTHER_BOX / max(glyph.size)
        w, h = max(1, round(glyph.width * k)), max(1, round(glyph.height * k))
        glyph = glyph.resize((w, h), Image.Resampling.LANCZOS)
        out.paste(glyph, ((28 - w) // 2, (28 - h) // 2))
    out = out.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.2, 0.7))))
    pixels = np.asarray(out, dtype=np.float32) * float(rng.uniform(0.8, 1.0)) - OTHER_FLOOR
    return np.clip(pixels.round(), 0, 255).astype(np.uint8)


def other_path_set(per_class: int = PER_CLASS, seed: int = OTHER_SEED,
                   chars=K49_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """The held-out fonts' glyphs drawn by Pillow, not by k49's pipeline: images
    (49 * per_class, 28, 28) uint8 and labels, each class's images spread evenly over the
    held-out font files."""
    from PIL import ImageFont

    paths = held_out_font_paths()
    if not paths:
        raise ValueError("the held-out fonts are not installed: install fonts-klee and "
                         "fonts-aoyagi-kouzan-t (scripts/install-fonts.sh)")
    fonts = [ImageFont.truetype(str(p), 128) for p in paths]
    rng = np.random.default_rng(seed)
    images = np.empty((per_class * len(chars), 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(len(chars)), per_class).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i] = _other_glyph(fonts[i % len(fonts)], chars[label], rng)
    return images, labels


def measure_sets(per_class: int = PER_CLASS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The measure's two test sets, by name: "other path" (the headline) and "plain"."""
    return {"other path": other_path_set(per_class), "plain": plain_set(per_class)}


def class_diversity(images: np.ndarray, labels: np.ndarray, per_class: int = 200,
                    seed: int = 0) -> dict[str, float]:
    """How varied each class's images are, from up to `per_class` images of each (pixels in
    [0, 1], Euclidean distances): its spread (root mean square distance to the class's mean
    image) and the mean distance from an image to its nearest other image of the class; the
    median over classes of each, and the same for the 9 rarest classes of K49. A class narrowed
    to a few near-identical forms has a small spread and close neighbours."""
    from sklearn.neighbors import NearestNeighbors

    from k49.data.datasets import K49_TEST_COUNTS

    rng = np.random.default_rng(seed)
    n_classes = len(K49_TEST_COUNTS)
    spread, nearest = np.full(n_classes, np.nan), np.full(n_classes, np.nan)
    for c in range(n_classes):
        index = np.flatnonzero(labels == c)
        if len(index) < 2:
            continue
        index = rng.choice(index, min(per_class, len(index)), replace=False)
        x = images[index].reshape(len(index), -1).astype(np.float32) / 255.0
        spread[c] = float(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean()))
        distances, _ = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)
        nearest[c] = float(distances[:, 1].mean())
    rarest = np.argsort(np.asarray(K49_TEST_COUNTS), kind="stable")[:9]
    return {"spread_median": float(np.nanmedian(spread)),
            "nearest_median": float(np.nanmedian(nearest)),
            "spread_9_rarest": float(np.nanmedian(spread[rarest])),
            "nearest_9_rarest": float(np.nanmedian(nearest[rarest]))}
