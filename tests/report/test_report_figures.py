"""The study's result figures: every stem in both themes and formats, titled, characters as text."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fake_study import make_study
from matplotlib.figure import Figure

from k49.data.datasets import K49_CHARS
from k49.report.collect import RunRecord, Study, load_study
from k49.report.figures import (
    FIGURES,
    FigureInputs,
    best_label,
    caption,
    choose_pairs,
    figure,
    figure_captions,
    report_figures,
)
from k49.report.figures.confusion import confused_pairs_figure
from k49.report.figures.imbalance import _swarm, recall_figure
from k49.report.figures.registry import LABEL
from k49.report.figures.style import thin
from k49.viz import THEMES, save_figure
from k49.viz import theme as viz_theme

SEED_ORDER = ["NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam", "NN_dense", "NN_dense_batch_norm",
              "CNN_1_sgd", "CNN_2_sgd", "CNN_1_adam", "CNN_2_adam", "CNN_dense",
              "CNN_dense_batch_norm"]
#: Every stem of the report, in its order.
REPORT_STEMS = ["accuracy", "training_curves_<label>", "training_curves_all", "roc_nightmare",
                "auc_pairs", "auc_inverse_frequency", "accuracy_vs_auc", "confusion_matrix",
                "confused_pairs", "cost_benefit", "recall_vs_train_count", "reliability"]
FIXED_STEMS = [s for s in REPORT_STEMS if s != "training_curves_<label>"]


@pytest.fixture(scope="module")
def seed_study(tmp_path_factory):
    """The `fake_study` fixture's study, loaded once for the module."""
    return load_study(make_study(tmp_path_factory.mktemp("seed") / "study"))


def svg_texts(path) -> str:
    """All the text of an SVG file (matplotlib writes text as <text> with svg.fonttype none)."""
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))


