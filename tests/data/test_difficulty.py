"""What makes the synthetic set K49-hard: stroke groups, hands, each mechanism, its validation,
and the rebuild of a set made by the previous generator."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from k49.data import synthetic
from k49.data.load import load_dataset
from k49.data.synthetic import DIFFICULTY, EASY, MECHANISMS, Difficulty
from k49.data.synthetic.templates import PART_RES, TEMPLATE_SIZE, stroke_parts
from k49.errors import K49Error
from k49.io import torch_threads

pytestmark = pytest.mark.slow

COUNTS = np.full(49, 6)


@pytest.fixture(scope="module")
def templates():
    return synthetic.build_templates()


def draw(templates, difficulty=DIFFICULTY, seed=5, counts=COUNTS):
    with torch_threads(synthetic.THREADS):
        return synthetic.synthesize(counts, seed, templates, difficulty=difficulty)


def test_stroke_parts_split_separate_strokes():
    image = np.zeros((TEMPLATE_SIZE, TEMPLATE_SIZE), dtype=np.float32)
    image[8:20, 8:56] = 1  # a stroke at the top
    image[44:56, 8:56] = 1  # and one at the bottom
    maps, centres = stroke_parts(image, parts=2)
    assert maps.shape == (2, PART_RES, PART_RES) and centres.shape == (2, 2)
    np.testing.assert_allclose(maps.sum(0), 1.0, rtol=1e-5)
    top = int(np.argmin(centres[:, 1]))  # y is the second coordinate, -1 at the top
    assert maps[top, 1].mean() > 0.99 and maps[top, -2].mean() < 0.01
    assert centres[top, 1] < -0.3 and centres[1 - top, 1] > 0.3
    assert np.all(np.abs(centres[:, 0]) < 0.05)  # both centred across


def test_stroke_parts_of_a_blank_or_tiny_glyph():
    maps, centres = stroke_parts(np.zeros((TEMPLATE_SIZE, TEMPLATE_SIZE)), parts=4)
    np.testing.assert_allclose(maps.sum(0), 1.0)
    tiny = np.zeros((TEMPLATE_SIZE, TEMPLATE_SIZE))
    tiny[30:32, 30:32] = 1  # one ink point at half resolution: one part, three empty
    maps, centres = stroke_parts(tiny, parts=4)
    np.testing.assert_allclose(maps.sum(0), 1.0, rtol=1e-5)
    assert (maps.reshape(4, -1).max(1) > 0).sum() == 1


def test_every_template_has_stroke_groups(templates):
    n = len(templates.labels)
    assert templates.parts.shape == (n, synthetic.templates.PARTS, PART_RES, PART_RES)
    torch.testing.assert_close(templates.parts.sum(1), torch.ones(n, PART_RES, PART_RES))
    assert templates.part_centres.abs().max() <= 1


@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_each_mechanism_changes_the_images(templates, mechanism):
    with_it, labels = draw(templates)
    without, labels_without = draw(templates, DIFFICULTY.without(mechanism))
    np.testing.assert_array_equal(labels, labels_without)  # same classes, same order
    assert not np.array_equal(with_it, without)


def test_no_mechanism_is_the_easy_set():
    off = DIFFICULTY
    for mechanism in MECHANISMS:
        off = off.without(mechanism)
    assert off == EASY
    assert EASY.hands == 0 and EASY.variant_share == 0 and EASY.neighbours == 0


def test_hands_are_shared_by_the_splits_and_fixed_by_the_set_seed(templates):
    a = synthetic.set_hands(templates, 3)
    b = synthetic.set_hands(templates, 3)
    c = synthetic.set_hands(templates, 4)
    # the hands, then one plain row per template (the house style in every font)
    n = 49 * DIFFICULTY.hands + len(templates.labels)
    assert a.images.shape == (n, 1, TEMPLATE_SIZE, TEMPLATE_SIZE)
    assert torch.equal(a.images, b.images) and torch.equal(a.affine, b.affine)
    assert not torch.equal(a.images, c.images)
    # two splits (two sample seeds) drawn from the same hands differ, but share their writers
    first, _ = synthetic.synthesize(COUNTS, 1, templates, hands=a)
    second, _ = synthetic.synthesize(COUNTS, 2, templates, hands=a)
    assert not np.array_equal(first, second)
    assert synthetic.set_hands(templates, 3, EASY) is None


def classes_with_both_forms(templates) -> list[int]:
    """The classes with modern and hentaigana templates (skips the test if there are none)."""
    kinds, labels = templates.kinds, templates.labels
    both = [c for c in range(49) if (kinds[labels == c] == "hentaigana").any()
            and (kinds[labels == c] == "modern").any()]
    if not both:
        pytest.skip("no class has both modern and hentaigana templates (no IPAmj Mincho)")
    return both


def test_variant_share_moves_hands_to_hentaigana(templates):
    kinds, labels = templates.kinds, templates.labels
    both = classes_with_both_forms(templates)
    per_class = DIFFICULTY.hands
    for share in (0.0, 0.5, 1.0):
        weights = templates.class_weights(share)
        for c in both:
            assert weights[c, kinds == "hentaigana"].sum() == pytest.approx(share)
        hands = synthetic.set_hands(templates, 0, dataclasses.replace(DIFFICULTY,
                                                                       variant_share=share))
        chosen = hands.template[: 49 * per_class].view(49, per_class)[both].numpy()
        assert np.all(labels[chosen] == np.asarray(both)[:, None])  # a hand writes its class
        drawn = (kinds[chosen] == "hentaigana").mean()
        assert drawn == pytest.approx(share, abs=0.05)


def test_house_variant_share_sets_the_house_hands_form_alone(templates):
    kinds = templates.kinds
    both = classes_with_both_forms(templates)
    n = DIFFICULTY.hands
    for share in (0.0, 1.0):
        hands = synthetic.set_hands(templates, 0, dataclasses.replace(
            DIFFICULTY, house_variant_share=share, variant_share=1 - share))
        chosen = hands.template[: 49 * n].view(49, n)[both]
        house, others = kinds[chosen[:, 0].numpy()], kinds[chosen[:, 1:].numpy()]
        assert (house == ("hentaigana" if share else "modern")).all()
        assert (others == ("modern" if share else "hentaigana")).all()


@pytest.mark.parametrize("change, field", [
    ({"hands": -1}, "hands"), ({"hands": 2.5}, "hands"), ({"variant_share": 1.5}, "variant_share"),
    ({"neighbours": -0.1}, "neighbours"), ({"neighbour_depth": (0.1, -1)}, "neighbour_depth"),
    ({"stroke_shift": float("nan")}, "stroke_shift"), ({"bleed_through": True}, "bleed_through"),
    ({"new_test_hands": 1.2}, "new_test_hands"), ({"house_share": 1.01}, "house_share"),
    ({"house_strength": -0.5}, "house_strength"), ({"house_fonts": 1.5}, "house_fonts"),
    ({"house_variant_share": -1}, "house_variant_share"),
])
def test_a_bad_difficulty_is_one_line_error_naming_the_field(tmp_path, change, field):
    bad = dataclasses.replace(DIFFICULTY, **change)
    with pytest.raises(K49Error) as err:
        synthetic.generate(tmp_path, scale=0.001, seed=0, progress=False, difficulty=bad)
    assert f"Difficulty.{field}" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "synthetic").exists() or not any((tmp_path / "synthetic").iterdir())


def test_without_an_unknown_mechanism_names_the_choices():
    with pytest.raises(ValueError, match="broken ink"):
        DIFFICULTY.without("fog")


def test_a_set_of_the_previous_generator_is_rebuilt_with_one_line(tmp_path, capsys):
    report = synthetic.generate(tmp_path, scale=0.002, seed=2, progress=False)
    assert report["generator_version"] == synthetic.GENERATOR_VERSION
    assert report["difficulty"] == DIFFICULTY.as_dict() | {
        "neighbour_depth": list(DIFFICULTY.neighbour_depth),
        "bleed_intensity": list(DIFFICULTY.bleed_intensity)}
    info = tmp_path / "synthetic" / "synthetic.json"
    old = json.loads(info.read_text("utf-8"))
    old["generator_version"] = 1
    old["cache_key"] = old["cache_key"].replace(f"v{synthetic.GENERATOR_VERSION}-", "v1-")
    del old["difficulty"]
    info.write_text(json.dumps(old), "utf-8")
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert rebuild is not None and (rebuild.scale, rebuild.seed) == (0.002, 2)
    assert "generator version 1" in rebuild.reason and "\n" not in rebuild.reason
    capsys.readouterr()
    load_dataset("synthetic", tmp_path, progress=False)
    assert rebuild.reason in capsys.readouterr().err
    assert json.loads(info.read_text("utf-8"))["generator_version"] == synthetic.GENERATOR_VERSION


def test_a_rebuild_keeps_the_recorded_difficulty(tmp_path):
    custom = dataclasses.replace(DIFFICULTY, hands=3, neighbours=0.0)
    synthetic.generate(tmp_path, scale=0.002, seed=1, progress=False, difficulty=custom)
    (tmp_path / "synthetic" / "k49-test-imgs.npz").unlink()
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert synthetic.difficulty_from_record(rebuild.difficulty) == custom
    load_dataset("synthetic", tmp_path, progress=False)
    info = json.loads((tmp_path / "synthetic" / "synthetic.json").read_text("utf-8"))
    assert info["difficulty"]["hands"] == 3 and info["difficulty"]["neighbours"] == 0.0


@pytest.mark.parametrize("record", [None, {}, {"hands": "many"}, [1, 2]])
def test_an_unusable_recorded_difficulty_falls_back_to_the_default(record):
    assert synthetic.difficulty_from_record(record) == DIFFICULTY


def test_difficulty_fields_are_documented():
    """Every field sits under a `#:` comment (fields of one mechanism may share one)."""
    import inspect

    lines = [text.strip() for text in inspect.getsource(Difficulty).splitlines()]
    names = [f.name for f in dataclasses.fields(Difficulty)]
    for name in names:
        i = next(i for i, text in enumerate(lines) if text.startswith(f"{name}:"))
        while lines[i - 1].split(":")[0] in names:  # the field above shares the comment
            i -= 1
        assert lines[i - 1].startswith("#:"), name


def test_new_test_hands_rewrite_a_seeded_share_of_the_test_split_only(tmp_path):
    """New writers at test time: the training split and every label stay; about the asked
    share of the unusual hands' test images is written by hands the training split never saw,
    the same per seed. (Without the neighbours and bleed-through, which draw other characters
    from the hands and so would change some house-style images too.)"""
    def make(folder, share):
        difficulty = dataclasses.replace(DIFFICULTY, new_test_hands=share, neighbours=0.0,
                                         bleed_through=0.0)
        synthetic.generate(tmp_path / folder, scale=0.004, seed=0, progress=False,
                           difficulty=difficulty)
        return load_dataset("synthetic", tmp_path / folder, offline=True, progress=False)

    shared, half, again = make("shared", 0.0), make("half", 0.5), make("again", 0.5)
    np.testing.assert_array_equal(shared.train_images, half.train_images)
    np.testing.assert_array_equal(shared.test_labels, half.test_labels)
    rewritten = (shared.test_images != half.test_images).any(axis=(1, 2)).mean()
    # The house style in every font is every book's: only the unusual hands' samples change.
    unusual = 1 - DIFFICULTY.house_share * DIFFICULTY.house_fonts
    assert rewritten == pytest.approx(0.5 * unusual, abs=0.06)
    assert rewritten > 0
    np.testing.assert_array_equal(half.test_images, again.test_images)


def test_a_record_from_before_a_field_existed_reads_it_as_its_default():
    record = {k: v for k, v in DIFFICULTY.as_dict().items() if k != "new_test_hands"}
    record["hands"] = 3
    assert synthetic.difficulty_from_record(record) == dataclasses.replace(DIFFICULTY, hands=3)


def hand_shares(difficulty, per_class=16, n=200_000, label=0):
    """How often _draw_hand picks each of the per_class hands for n samples of class `label`,
    and whether it repeats per seed; hands by class size off unless `difficulty` sets it."""
    from k49.data.synthetic.pipeline import _draw_hand

    difficulty = dataclasses.replace(difficulty, hands=per_class)
    labels = torch.full((n,), label)
    drawn = _draw_hand(difficulty, labels, torch.Generator().manual_seed(0))
    assert drawn.min() >= 0 and drawn.max() < per_class
    assert torch.equal(drawn, _draw_hand(difficulty, labels, torch.Generator().manual_seed(0)))
    return torch.bincount(drawn, minlength=per_class).double() / n


EVEN = dataclasses.replace(DIFFICULTY, hands_by_size=0.0)


@pytest.mark.parametrize("skew", [0.0, 1.0, 1.5])
def test_hand_skew_gives_hand_h_a_share_proportional_to_its_weight(skew):
    share = hand_shares(dataclasses.replace(EVEN, hand_skew=skew, house_share=0.0))
    weight = torch.arange(1, 17, dtype=torch.float64) ** -skew
    torch.testing.assert_close(share, weight / weight.sum(), atol=0.005, rtol=0.0)


@pytest.mark.parametrize("skew", [0.0, 1.0])
def test_the_house_hand_writes_house_share_and_the_others_the_rest(skew):
    share = hand_shares(dataclasses.replace(EVEN, house_share=0.6, hand_skew=skew))
    weight = torch.arange(1, 16, dtype=torch.float64) ** -skew
    expected = torch.cat([torch.tensor([0.6], dtype=torch.float64),
                          0.4 * weight / weight.sum()])
    torch.testing.assert_close(share, expected, atol=0.005, rtol=0.0)
    # A class with one hand: the house hand writes everything.
    only = hand_shares(dataclasses.replace(EVEN, house_share=0.6), per_class=1)
    assert only.tolist() == [1.0]


def test_hands_by_size_gives_a_rare_class_fewer_hands_in_proportion_to_its_share():
    from k49.data.datasets import K49_TEST_COUNTS
    from k49.data.synthetic.pipeline import class_hands

    counts = np.asarray(K49_TEST_COUNTS)
    largest, rarest = int(counts.argmax()), int(counts.argmin())
    k = dataclasses.replace(DIFFICULTY, hands=16, hands_by_size=1.0, house_share=0.0)
    hands = class_hands(k)
    assert hands[largest] == 16
    assert hands[rarest] == max(1, round(16 * counts[rarest] / counts.max()))
    assert (class_hands(dataclasses.replace(k, hands_by_size=0.0)) == 16).all()
    # Samples of the rarest class fall, alike, to its first hands only; the largest uses all.
    rare = hand_shares(k, label=rarest)
    n = hands[rarest]
    torch.testing.assert_close(rare[:n], torch.full((n,), 1 / n, dtype=torch.float64),
                               atol=0.005, rtol=0.0)
    assert rare[n:].sum() == 0
    assert (hand_shares(k, label=largest) > 0).all()
    # With a house hand, it keeps its share; with only one hand, it writes everything.
    house = dataclasses.replace(k, house_share=0.6)
    assert hand_shares(house, label=largest)[0] == pytest.approx(0.6, abs=0.005)
    assert hands[rarest] > 1 or hand_shares(house, label=rarest)[0] == 1.0


def test_the_house_hand_is_nearer_its_template_by_house_strength(templates):
    from k49.data.synthetic.pipeline import set_hands

    # one form for every hand and no house samples in every font: only house_strength differs
    same = dataclasses.replace(DIFFICULTY, house_variant_share=DIFFICULTY.variant_share,
                               house_fonts=0.0)
    plain = set_hands(templates, 5, dataclasses.replace(same, house_share=0.0))
    house = set_hands(templates, 5, dataclasses.replace(same, house_share=0.5,
                                                        house_strength=0.25))
    first = torch.arange(0, len(plain.affine), DIFFICULTY.hands)  # hand 0 of every class
    others = torch.ones(len(plain.affine), dtype=torch.bool)
    others[first] = False
    assert torch.equal(house.template, plain.template)
    for name in ("affine", "warp"):
        a, b = getattr(house, name), getattr(plain, name)
        torch.testing.assert_close(a[first], 0.25 * b[first])
        assert torch.equal(a[others], b[others])
    # Its strokes moved a quarter as far: closer to the unmoved template than the plain hand's.
    template = templates.images[plain.template[first]]
    assert ((house.images[first] - template).abs().sum()
            < (plain.images[first] - template).abs().sum())
    assert torch.equal(house.images[others], plain.images[others])


@pytest.mark.parametrize("change", [{"hand_skew": 1.5}, {"hands_by_size": 1.0}])
def test_uneven_hands_change_the_images_and_keep_the_labels(templates, change):
    even_images, even_labels = draw(templates)
    uneven_images, uneven_labels = draw(templates, dataclasses.replace(DIFFICULTY, **change))
    np.testing.assert_array_equal(even_labels, uneven_labels)
    assert not np.array_equal(even_images, uneven_images)
