"""The study's result figures: every stem in both themes and formats, titled, characters as text."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fake_study import SEED_MODELS, make_study
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text

from k49.data.datasets import K49_CHARS
from k49.evaluation.stats import t_interval
from k49.report import aggregate
from k49.report.collect import CollectedRuns, RunRecord, load_study
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
from k49.report.figures.accuracy import accuracy_figure
from k49.report.figures.auc import accuracy_vs_auc_figure, auc_inverse_frequency_figure
from k49.report.figures.confusion import confused_pairs_figure
from k49.report.figures.cost import cost_benefit_figure
from k49.report.figures.curves import (
    STILL_IMPROVING,
    STILL_IMPROVING_MARK,
    training_curves_all_figure,
    training_curves_figure,
)
from k49.report.figures.imbalance import _swarm, recall_figure
from k49.report.figures.inputs import interval_errors, seeds_note
from k49.report.figures.registry import LABEL, figures_of
from k49.report.figures.style import thin
from k49.viz import THEMES, save_figure
from k49.viz import theme as viz_theme

pytestmark = pytest.mark.slow

SEED_ORDER = ["NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam", "NN_dense", "NN_dense_batch_norm",
              "CNN_1_sgd", "CNN_2_sgd", "CNN_1_adam", "CNN_2_adam", "CNN_dense",
              "CNN_dense_batch_norm"]
#: Every stem of the report, in its order.
REPORT_STEMS = ["accuracy", "training_curves_<label>", "training_curves_all", "roc_nightmare",
                "auc_pairs", "auc_inverse_frequency", "accuracy_vs_auc", "confusion_matrix",
                "confused_pairs", "cost_benefit", "time_to_accuracy", "recall_vs_train_count",
                "reliability"]
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
    assert "CNN_dense" not in accuracy and "mean over 3 seeds, 95% t intervals" in accuracy
    pairs = svg_texts(out / "light" / "auc_pairs.svg")
    assert "best NN vs best CNN" in pairs and "Adam" not in pairs


def test_a_study_without_good_runs_writes_nothing(tmp_path, seed_study):
    failed = RunRecord("NN_1_sgd", 0, tmp_path / "x", "failed", "broken")
    study = CollectedRuns(tmp_path, [failed], seed_study.spec)
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
    assert list(captions) == REPORT_STEMS == [f.stem for f in figures_of("study")]
    for text in captions.values():
        assert text.endswith(".") and len(re.findall(r"\.\s+[A-Z]", text)) == 0
    assert caption("training_curves_NN_2_adam") == captions["training_curves_<label>"].replace(
        "one model", "NN_2_adam")
    assert caption("training_curves_all") == captions["training_curves_all"]
    assert caption("nonsense") == caption("training_curves_") == ""


@pytest.mark.parametrize("entry", figures_of("study"), ids=lambda f: f.stem)
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


# ---------------------------------------------------------------------------------------------
# Trustworthy findings: 95% intervals as error bars, runs still improving marked

#: The models of `mixed_study`: three seeds, one seed, one seed without intervals.
MANY, ONE, BARE = "NN_1_sgd", "CNN_1_sgd", "CNN_2_sgd"


@pytest.fixture(scope="module")
def mixed_study(tmp_path_factory):
    """NN_1_sgd and NN_2_sgd with three seeds; CNN_1_sgd and CNN_2_sgd with one, CNN_2_sgd's
    metrics without "intervals" (as runs evaluated before them). Every fake run climbs at each
    epoch, so it is still improving; CNN_1_sgd and seed 1 of NN_1_sgd are made converged."""
    root = tmp_path_factory.mktemp("mixed") / "study"
    make_study(root, models=SEED_MODELS[:2], seeds=(0, 1, 2))
    make_study(root, models=SEED_MODELS[6:8])
    study = load_study(root)
    del study.by_label(BARE)[0].metrics["intervals"]
    for r in study.by_label(ONE) + [r for r in study.by_label(MANY) if r.seed == 1]:
        r.metrics["convergence"]["still_improving"] = False
    return study


def draw(make) -> Figure:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN or shape warning from a missing interval
        with viz_theme("light"):
            return make()


def error_extents(ax) -> tuple[dict, dict]:
    """The error bars drawn on `ax`: {(x, y of the point): (low, high)} of the vertical bars
    and of the horizontal ones."""
    vertical, horizontal = {}, {}
    for c in ax.containers:
        if not isinstance(c, ErrorbarContainer):
            continue
        for seg in c.lines[2][0].get_segments():
            (x0, y0), (x1, y1) = seg
            if x0 == x1:
                vertical[round(x0, 9)] = (min(y0, y1), max(y0, y1))
            else:
                horizontal[round(y0, 9)] = (min(x0, x1), max(x0, x1))
    return vertical, horizontal


def test_interval_errors_are_lengths_below_and_above_and_nan_without_interval():
    err = interval_errors(np.array([0.5, 0.7, np.nan, 0.4, 0.3]),
                          np.array([0.4, np.nan, 0.1, 0.45, 0.2]),
                          np.array([0.55, 0.9, 0.2, 0.5, 0.35]))
    np.testing.assert_allclose(err[:, 0], [0.1, 0.05])
    assert np.isnan(err[:, 1:3]).all()  # no interval, no value: no bar
    np.testing.assert_allclose(err[:, 3], [0.0, 0.1])  # value below its interval: never < 0
    np.testing.assert_allclose(err[:, 4], [0.1, 0.05])


def test_the_intervals_shown_are_t_over_seeds_and_bootstrap_for_one_seed(mixed_study):
    study = mixed_study
    for key in ("accuracy", "balanced_accuracy"):
        values = aggregate.metric_values(study, MANY, key)
        assert len(values) == 3
        np.testing.assert_allclose(aggregate.interval(study, MANY, key), t_interval(values))
        run = study.by_label(ONE)[0].metrics
        assert aggregate.interval(study, ONE, key) == tuple(run["intervals"][key])
        assert np.isnan(aggregate.interval(study, BARE, key)).all()


def test_accuracy_error_bars_are_the_95_intervals(mixed_study):
    study = mixed_study
    labels = study.labels()
    assert labels == ["NN_1_sgd", "NN_2_sgd", ONE, BARE]
    ax = draw(accuracy_figure(FigureInputs(study))).axes[0]
    vertical, horizontal = error_extents(ax)
    assert not horizontal
    expected = {}
    for dx, key in ((-0.2, "accuracy"), (0.2, "balanced_accuracy")):
        lows, highs = aggregate.intervals(study, labels, key)
        expected.update({round(i + dx, 9): (lo, hi) for i, (lo, hi)
                         in enumerate(zip(lows, highs, strict=True)) if np.isfinite(lo)})
        # Each bar is the mean over the model's seeds (the one run's value for one seed).
        heights = {round(p.get_x() + p.get_width() / 2, 9): p.get_height() for p in ax.patches}
        for i, lb in enumerate(labels):
            assert heights[round(i + dx, 9)] == pytest.approx(aggregate.metric_mean(study, lb, key))
    # Both models' bars, every bar but the model without intervals, exactly its interval.
    assert sorted(vertical) == sorted(expected) and len(expected) == 2 * 3
    for x, (lo, hi) in expected.items():
        assert vertical[x] == pytest.approx((lo, hi), abs=1e-12)
        assert lo < hi
    assert all(round(3 + dx, 9) not in vertical for dx in (-0.2, 0.2))  # BARE: no error bar
    texts = [t.get_text() for t in ax.texts] + [ax.get_title("left")]
    assert "mean over 1–3 seeds, 95% intervals" in texts


def test_scatter_figures_error_bars_are_the_95_intervals(mixed_study):
    study = mixed_study
    labels = study.labels()
    lows, highs = aggregate.intervals(study, labels, "balanced_accuracy")
    params_axes, time_axes = draw(cost_benefit_figure(FigureInputs(study))).axes
    for ax in (params_axes, time_axes):
        vertical, horizontal = error_extents(ax)
        assert not horizontal and len(vertical) == 3  # BARE has none
        xs = aggregate.mean_sd(study, labels, "params" if ax is params_axes
                               else "train_seconds")[0]
        for i in range(3):
            assert vertical[round(xs[i], 9)] == pytest.approx((lows[i], highs[i]), abs=1e-12)

    ax = draw(accuracy_vs_auc_figure(FigureInputs(study))).axes[0]
    vertical, horizontal = error_extents(ax)
    auc = aggregate.mean_sd(study, labels, "auc_inverse_frequency")[0]
    acc = aggregate.mean_sd(study, labels, "accuracy")[0]
    acc_lo, acc_hi = aggregate.intervals(study, labels, "accuracy")
    auc_lo, auc_hi = aggregate.intervals(study, labels, "auc_inverse_frequency")
    assert len(vertical) == len(horizontal) == 3
    for i in range(3):
        assert vertical[round(auc[i], 9)] == pytest.approx((acc_lo[i], acc_hi[i]), abs=1e-12)
        assert horizontal[round(acc[i], 9)] == pytest.approx((auc_lo[i], auc_hi[i]), abs=1e-12)


def test_figures_without_any_interval_draw_no_error_bar(mixed_study):
    study = CollectedRuns(mixed_study.root, mixed_study.by_label(BARE), mixed_study.spec)
    inputs = FigureInputs(study)
    for build in (accuracy_figure, cost_benefit_figure, accuracy_vs_auc_figure,
                  auc_inverse_frequency_figure):
        fig = draw(build(inputs))
        assert not [c for ax in fig.axes for c in ax.containers
                    if isinstance(c, ErrorbarContainer)], build.__name__
    assert seeds_note(study, [BARE]) == "one seed per model, 95% bootstrap intervals"


def figure_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_training_curves_say_when_a_run_was_still_improving(mixed_study):
    study = mixed_study
    assert aggregate.still_improving(study, MANY) == [0, 2]
    assert aggregate.still_improving(study, ONE) == []
    many = figure_texts(draw(training_curves_figure(FigureInputs(study), MANY)))
    assert f"{STILL_IMPROVING}\n(seeds 0, 2 of 3)" in many
    one_seed = figure_texts(draw(training_curves_figure(FigureInputs(study), BARE)))
    assert STILL_IMPROVING in one_seed  # one seed: no list of seeds
    converged = figure_texts(draw(training_curves_figure(FigureInputs(study), ONE)))
    assert not [t for t in converged if "still improving" in t]


def test_overlaid_curves_mark_the_end_of_curves_still_improving(mixed_study):
    study = mixed_study
    fig = draw(training_curves_all_figure(FigureInputs(study)))
    improving = [lb for lb in study.labels() if lb != ONE]
    for ax in fig.axes[:2]:
        marks = {ln.get_label(): ln for ln in ax.lines if ln.get_label().startswith("_still")}
        assert sorted(marks) == sorted(STILL_IMPROVING_MARK.format(label=lb) for lb in improving)
        curves = {ln.get_label(): ln for ln in ax.lines}
        for lb in improving:
            mark, curve = marks[STILL_IMPROVING_MARK.format(label=lb)], curves[lb]
            # One open marker, at the curve's last point, in the curve's colour.
            assert list(mark.get_xdata()) == [curve.get_xdata()[-1]]
            assert list(mark.get_ydata()) == [curve.get_ydata()[-1]]
            assert mark.get_markerfacecolor() == "none"
            assert mark.get_color() == curve.get_color()
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == study.labels() + [STILL_IMPROVING]

    # No model still improving: no marker and no legend entry.
    converged = CollectedRuns(study.root, study.by_label(ONE), study.spec)
    fig = draw(training_curves_all_figure(FigureInputs(converged)))
    assert not [ln for ax in fig.axes for ln in ax.lines
                if ln.get_label().startswith("_still")]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [ONE]


def test_captions_say_what_error_bars_and_marks_are():
    captions = figure_captions()
    for stem in ("accuracy", "cost_benefit", "accuracy_vs_auc", "auc_inverse_frequency"):
        assert "95% intervals: bootstrap over test images for one seed, t interval over seeds " \
               "for several" in captions[stem], stem
        assert "standard deviation" not in captions[stem]
    assert "still improving when training stopped" in captions["training_curves_<label>"]
    assert "still improving when training stopped" in captions["training_curves_all"]


def test_figures_drawn_by_several_processes_are_the_files_one_draws(tmp_path):
    """Parallel drawing changes only the time: the same stems, in the report's order, and the
    same bytes (SVGs carry no date; PNGs come from the same renderer)."""
    study = load_study(make_study(tmp_path / "study", models=SEED_MODELS[2:4] + SEED_MODELS[8:10]))
    serial = report_figures(study, tmp_path / "one", themes=("light",), jobs=1)
    parallel = report_figures(study, tmp_path / "two", themes=("light",), jobs=2)
    assert list(parallel) == list(serial)
    for stem, paths in serial.items():
        for a, b in zip(paths, parallel[stem], strict=True):
            assert a.name == b.name and a.read_bytes() == b.read_bytes(), a.name


def test_a_figure_that_fails_in_a_drawing_process_is_a_warning_in_this_one(tmp_path):
    study = load_study(make_study(tmp_path / "study", models=SEED_MODELS[2:4]))
    best = study.representative(best_label(study))
    (best.run_dir / "test_predictions.npz").write_bytes(b"damaged")  # read again in a process
    with pytest.warns(UserWarning,
                      match=r"figure roc_nightmare skipped: K49Error: .*not a valid npz file"):
        written = report_figures(study, tmp_path / "out", themes=("light",), jobs=2)
    assert "roc_nightmare" not in written and "accuracy" in written