def test_every_figure_in_both_themes_and_formats(fake_study, tmp_path):
    study = load_study(fake_study)
    out = tmp_path / "figures"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no figure may be skipped with a warning
        written = report_figures(study, out)

    stems = FIXED_STEMS + [f"training_curves_{m}" for m in SEED_ORDER]
    assert sorted(written) == sorted(stems)
    # In the registry's order, which is the order of the captions the report shows.
    assert list(written) == list(figure_captions(study))
    for stem, paths in written.items():
        assert paths == [out / t / f"{stem}.{ext}" for t in THEMES for ext in ("svg", "png")]
        for path in paths:
            assert path.stat().st_size > 0
        for theme in THEMES:
            assert (out / theme / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
    # Nothing else written (no temporary files left behind).
    assert len([p for p in out.rglob("*") if p.is_file()]) == 4 * len(stems)

    # Synthetic data is always titled as synthetic, in every figure and both themes.
    for stem in written:
        for theme in THEMES:
            assert "synthetic" in svg_texts(out / theme / f"{stem}.svg"), stem

    # The classes are shown as their characters, kept as text in the SVG.
    for stem in ("auc_pairs", "confusion_matrix", "recall_vs_train_count"):
        texts = svg_texts(out / "light" / f"{stem}.svg")
        missing = [c for c in K49_CHARS if c not in texts]
        assert not missing or stem == "recall_vs_train_count", (stem, missing)
    assert "IPAexGothic" in (out / "light" / "auc_pairs.svg").read_text(encoding="utf-8")

    # The ROC figure names the model it shows, the best by balanced accuracy.
    roc = svg_texts(out / "light" / "roc_nightmare.svg")
    assert best_label(study) == "CNN_dense_batch_norm" and "CNN_dense_batch_norm" in roc
    # Every model appears in the accuracy figure, in the zoo's order.
    acc = svg_texts(out / "dark" / "accuracy.svg")
    assert [m for m in sorted(SEED_ORDER, key=acc.index)] == SEED_ORDER

    # A caption for every figure written, the same by stem as in the list of captions.
    captions = figure_captions(study)
    assert sorted(captions) == sorted(stems)
    assert all(caption(stem) == captions[stem] for stem in written)
    assert "of NN_2_adam," in captions["training_curves_NN_2_adam"]


def test_choose_pairs_picks_the_seeds_comparisons(fake_study):
    study = load_study(fake_study)
    pairs = choose_pairs(study)
    # In the fake study skill grows with the model's index, so the later model of each kind wins.
    assert pairs == [
        ("best Adam NN vs best SGD NN", "NN_2_adam", "NN_2_sgd"),
        ("best Adam CNN vs best SGD CNN", "CNN_2_adam", "CNN_2_sgd"),
        ("NN_dense vs NN_dense_batch_norm", "NN_dense", "NN_dense_batch_norm"),
        ("CNN_dense vs CNN_dense_batch_norm", "CNN_dense", "CNN_dense_batch_norm"),
        ("best NN vs best CNN", "NN_dense_batch_norm", "CNN_dense_batch_norm"),
    ]
    # "Best" follows the results, not the names: make NN_1_adam the best Adam NN.
    for r in study.by_label("NN_1_adam"):
        r.metrics["balanced_accuracy"] = 0.99
    pairs = dict((t, (a, b)) for t, a, b in choose_pairs(study))
    assert pairs["best Adam NN vs best SGD NN"] == ("NN_1_adam", "NN_2_sgd")
    assert pairs["best NN vs best CNN"] == ("NN_1_adam", "CNN_dense_batch_norm")


def test_failed_run_is_not_drawn_and_absent_pairs_are_skipped(fake_study_seeds, tmp_path):
    study = load_study(fake_study_seeds)
    assert [r.label for r in study.runs if not r.ok] == ["CNN_dense"]
    # Only SGD models (three seeds each): no Adam, no dense pair; the NN vs CNN pair remains.
    assert choose_pairs(study) == [("best NN vs best CNN", "NN_2_sgd", "CNN_2_sgd")]

    out = tmp_path / "figures"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = report_figures(study, out, themes=("light",))
    assert "training_curves_CNN_dense" not in written
    assert {f"training_curves_{m}" for m in ("NN_1_sgd", "NN_2_sgd", "CNN_1_sgd", "CNN_2_sgd")} \
        <= set(written)
    assert set(FIXED_STEMS) <= set(written)
    assert all(p.parent.name == "light" for paths in written.values() for p in paths)
    assert not (out / "dark").exists()
    accuracy = svg_texts(out / "light" / "accuracy.svg")
    assert "CNN_dense" not in accuracy and "mean ± sd over 3 seeds" in accuracy
    pairs = svg_texts(out / "light" / "auc_pairs.svg")
    assert "best NN vs best CNN" in pairs and "Adam" not in pairs


def test_a_study_without_good_runs_writes_nothing(tmp_path, seed_study):
    failed = RunRecord("NN_1_sgd", 0, tmp_path / "x", "failed", "broken")
    study = Study(tmp_path, [failed], seed_study.spec)
    assert choose_pairs(study) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert report_figures(study, tmp_path / "out") == {}
    assert not (tmp_path / "out").exists()


def test_confused_pairs_show_test_images_when_given(seed_study, tmp_path):
    study = seed_study
    best = best_label(study)
    labels, _ = study.representative(best).predictions
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)

    def confused_pairs(test_images):
        return confused_pairs_figure(FigureInputs(study, test_images=test_images), best)

    save_figure(confused_pairs(images), tmp_path / "img", "cp", ("light",))
    with_images = (tmp_path / "img" / "light" / "cp.svg").read_text(encoding="utf-8")
    assert "<image" in with_images

    save_figure(confused_pairs(None), tmp_path / "txt", "cp", ("light",))
    as_text = (tmp_path / "txt" / "light" / "cp.svg")
    assert "<image" not in as_text.read_text(encoding="utf-8")
    # Each pair is listed as text: true character, predicted character, count.
    texts = svg_texts(as_text)
    for i, j, c in study.representative(best).metrics["most_confused"]:
        assert K49_CHARS[i] in texts and K49_CHARS[j] in texts and f"{c:,}" in texts

    # Images not aligned with the predictions: the pairs are still listed, without images.
    with pytest.warns(UserWarning, match="test_images has 10 images"):
        make = confused_pairs(images[:10])
    save_figure(make, tmp_path / "bad", "cp", ("light",))
    assert "<image" not in (tmp_path / "bad" / "light" / "cp.svg").read_text(encoding="utf-8")


