"""Generate the synthetic K49-like set: class counts, the sampling loop and the files.

Each sample is a template of its class (templates.py) through the batched distortions
(distortions.py); the set is written in K49's exact file format, with synthetic.json beside it
(metadata.py). Same ``seed``, ``scale`` and font set give byte-identical files. The result is
*not* K49: every figure or score made from it must say "synthetic".
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49.console import progress_bar
from k49.data.datasets import DATASETS, K49_TEST_COUNTS
from k49.data.k49format import write_k49_files
from k49.data.stats import K49_REFERENCE, image_stats
from k49.data.synthetic.difficulty import (
    DIFFICULTY,
    Difficulty,
    Hands,
    check_difficulty,
    draw_hands,
)
from k49.data.synthetic.distortions import DISTORTION, Distortion, draw_samples, render_batch
from k49.data.synthetic.fonts import find_fonts, font_set, font_set_key, system_fonts_enabled
from k49.data.synthetic.metadata import (
    DEFAULT_SCALE,
    GENERATOR_VERSION,
    INFO_FILE,
    font_warning,
    template_summary,
)
from k49.data.synthetic.templates import TemplateSet, build_templates
from k49.errors import K49Error
from k49.io import default_threads, make_dir, remove_stale_parts, torch_threads

#: Real K49 sizes the scale is a fraction of.
K49_TRAIN_SIZE = DATASETS["k49"].train_size
K49_TEST_SIZE = DATASETS["k49"].test_size

#: Samples per batch through the torch pipeline.
BATCH_SIZE = 256
#: Batches drawn ahead of the renderers: enough to keep many cores busy, few enough that
#: their random numbers take little memory (about 1 MB a batch).
BATCHES_AHEAD = 32
#: Entropy added to the set's seed for drawing its hands (not the train or test stream).
HANDS_STREAM = 0x48414E44
#: The stream of the test split's new writers (Difficulty.new_test_hands) and of which test
#: samples they write.
NEW_HANDS_STREAM = 0x4E455748

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


#: torch threads per renderer. The pipeline is about a hundred small ops per batch, for which
#: handing work to a second torch thread costs more than it saves: measured on a 2-core CPU,
#: 6,900 images/s with one thread against 1,500 with two.
THREADS = 1


@contextmanager
def renderers(workers: int | None = None) -> Iterator[Executor]:
    """A pool of `workers` Python threads (default: one per core, or OMP_NUM_THREADS), each
    rendering whole batches with one torch thread: torch releases the GIL inside its ops, so
    the batches run side by side. The random numbers are drawn on the caller's thread, in
    order, so the images do not depend on `workers`."""
    workers = workers or default_threads()
    with torch_threads(THREADS):
        pool = ThreadPoolExecutor(workers, thread_name_prefix="k49-render")
        try:
            yield pool
        finally:  # on an error or Ctrl-C, drop the batches not yet started
            pool.shutdown(wait=True, cancel_futures=True)


def _split_seeds(seed: int) -> tuple[int, int]:
    train, test = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint64)
    return int(train) & (2**63 - 1), int(test) & (2**63 - 1)


def set_hands(templates: TemplateSet, seed: int, difficulty: Difficulty = DIFFICULTY,
              distortion: Distortion = DISTORTION, stream: int = HANDS_STREAM,
              pool: Executor | None = None) -> Hands | None:
    """The set's writers, `difficulty.hands` per class, drawn from the set's `seed` (so the
    train and test splits share them; `stream` NEW_HANDS_STREAM draws the test split's new
    writers), their templates drawn on `pool` (renderers()) when given; None when hands are
    off."""
    if not difficulty.hands:
        return None
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), stream])
                                          .generate_state(1, dtype=np.uint64)[0] >> 1))
    weights = torch.from_numpy(templates.class_weights(difficulty.variant_share)).float()
    strength = None
    if difficulty.house_share:
        strength = torch.ones(len(weights), difficulty.hands)
        strength[:, 0] = difficulty.house_strength
        strength = strength.flatten()
    rows = weights.repeat_interleave(difficulty.hands, 0)
    if difficulty.house_share:  # the house hand's form: its own share of variants
        house = templates.class_weights(difficulty.house_variant_share)
        rows[:: difficulty.hands] = torch.from_numpy(house).float()
    hands = draw_hands(templates, rows, difficulty, distortion.elastic_grid, g, strength,
                       map_chunks=pool.map if pool else map)
    return hands.with_templates(templates) if difficulty.house_in_fonts else hands


def class_hands(difficulty: Difficulty) -> np.ndarray:
    """Hands each class writes with (Difficulty.hands_by_size): `hands` for K49's largest
    class, fewer for rarer ones, at least 1."""
    share = np.asarray(K49_TEST_COUNTS, dtype=np.float64) / max(K49_TEST_COUNTS)
    return np.maximum(1, np.round(difficulty.hands * share ** difficulty.hands_by_size)
                      ).astype(np.int64)


def _hand_weights(n_hands: int, per_class: int, difficulty: Difficulty) -> torch.Tensor:
    """(per_class,) chance of each hand writing a sample of a class using its first n_hands:
    alike with no skew and no house hand; else hand h with weight (h + 1) ** -hand_skew, or,
    with a house hand, hand 0 with `house_share` and hand h > 0 with the rest in proportion to
    h ** -hand_skew."""
    skew, house = difficulty.hand_skew, difficulty.house_share
    weights = torch.zeros(per_class, dtype=torch.float64)
    if not house:
        weights[:n_hands] = torch.arange(1, n_hands + 1, dtype=torch.float64) ** -skew
    else:  # with one hand, `others` is empty and the house hand writes everything
        others = torch.arange(1, n_hands, dtype=torch.float64) ** -skew
        weights[0] = house
        weights[1:n_hands] = (1 - house) * others / others.sum()
    return weights


@functools.lru_cache(maxsize=4)
def _class_hand_weights(difficulty: Difficulty) -> torch.Tensor:
    """(classes, hands) _hand_weights of every class over its class_hands, built once per
    difficulty rather than per batch (read only)."""
    return torch.stack([_hand_weights(int(n), difficulty.hands, difficulty)
                        for n in class_hands(difficulty)])


def _draw_hand(difficulty: Difficulty, labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A hand number in [0, difficulty.hands) for each sample of class `labels`
    (_hand_weights, over the class's class_hands)."""
    per_class = difficulty.hands
    if difficulty.hands_by_size:
        table = _class_hand_weights(difficulty)
        return torch.multinomial(table[labels], 1, generator=g).squeeze(1)
    if not difficulty.hand_skew and not difficulty.house_share:
        return torch.randint(per_class, (len(labels),), generator=g)
    return torch.multinomial(_hand_weights(per_class, per_class, difficulty), len(labels),
                             replacement=True, generator=g)


