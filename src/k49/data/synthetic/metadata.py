"""synthetic.json, the synthetic set's record of itself: what it was built from, whether it is
still current (its cache key holds the generator version and the font set), and the one-line
summary and font warning every consumer shows. Needs no torch, so loading stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k49.data.datasets import DATASETS
from k49.data.synthetic.fonts import (
    BRUSH_FAMILIES,
    INSTALL_COMMAND,
    SYSTEM,
    SYSTEM_FONTS_ENV,
    find_fonts,
    font_set_key,
)
from k49.errors import K49Error
from k49.io import read_json

#: The demo's size: 23,237 train and 3,855 test images, generated in a few seconds.
DEFAULT_SCALE = 0.1

#: Bumped whenever the pipeline changes what a given seed produces. Version 2: calibrated to
#: K49's difficulty (hands, variant forms, stroke-level variation, page effects). Version 3: a
#: house hand per class; more, stronger hands; more variant forms. Version 4: fewer, closer
#: hands, fewer of them in a rarer class (`hands_by_size`), and more variation within a hand,
#: so the convolutional models land on their K49 figures (version 3 left them 8-10 points under).
#: Version 5: the house style is each class's usual (modern) form in every font, not one
#: template (80% of them a variant form), so what a model learns reads other renderings.
GENERATOR_VERSION = 5

#: The metadata file beside the set's K49-format files.
INFO_FILE = "synthetic.json"


def cache_key(system_fonts: bool | None = None, exclude_families: tuple[str, ...] = ()) -> str:
    """What decides whether a generated set is current: generator version and font set."""
    fonts = find_fonts(system_fonts, tuple(exclude_families))
    return f"v{GENERATOR_VERSION}-{font_set_key(fonts)}"


def template_summary(per_class: dict[str, int]) -> dict[str, int | float]:
    """Total templates and their min, median and max per class."""
    counts = np.asarray(list(per_class.values()), dtype=np.int64)
    if not counts.size:
        return {"total": 0, "min": 0, "median": 0, "max": 0}
    median = float(np.median(counts))
    return {
        "total": int(counts.sum()),
        "min": int(counts.min()),
        "median": int(median) if median.is_integer() else median,
        "max": int(counts.max()),
    }


def describe(n_fonts: int, templates: dict[str, int | float]) -> str:
    """`built from 7 fonts, 1,290 templates (per class: min 8, median 25, max 41)`."""
    return (
        f"built from {n_fonts} font{'s' if n_fonts != 1 else ''}, {templates['total']:,} "
        f"templates (per class: min {templates['min']}, median {templates['median']:g}, "
        f"max {templates['max']})"
    )


def font_warning(fonts: list[dict[str, Any]], n_hentaigana: int, system_fonts: bool) -> str | None:
    """One line saying the set lacks hentaigana or brush fonts and how to install them; None
    when it has both. `fonts` are the fonts used, as recorded in synthetic.json."""
    brush = any(
        f.get("source") == SYSTEM and str(f.get("family", "")).startswith(BRUSH_FAMILIES)
        for f in fonts
    )
    lacking = [kind for kind, ok in (("hentaigana", n_hentaigana > 0), ("brush", brush)) if not ok]
    if not lacking:
        return None
    fix = f"install them with `{INSTALL_COMMAND}` and run `k49 data synth` again"
    if not system_fonts:
        fix = f"turn system fonts on (unset {SYSTEM_FONTS_ENV}), {fix}"
    n = len(fonts)
    return (
        f"warning: the synthetic set was built from {n} font{'s' if n != 1 else ''} without "
        f"{' or '.join(lacking)} fonts, so it is easier than K49; {fix}"
    )


def read_info(directory: str | os.PathLike) -> dict[str, Any] | None:
    """What a generated set was built from, from its synthetic.json (None without one): seed,
    scale, fonts, template counts, hentaigana templates, the font warning and a `summary`."""
    path = Path(directory) / INFO_FILE
    try:
        report = read_json(path)
        fonts = list(report["fonts"])
        per_class = dict(report["templates_per_class"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    templates = template_summary(per_class)
    n_hentaigana = sum(dict(report.get("hentaigana_per_class", {})).values())
    system_fonts = bool(report.get("system_fonts", True))
    return {
        "seed": report.get("seed"),
        "scale": report.get("scale"),
        "generator_version": report.get("generator_version"),
        "fonts": [f.get("family", f.get("path")) for f in fonts],
        "n_fonts": len(fonts),
        "templates": templates,
        "hentaigana_templates": int(n_hentaigana),
        "system_fonts": system_fonts,
        "font_warning": font_warning(fonts, n_hentaigana, system_fonts),
        "summary": describe(len(fonts), templates),
    }


@dataclass(frozen=True)
class Rebuild:
    """Why and how to (re)generate the set: at its recorded scale, seed and system-font choice."""

    scale: float
    seed: int
    system_fonts: bool | None  # None: as K49_SYNTH_SYSTEM_FONTS says
    reason: str | None  # a one-line notice, None for a first generation
    difficulty: dict[str, Any] | None = None  # as recorded by this generator version; None: default
    exclude_families: tuple[str, ...] = ()  # system font families kept out, as recorded


def rebuild_needed(data_dir: str | os.PathLike) -> Rebuild | None:
    """None if the synthetic set in `data_dir` is there and current; else how to generate it.

    A set is stale when the fonts found now (with or without system fonts, as it was built)
    give another cache key than the one synthetic.json records, or when the generator changed.
    A set without synthetic.json was not made by `generate` (but by hand, or by a benchmark)
    and is used as it is.
    """
    spec = DATASETS["synthetic"]
    directory = spec.directory(data_dir)
    path = directory / INFO_FILE
    missing = [spec.files[r].name for r in spec.files if not spec.path(r, data_dir).exists()]
    if len(missing) == len(spec.files):
        return Rebuild(DEFAULT_SCALE, 0, None, None)  # no set yet: the default one
    try:
        recorded = read_json(path)
        key, scale, seed = recorded.get("cache_key"), recorded["scale"], recorded["seed"]
        system_fonts = bool(recorded.get("system_fonts", True))
        version = recorded.get("generator_version")
        difficulty = recorded.get("difficulty") if version == GENERATOR_VERSION else None
        exclude = tuple(str(f) for f in recorded.get("exclude_families") or ())
    except FileNotFoundError:
        if missing:  # a set of unknown scale and seed: never overwrite it with another
            raise K49Error(
                f"{', '.join(missing)} missing from {directory}, and there is no {INFO_FILE} "
                "to rebuild it from: restore the files, or run `k49 data synth` with the set's "
                "--scale and --seed") from None
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        key, scale, seed, system_fonts, version, difficulty, exclude = (
            None, DEFAULT_SCALE, 0, None, None, None, ())
    difficulty = difficulty if isinstance(difficulty, dict) else None
    if missing:
        return Rebuild(scale, seed, system_fonts, (
            f"{', '.join(missing)} missing from {directory}: rebuilding the set with its "
            f"recorded scale {scale} and seed {seed}"), difficulty, exclude)
    if key == cache_key(system_fonts, exclude):
        return None
    if version != GENERATOR_VERSION:
        why = (f"was made by synthetic generator version {version}, and this is version "
               f"{GENERATOR_VERSION} (calibrated to K49's difficulty)")
    else:
        why = "was built from another font set"
    return Rebuild(scale, seed, system_fonts, (
        f"the synthetic set in {directory} {why}: rebuilding it (scale {scale}, seed {seed})"
    ), difficulty, exclude)