def test_recall_figure_checks_train_counts(seed_study):
    best = best_label(seed_study)
    assert recall_figure(FigureInputs(seed_study, train_counts=np.full(49, 100)), best) is not None
    with pytest.warns(UserWarning, match="one count per class"):
        assert recall_figure(FigureInputs(seed_study, train_counts=np.full(10, 100)), best) is None


def test_captions_are_one_sentence_per_stem():
    captions = figure_captions()
    assert list(captions) == REPORT_STEMS == [f.stem for f in FIGURES]
    for text in captions.values():
        assert text.endswith(".") and len(re.findall(r"\.\s+[A-Z]", text)) == 0
    assert caption("training_curves_NN_2_adam") == captions["training_curves_<label>"].replace(
        "one model", "NN_2_adam")
    assert caption("training_curves_all") == captions["training_curves_all"]
    assert caption("nonsense") == caption("training_curves_") == ""


@pytest.mark.parametrize("entry", FIGURES, ids=lambda f: f.stem)
def test_every_registered_builder_draws_the_fake_study(entry, seed_study):
    inputs = FigureInputs(seed_study)
    label = {None: None, "each": "CNN_1_adam", "best": inputs.best}[entry.model]
    make = entry.build(inputs) if label is None else entry.build(inputs, label)
    assert callable(make)
    with viz_theme("light"):
        fig = make()
    assert isinstance(fig, Figure) and fig.axes
    assert "synthetic" in fig.get_suptitle()


def test_registry_refuses_a_second_figure_of_a_stem_and_a_bad_pattern():
    n = len(FIGURES)
    with pytest.raises(ValueError, match="registered twice"):
        figure("accuracy", caption="Again.")
    with pytest.raises(ValueError, match=LABEL):
        figure(f"curves_{LABEL}", caption="Per model, but not declared so.")
    with pytest.raises(ValueError, match=LABEL):
        figure("curves", caption="Declared per model without a label.", model="each")
    assert len(FIGURES) == n


def test_thin_keeps_endpoints_and_few_points():
    x = np.linspace(0, 1, 50_000) ** 3
    y = np.sqrt(np.linspace(0, 1, 50_000))
    tx, ty = thin(x, y, 100)
    assert len(tx) <= 102 and (tx[0], ty[0], tx[-1], ty[-1]) == (x[0], y[0], x[-1], y[-1])
    assert np.all(np.diff(tx) >= 0)
    short = np.array([0.0, 0.5, 1.0])
    assert thin(short, short, 100)[0] is short


def test_swarm_spreads_equal_counts_without_overlap():
    counts = np.array([100.0] * 6 + [1000.0])
    recall = np.array([0.5] * 6 + [0.9])
    x, placed = _swarm(counts, recall, (50, 2000), (0, 1), (8, 4), 11)
    assert placed.all()
    assert x[-1] == pytest.approx(1000)  # a lone count keeps its place
    u = np.sort(np.log10(x[:6]))
    box = 11 / 72 * 1.05 / 8 * np.log10(2000 / 50)  # one label width, in decades
    assert np.all(np.diff(u) >= box * 0.999)
    # No room: the label is left off, the point keeps its x.
    x, placed = _swarm(np.full(40, 100.0), np.full(40, 0.5), (50, 2000), (0, 1), (8, 4), 11,
                       max_shift=2)
    assert placed.sum() == 5 and np.all(x[~placed] == 100)
