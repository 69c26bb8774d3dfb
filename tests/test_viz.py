"""The plotting base: themes, Japanese glyphs, atomic SVG+PNG output in light and dark."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread

from k49.data.datasets import DATASETS, K49_CHARS
from k49.errors import K49Error
from k49.viz import THEMES, image_grid, new_figure, save_figure, theme, title_for

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def simple_figure():
    fig = new_figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [-1, 0, 1])
    ax.set_title("あいう test")
    return fig


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_save_figure_writes_svg_and_png_in_both_themes(tmp_path):
    paths = save_figure(simple_figure, tmp_path, "demo")
    assert THEMES == ("light", "dark")
    assert paths == [tmp_path / t / f"demo.{ext}" for t in THEMES for ext in ("svg", "png")]
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0
    for t in THEMES:
        png = (tmp_path / t / "demo.png").read_bytes()
        assert png.startswith(PNG_MAGIC)
        svg = (tmp_path / t / "demo.svg").read_text(encoding="utf-8")
        assert "<svg" in svg
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
    # Nothing else left behind (no temporary files).
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["demo.png", "demo.svg"] * 2
    )


def test_svg_keeps_text_as_text(tmp_path):
    save_figure(simple_figure, tmp_path, "demo", themes=("light",))
    svg = (tmp_path / "light" / "demo.svg").read_text(encoding="utf-8")
    assert "あいう test" in svg
    assert "IPAexGothic" in svg


def test_dark_background_differs_from_light(tmp_path):
    save_figure(simple_figure, tmp_path, "demo")
    light = imread(tmp_path / "light" / "demo.png")[0, 0, :3]
    dark = imread(tmp_path / "dark" / "demo.png")[0, 0, :3]
    assert light.mean() > 0.9  # white
    assert dark.mean() < 0.2  # dark
    light_svg = (tmp_path / "light" / "demo.svg").read_text(encoding="utf-8")
    dark_svg = (tmp_path / "dark" / "demo.svg").read_text(encoding="utf-8")
    assert "#0d1117" in dark_svg and "#0d1117" not in light_svg


def test_theme_is_scoped_and_checked():
    before = dict(matplotlib.rcParams)
    with theme("dark") as rc:
        assert matplotlib.rcParams["figure.facecolor"] == rc["figure.facecolor"] == "#0d1117"
        assert matplotlib.rcParams["svg.fonttype"] == "none"
    assert matplotlib.rcParams["figure.facecolor"] == before["figure.facecolor"]
    with pytest.raises(K49Error, match="light, dark"):
        with theme("sepia"):
            pass


def test_colour_cycle_is_shared_by_both_themes():
    with theme("light"):
        light = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    with theme("dark"):
        dark = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    assert light == dark and len(light) >= 6


def test_no_partial_file_when_the_figure_function_raises(tmp_path):
    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_figure(broken, tmp_path, "broken")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_no_partial_file_when_saving_fails(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def failing_savefig(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        save_figure(simple_figure, tmp_path, "half")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_existing_file_survives_a_failed_save(tmp_path):
    save_figure(simple_figure, tmp_path, "demo")
    before = (tmp_path / "light" / "demo.png").read_bytes()

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_figure(broken, tmp_path, "demo")
    assert (tmp_path / "light" / "demo.png").read_bytes() == before


def test_unknown_theme_fails_before_writing(tmp_path):
    with pytest.raises(K49Error):
        save_figure(simple_figure, tmp_path, "demo", themes=("light", "neon"))
    assert not (tmp_path / "light").exists()


def test_same_figure_gives_same_svg(tmp_path):
    save_figure(simple_figure, tmp_path / "a", "demo", themes=("dark",))
    save_figure(simple_figure, tmp_path / "b", "demo", themes=("dark",))
    a, b = ((tmp_path / d / "dark" / "demo.svg").read_bytes() for d in "ab")
    assert a == b


def test_pyplot_figures_are_closed(tmp_path):
    import matplotlib.pyplot as plt

    def with_pyplot():
        fig, ax = plt.subplots()
        ax.plot([1, 2])
        return fig

    before = len(plt.get_fignums())
    save_figure(with_pyplot, tmp_path, "plt")
    assert len(plt.get_fignums()) == before


def test_title_for_says_synthetic():
    synthetic, real = DATASETS["synthetic"], DATASETS["k49"]
    assert "synthetic" in title_for(synthetic, "Images per class")
    assert title_for(synthetic, "Images per class").startswith("Images per class")
    assert "synthetic" not in title_for(real, "Images per class").lower()
    assert "Kuzushiji-49" in title_for(real, "Images per class")

    class FakeDataset:
        spec = synthetic

    assert title_for(FakeDataset(), "x") == title_for(synthetic, "x")
    with pytest.raises(TypeError):
        title_for("synthetic", "x")


@pytest.mark.parametrize("name", THEMES)
def test_japanese_glyphs_render_without_warnings(name, tmp_path):
    def chars_figure():
        fig = new_figure(figsize=(8, 1))
        ax = fig.add_subplot()
        ax.set_xticks(range(len(K49_CHARS)), K49_CHARS)
        ax.set_title("".join(K49_CHARS) + " −1")
        return fig

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*")
        warnings.filterwarnings("error", message=".*findfont.*")
        save_figure(chars_figure, tmp_path, "chars", themes=(name,))


def test_image_grid_places_tiles(tmp_path):
    images = np.full((7, 28, 28), 255, dtype=np.uint8)

    def grid():
        fig = new_figure(figsize=(4, 2))
        ax = fig.add_subplot()
        xs, ys = image_grid(ax, images, 4, captions=list("あいうえおかき"), caption_space=10)
        assert len(xs) == 4 and len(ys) == 2
        assert len(ax.texts) == 7
        return fig

    save_figure(grid, tmp_path, "grid", themes=("light",))
    assert (tmp_path / "light" / "grid.png").read_bytes().startswith(PNG_MAGIC)
