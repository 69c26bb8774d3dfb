"""The seed's dataset figures: all written, both themes and formats, titled and readable."""

from __future__ import annotations

import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from k49.data.datasets import DATASETS, REAL_SAMPLE
from k49.data.figures import STEMS, dataset_figures, random_samples_figure
from k49.data.load import Dataset
from k49.viz import THEMES, save_figure

pytestmark = pytest.mark.slow

SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_dataset(spec_name: str = "synthetic", n_train: int = 400, n_test: int = 120,
                 synthetic_info: dict | None = None) -> Dataset:
    rng = np.random.default_rng(0)
    spec = DATASETS[spec_name]
    return Dataset(
        spec=spec,
        train_images=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, spec.n_classes, n_train).astype(np.int64),
        test_images=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        test_labels=rng.integers(0, spec.n_classes, n_test).astype(np.int64),
        data_dir=Path("unused"),
        synthetic_info=synthetic_info,
    )


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter(f"{SVG_NS}text")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The whole set, rendered once with Glyph warnings turned into errors."""
    out = tmp_path_factory.mktemp("figures")
    ds = tiny_dataset()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*")
        paths = dataset_figures(ds, out, seed=0, real_sample=REAL_SAMPLE)
    return ds, out, paths, time.perf_counter() - start


def test_all_figures_in_both_themes_and_formats(rendered):
    _, out, paths, _ = rendered
    expected = {
        out / t / f"{stem}.{ext}" for stem in STEMS for t in THEMES for ext in ("svg", "png")
    }
    assert set(paths) == expected and len(paths) == 16
    for path in paths:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(PNG_MAGIC)
        else:
            assert ET.fromstring(data).tag == f"{SVG_NS}svg"
    leftovers = [p for p in out.rglob("*") if p.is_file() and p not in expected]
    assert leftovers == []


def test_render_is_fast(rendered):
    assert rendered[3] < 30  # about 4 s on 2 cores; generous for a loaded machine


@pytest.mark.parametrize("stem", STEMS)
def test_synthetic_figures_say_synthetic_in_their_title(rendered, stem):
    _, out, _, _ = rendered
    for t in THEMES:
        texts = svg_texts(out / t / f"{stem}.svg")
        assert any("synthetic" in text and " — " in text for text in texts), texts


def test_imbalance_figure_names_every_class_by_its_character(rendered):
    ds, out, _, _ = rendered
    texts = set(svg_texts(out / "light" / "classes_imbalance_train_samples.svg"))
    assert set(ds.chars) <= texts
    assert any(text.startswith("train (") for text in texts)
    assert any(text.startswith("test (") for text in texts)


def test_random_samples_are_captioned_with_class_characters(rendered):
    ds, out, _, _ = rendered
    texts = svg_texts(out / "dark" / "75_random_samples.svg")
    captions = [t for t in texts if t in ds.chars]
    assert len(captions) == 75


def test_class_rows_are_labelled_by_character(rendered):
    ds, out, _, _ = rendered
    texts = svg_texts(out / "light" / "5_classes_train_samples.svg")
    assert len([t for t in texts if t in ds.chars]) == 5


def test_synthetic_vs_real_shows_both_sides_statistics(rendered):
    _, out, _, _ = rendered
    texts = " ".join(svg_texts(out / "light" / "synthetic_vs_real.svg"))
    assert "real K49" in texts
    assert texts.count("mean pixel") >= 2 and "ink box" in texts
    assert "CC BY-SA 4.0" in texts


def test_no_real_sample_means_no_comparison_figure(tmp_path):
    paths = dataset_figures(tiny_dataset(n_train=60, n_test=20), tmp_path)
    assert len(paths) == 12
    assert not any("synthetic_vs_real" in p.name for p in paths)


def test_missing_real_sample_is_skipped_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="synthetic_vs_real"):
        paths = dataset_figures(
            tiny_dataset(n_train=60, n_test=20), tmp_path, real_sample=tmp_path / "nope.npz"
        )
    assert len(paths) == 12


def test_real_dataset_titles_do_not_say_synthetic(tmp_path):
    ds = tiny_dataset("kmnist", n_train=50, n_test=10)
    save_figure(random_samples_figure(ds), tmp_path, "r", themes=("light",))
    texts = svg_texts(tmp_path / "light" / "r.svg")
    assert not any("synthetic" in t.lower() for t in texts)
    assert any("Kuzushiji-MNIST" in t for t in texts)
    # Fewer than 75 training images: all of them, captioned.
    assert len([t for t in texts if t in ds.chars]) == 50


def test_sample_choice_is_seeded(tmp_path):
    ds = tiny_dataset()
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        save_figure(random_samples_figure(ds, seed), tmp_path / name, "r", themes=("light",))
    a, b, c = ((tmp_path / n / "light" / "r.svg").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_synthetic_figures_say_what_the_set_was_built_from(tmp_path):
    summary = "built from 7 fonts, 664 templates (per class: min 6, median 14, max 19)"
    ds = tiny_dataset(n_train=60, n_test=20, synthetic_info={"summary": summary})
    paths = dataset_figures(ds, tmp_path, real_sample=REAL_SAMPLE)
    svgs = [p for p in paths if p.suffix == ".svg"]
    assert len(svgs) == 8
    for path in svgs:
        assert any(f"Synthetic set {summary}" in text for text in svg_texts(path)), path.name
    # without the record (a hand-made set): no such line
    save_figure(random_samples_figure(tiny_dataset(n_train=60)), tmp_path / "x", "r",
                themes=("light",))
    assert not any("built from" in t for t in svg_texts(tmp_path / "x" / "light" / "r.svg"))
