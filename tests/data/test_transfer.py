"""The generalisation measure (synthetic/transfer.py): held-out fonts kept out of a generated
set and its rebuild, the measure's two test sets, per-class diversity, and the house style
written in every font (Difficulty.house_fonts)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from k49.data import synthetic
from k49.data.synthetic import DIFFICULTY, transfer
from k49.data.synthetic.fonts import font_family
from k49.io import torch_threads

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_out():
    paths = transfer.held_out_font_paths()
    if not paths:
        pytest.skip("the held-out fonts are not installed (scripts/install-fonts.sh)")
    return paths


def test_held_out_families_are_kept_out_of_the_templates_and_recorded(tmp_path, held_out):
    families = {font_family(p) for p in held_out}
    assert all(f.startswith(transfer.HELD_OUT_FAMILIES) for f in families)
    every = synthetic.build_templates(True)
    kept = synthetic.build_templates(True, exclude_families=transfer.HELD_OUT_FAMILIES)
    assert families <= {r["font"] for r in every.records}
    assert not families & {r["font"] for r in kept.records}
    assert len(kept.labels) < len(every.labels)
    assert synthetic.cache_key(None, transfer.HELD_OUT_FAMILIES) != synthetic.cache_key()

    report = synthetic.generate(tmp_path, scale=0.003, seed=1, progress=False,
                                exclude_families=transfer.HELD_OUT_FAMILIES)
    assert report["exclude_families"] == list(transfer.HELD_OUT_FAMILIES)
    assert not families & {f["family"] for f in report["fonts"]}
    assert synthetic.rebuild_needed(tmp_path) is None  # current, with its fonts left out
    # A rebuild (here: of a deleted file) keeps them out.
    (tmp_path / "synthetic" / "k49-test-labels.npz").unlink()
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert rebuild.exclude_families == transfer.HELD_OUT_FAMILIES


def test_a_set_recorded_without_exclusions_reads_as_none(tmp_path):
    synthetic.generate(tmp_path, scale=0.003, seed=1, progress=False)
    path = tmp_path / "synthetic" / "synthetic.json"
    record = json.loads(path.read_text("utf-8"))
    assert record["exclude_families"] == []
    del record["exclude_families"]  # as a set from before the field existed
    path.write_text(json.dumps(record), encoding="utf-8")
    (tmp_path / "synthetic" / "k49-test-labels.npz").unlink()
    assert synthetic.rebuild_needed(tmp_path).exclude_families == ()


@pytest.mark.parametrize("make", [transfer.plain_set, transfer.other_path_set],
                         ids=["plain", "other path"])
def test_measure_sets_are_balanced_fixed_and_framed_like_k49(held_out, make):
    images, labels = make(per_class=3)
    assert images.shape == (49 * 3, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels, minlength=49), np.full(49, 3))
    again, _ = make(per_class=3)
    np.testing.assert_array_equal(images, again)  # the same images for every generator
    other, _ = make(per_class=3, seed=123)
    assert not np.array_equal(images, other)
    ink = images > 64
    assert ink.any(axis=(1, 2)).all()  # no blank image
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = rows.shape[1] - rows[:, ::-1].argmax(1) - rows.argmax(1)
    width = cols.shape[1] - cols[:, ::-1].argmax(1) - cols.argmax(1)
    assert 20 <= np.median(np.maximum(height, width)) <= 28
    assert 0 < images.mean() < 128


def test_the_two_measure_sets_draw_the_held_out_glyphs_differently(held_out):
    plain, labels = transfer.plain_set(per_class=4)
    other, other_labels = transfer.other_path_set(per_class=4)
    np.testing.assert_array_equal(np.sort(labels), np.sort(other_labels))
    assert np.abs(plain.astype(int) - other.astype(int)).mean() > 10


def test_class_diversity_sees_classes_narrowed_to_one_form():
    from k49.data.datasets import K49_TEST_COUNTS

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(49), 20)
    varied = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    narrowed = varied.copy()
    for c in np.argsort(K49_TEST_COUNTS, kind="stable")[:9]:  # the 9 rarest: one image each
        narrowed[labels == c] = varied[labels == c][0]
    wide, narrow = (transfer.class_diversity(x, labels) for x in (varied, narrowed))
    assert wide["spread_median"] > 0 and wide["nearest_median"] > 0
    assert wide == transfer.class_diversity(varied, labels)  # seeded
    assert narrow["spread_9_rarest"] == pytest.approx(0, abs=1e-4)
    assert narrow["nearest_9_rarest"] == pytest.approx(0, abs=1e-4)
    assert wide["spread_9_rarest"] == pytest.approx(wide["spread_median"], rel=0.05)
    # 9 of 49 classes move the median over classes only a little
    assert narrow["spread_median"] == pytest.approx(wide["spread_median"], rel=0.05)


def test_house_fonts_write_the_house_share_in_the_modern_forms_of_every_font():
    templates = synthetic.build_templates()
    difficulty = dataclasses.replace(DIFFICULTY, house_share=1.0, house_fonts=1.0,
                                     house_variant_share=0.0, hands_by_size=0.0)
    hands = synthetic.set_hands(templates, 0, difficulty)
    n_hands = 49 * difficulty.hands
    assert len(hands.template) == n_hands + len(templates.labels)
    assert torch.equal(hands.template[n_hands:], torch.arange(len(templates.labels)))
    assert torch.equal(hands.images[n_hands:], templates.images)

    from k49.data.synthetic.pipeline import _house_in_fonts
    labels = torch.randint(49, (20_000,), generator=torch.Generator().manual_seed(0))
    hand = torch.zeros_like(labels)  # every sample by the house hand
    modern = torch.from_numpy(templates.class_weights(difficulty.house_variant_share)).float()
    index = _house_in_fonts(labels * difficulty.hands, hand, labels, modern, difficulty,
                            torch.Generator().manual_seed(1))
    template = hands.template[index].numpy()
    assert np.array_equal(templates.labels[template], labels.numpy())  # its own class
    assert (templates.kinds[template] == "modern").all()
    # spread evenly over the class's modern templates, so over every font that has one
    c = int(np.bincount(labels.numpy()).argmax())
    drawn = np.bincount(template[labels.numpy() == c], minlength=len(templates.labels))
    choices = np.flatnonzero(modern[c].numpy() > 0)
    assert set(np.flatnonzero(drawn)) == set(choices)
    assert drawn[choices].min() > 0.5 * drawn[choices].mean()
    # half of them: the others stay with the house hand
    half = _house_in_fonts(labels * difficulty.hands, hand, labels, modern,
                           dataclasses.replace(difficulty, house_fonts=0.5),
                           torch.Generator().manual_seed(1))
    assert (half >= n_hands).float().mean() == pytest.approx(0.5, abs=0.02)


def test_house_fonts_are_deterministic_and_keep_the_labels():
    templates = synthetic.build_templates()
    counts = np.full(49, 8)
    draws = []
    for house_fonts in (0.0, 0.8, 0.8):
        difficulty = dataclasses.replace(DIFFICULTY, house_fonts=house_fonts)
        with torch_threads(synthetic.THREADS):
            hands = synthetic.set_hands(templates, 2, difficulty)
            draws.append(synthetic.synthesize(counts, 3, templates, difficulty=difficulty,
                                              hands=hands))
    (none, labels), (first, first_labels), (second, _) = draws
    np.testing.assert_array_equal(labels, first_labels)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(none, first)