def _house_in_fonts(index: torch.Tensor, hand: torch.Tensor, labels: torch.Tensor,
                    house: torch.Tensor, difficulty: Difficulty,
                    g: torch.Generator) -> torch.Tensor:
    """`index` with a share `difficulty.house_fonts` of the house hand's samples moved to one
    of their class's plain templates, drawn by `house` (TemplateSet.class_weights of
    `house_variant_share`): the rows that Hands.with_templates appends after the hands."""
    in_fonts = (hand == 0) & (torch.rand(len(hand), generator=g) < difficulty.house_fonts)
    template = torch.multinomial(house[labels], 1, generator=g)[:, 0]
    return torch.where(in_fonts, len(house) * difficulty.hands + template, index)


def _render(*args) -> torch.Tensor:
    with torch.inference_mode():  # per thread: a renderer's thread needs its own
        return render_batch(*args)


def synthesize(
    counts: Sequence[int],
    seed: int,
    templates: TemplateSet,
    distortion: Distortion = DISTORTION,
    on_batch: Callable[[int], object] | None = None,
    *,
    difficulty: Difficulty = DIFFICULTY,
    hands: Hands | None = None,
    pool: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8, `counts[c]` images of class c, shuffled.

    Each sample is written by one of its class's `hands` (set_hands; drawn from `seed` when not
    given) chosen at random, or, with hands off, draws its own. The batches are rendered on
    `pool` (renderers(); one of its own when not given); the images are the same whatever its
    size. `on_batch(n)` is called after every batch of n images (for progress bars).
    """
    check_difficulty(difficulty)
    if pool is None:
        with renderers() as own_pool:
            return synthesize(counts, seed, templates, distortion, on_batch,
                              difficulty=difficulty, hands=hands, pool=own_pool)
    g = torch.Generator().manual_seed(int(seed))
    counts = np.asarray(counts, dtype=np.int64)
    if hands is None:
        hands = set_hands(templates, seed, difficulty, distortion, pool=pool)
    per_class = difficulty.hands
    labels = torch.from_numpy(np.repeat(np.arange(len(counts)), counts))
    labels = labels[torch.randperm(len(labels), generator=g)]
    weights = torch.from_numpy(templates.class_weights(difficulty.variant_share)).float()
    house = torch.from_numpy(templates.class_weights(difficulty.house_variant_share)).float()
    images = np.empty((len(labels), 28, 28), dtype=np.uint8)
    rendering: deque = deque()  # (start, future) of the batches on the pool, in order

    def collect_oldest() -> None:
        start, future = rendering.popleft()
        batch_images = future.result().numpy()
        images[start : start + len(batch_images)] = batch_images
        if on_batch is not None:
            on_batch(len(batch_images))

    with torch.inference_mode():
        for start in range(0, len(labels), BATCH_SIZE):
            batch = labels[start : start + BATCH_SIZE]
            if per_class:
                batch_hands = hands
                hand = _draw_hand(difficulty, batch, g)
                index = batch * per_class + hand
                if difficulty.house_in_fonts:
                    index = _house_in_fonts(index, hand, batch, house, difficulty, g)
            else:
                batch_hands = draw_hands(templates, weights[batch], difficulty,
                                         distortion.elastic_grid, g)
                index = torch.arange(len(batch))
            draws = draw_samples(len(batch), g, distortion, difficulty)
            rendering.append((start, pool.submit(_render, batch_hands, index, draws,
                                                 distortion, difficulty)))
            if len(rendering) > BATCHES_AHEAD:
                collect_oldest()
        while rendering:
            collect_oldest()
    return images, labels.numpy().astype(np.uint8)


def _font_facts(templates: TemplateSet, chars: Sequence[str], fonts, system_fonts: bool | None,
                warning: str | None) -> dict[str, Any]:
    """The fonts and glyph templates a generation drew from, as synthetic.json records them."""
    per_class = templates.per_class(chars)
    hentaigana = templates.kinds == "hentaigana"
    return {
        "system_fonts": system_fonts_enabled(system_fonts),
        "font_files": font_set(fonts),
        "fonts": [asdict(f) for f in templates.fonts],
        "summary": templates.describe(chars),
        "font_warning": warning,
        "templates_summary": template_summary(per_class),
        "templates_per_class": per_class,
        "hentaigana_templates": templates.n_hentaigana,
        "hentaigana_per_class": {ch: int(((templates.labels == i) & hentaigana).sum())
                                 for i, ch in enumerate(chars)},
        "templates": templates.records,
    }


def _synthesize_splits(templates: TemplateSet, counts: dict[str, np.ndarray], seed: int,
                       difficulty: Difficulty, progress: bool,
                       pool: Executor) -> dict[str, tuple]:
    """(images, labels) of each split, drawn by the same hands (the test split's share
    `difficulty.new_test_hands` by new ones), with a progress bar each."""
    hands = set_hands(templates, seed, difficulty, pool=pool)
    arrays = {}
    with progress_bar(quiet=not progress, transient=False) as bar:
        for (split, split_counts), split_seed in zip(counts.items(), _split_seeds(seed),
                                                     strict=True):
            task = bar.add_task(f"synthetic {split}", total=int(split_counts.sum()))
            arrays[split] = synthesize(
                split_counts, split_seed, templates,
                on_batch=lambda n, task=task: bar.advance(task, n),
                difficulty=difficulty, hands=hands, pool=pool,
            )
            if split == "test" and hands is not None and difficulty.new_test_hands > 0:
                arrays[split] = _with_new_hands(arrays[split], split_counts, split_seed,
                                                templates, seed, difficulty, pool)
    return arrays


def _with_new_hands(seen: tuple[np.ndarray, np.ndarray], counts: np.ndarray, split_seed: int,
                    templates: TemplateSet, seed: int, difficulty: Difficulty,
                    pool: Executor) -> tuple:
    """The test split with a seeded share `difficulty.new_test_hands` of its samples written
    by hands the training split never saw (the same labels, in the same order)."""
    new_hands = set_hands(templates, seed, difficulty, stream=NEW_HANDS_STREAM, pool=pool)
    images, labels = synthesize(counts, split_seed, templates, difficulty=difficulty,
                                hands=new_hands, pool=pool)
    if not np.array_equal(labels, seen[1]):  # the label order depends on the seed alone
        raise AssertionError("the new hands' test split has another label order")
    rng = np.random.default_rng([int(seed), NEW_HANDS_STREAM])
    new = rng.random(len(labels)) < difficulty.new_test_hands
    return np.where(new[:, None, None], images, seen[0]), labels


def _write(out_dir: Path, arrays: dict[str, tuple], chars: Sequence[str],
           report: dict[str, Any]) -> dict[str, Any]:
    """Write the splits and, last, synthetic.json (the report plus the write time); return
    exactly what synthetic.json holds (tuples become lists)."""
    start = time.perf_counter()
    written: list[str] = []

    def info_text() -> str:  # called once the data files are written
        report["write_seconds"] = round(time.perf_counter() - start, 3)
        written.append(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return written[-1]

    arrays_by_role = {
        f"{split}_{kind}": array
        for split, pair in arrays.items()
        for kind, array in zip(("images", "labels"), pair, strict=True)
    }
    write_k49_files(out_dir, arrays_by_role, chars, extra={INFO_FILE: info_text})
    return json.loads(written[-1])


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise K49Error(f"seed must be a non-negative integer, got {seed!r}: use e.g. --seed 0")
    return int(seed)


def generate(
    data_dir: str | os.PathLike,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
    progress: bool = True,
    *,
    system_fonts: bool | None = None,
    difficulty: Difficulty = DIFFICULTY,
    exclude_families: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the synthetic set into `data_dir`/synthetic in K49's format; return its report.

    `difficulty` chooses the mechanisms that make it K49-hard (difficulty.py; the default is
    calibrated against the published K49 results); the train and test splits share its hands.

    The report (also written as synthetic.json) records seed, scale, counts, the fonts and
    templates used (with a one-line `summary` and the cache key of the font set), image
    statistics and the generation speed. Without hentaigana or brush fonts it prints a one-line
    warning with the install command on stderr (also recorded as `font_warning`).
    `exclude_families` keeps the system fonts of those families out (the generalisation
    measure's held-out fonts, transfer.py); the set records them. Every file is written to a
    temporary name and renamed only once all of them are complete.
    """
    exclude_families = tuple(exclude_families)
    scale = _check_scale(scale)
    seed = _check_seed(seed)
    try:
        check_difficulty(difficulty)
    except ValueError as e:
        raise K49Error(str(e)) from None
    spec = DATASETS["synthetic"]
    out_dir = make_dir(spec.directory(data_dir))
    remove_stale_parts(out_dir)  # left by a generation killed midway
    train_counts, test_counts = class_counts(scale)
    fonts = find_fonts(system_fonts, exclude_families)

    start = time.perf_counter()
    workers = default_threads()
    with renderers(workers) as pool:
        templates = build_templates(system_fonts, exclude_families=exclude_families)
        t_templates = time.perf_counter() - start
        fonts_used = [asdict(f) for f in templates.fonts]
        warning = font_warning(fonts_used, templates.n_hentaigana,
                               system_fonts_enabled(system_fonts))
        if warning:
            print(warning, file=sys.stderr)
        start = time.perf_counter()
        arrays = _synthesize_splits(templates, {"train": train_counts, "test": test_counts},
                                    seed, difficulty, progress, pool)
    elapsed = time.perf_counter() - start
    n_images = int(train_counts.sum() + test_counts.sum())

    report: dict[str, Any] = {
        "dataset": spec.name,
        "title": spec.label(),
        "dir": str(out_dir),
        "generator_version": GENERATOR_VERSION,
        "cache_key": f"v{GENERATOR_VERSION}-{font_set_key(fonts)}",
        "seed": seed,
        "scale": scale,
        "train_size": int(train_counts.sum()),
        "test_size": int(test_counts.sum()),
        "counts": {"train": train_counts.tolist(), "test": test_counts.tolist()},
        **_font_facts(templates, spec.chars, fonts, system_fonts, warning),
        "distortion": asdict(DISTORTION),
        "difficulty": difficulty.as_dict(),
        "exclude_families": list(exclude_families),
        "stats": {split: image_stats(arrays[split][0]) for split in arrays},
        "reference_stats": dict(K49_REFERENCE),
        "torch": torch.__version__,
        "threads": THREADS,
        "renderers": workers,
        "template_seconds": round(t_templates, 3),
        "seconds": round(elapsed, 3),
        "images_per_second": round(n_images / max(elapsed, 1e-9), 1),
    }

    return _write(out_dir, arrays, spec.chars, report)
