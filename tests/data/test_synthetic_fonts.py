"""The synthetic set and its fonts: bytes pinned per generator version, the one-line warning
without hentaigana/brush fonts, synthetic.json's record of fonts and templates, and the rebuild
of a cached set when the font set changes."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from k49.data import k49format, synthetic
from k49.data.datasets import DATASETS
from k49.data.info import dataset_info
from k49.data.load import load_dataset
from k49.data.synthetic import fonts

pytestmark = pytest.mark.slow

SCALE = 0.005
SPEC = DATASETS["synthetic"]
ARRAY_FILES = [SPEC.files[role].name for role in k49format.ARRAY_ROLES]
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # no kana

#: md5s of generate(scale=0.005, seed=0) recorded with generator version 5 (issue 40: the
#: house style in every font, 128 hands), by cache key: matplotlib-fontja only. Older
#: versions' are gone with them; the labels' md5s are unchanged (the same draws pick them).
#: Arrays with torch 2.13.0; files also with zlib 1.2.13.
PINNED_TORCH, PINNED_ZLIB = "2.13.0", "1.2.13"
PINNED = {
    "v5-d9081f68b9b43957": {
        "arrays": ["960583db132b339792391187415dc1e7", "a4e043220d1dd260fb581bdcea618b91",
                   "3a5499b8f570f437bed6cef26ffb14ee", "a38ff5858c100563617d3e28893b0e3a"],
        "files": ["13c1a70ad4840f0ec368ee1257e42e90", "30d2858580bc71df2418e625ebf4c35a",
                  "207bb695911f2c37194750ef602ce82c", "d611d74380868075b54e4f7d948a5e89"],
    },
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def file_md5s(data_dir: Path) -> dict[str, str]:
    out = data_dir / "synthetic"
    return {p.name: md5(p.read_bytes()) for p in sorted(out.iterdir())}


def only_fonts(monkeypatch, paths: list[Path]) -> None:
    """Font discovery finds matplotlib-fontja's font plus exactly `paths`."""
    monkeypatch.setattr(fonts, "system_font_paths", lambda: list(paths))


@pytest.mark.parametrize("system_fonts", [False], ids=["fontja-only"])
def test_bytes_match_the_pinned_generator(tmp_path, system_fonts):
    """Pinned for matplotlib-fontja's font only: system font packages change between
    machines."""
    key = synthetic.cache_key(system_fonts)
    if key not in PINNED:
        pytest.skip(f"font set {key} is not one the md5s were recorded with")
    if torch.__version__.split("+")[0] != PINNED_TORCH:
        pytest.skip(f"md5s recorded with torch {PINNED_TORCH}, not {torch.__version__}")
    report = synthetic.generate(tmp_path, scale=SCALE, seed=0, progress=False,
                                system_fonts=system_fonts)
    assert report["cache_key"] == key
    out = tmp_path / "synthetic"
    arrays = [md5(k49format.read_array(out / name).tobytes()) for name in ARRAY_FILES]
    assert arrays == PINNED[key]["arrays"]
    if zlib.ZLIB_RUNTIME_VERSION == PINNED_ZLIB:
        assert [md5((out / name).read_bytes()) for name in ARRAY_FILES] == PINNED[key]["files"]


def test_missing_fonts_warn_on_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    only_fonts(monkeypatch, [])
    report = synthetic.generate(tmp_path, scale=SCALE, seed=0, progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0] == report["font_warning"]
    assert synthetic.INSTALL_COMMAND in lines[0]
    assert "hentaigana or brush" in lines[0] and "1 font " in lines[0]
    assert all(pkg in lines[0] for pkg in synthetic.FONT_PACKAGES)
    assert report["system_fonts"] is True  # on, but nothing found
    ds = load_dataset("synthetic", tmp_path, progress=False)
    assert ds.synthetic_info["font_warning"] == report["font_warning"]
    assert ds.synthetic_info["n_fonts"] == 1


def test_system_fonts_off_says_how_to_turn_them_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(synthetic.SYSTEM_FONTS_ENV, "0")
    report = synthetic.generate(tmp_path, scale=SCALE, seed=0, progress=False)
    err = capsys.readouterr().err.strip()
    assert err == report["font_warning"]
    assert synthetic.SYSTEM_FONTS_ENV in err and synthetic.INSTALL_COMMAND in err


def test_no_warning_with_hentaigana_and_brush_fonts(tmp_path, capsys):
    templates = synthetic.build_templates()
    families = [f.family for f in templates.fonts]
    if templates.n_hentaigana == 0 or not any(f.startswith(fonts.BRUSH_FAMILIES) for f in families):
        pytest.skip("hentaigana and brush fonts not installed (scripts/install-fonts.sh)")
    report = synthetic.generate(tmp_path, scale=SCALE, seed=0, progress=False)
    assert report["font_warning"] is None
    assert capsys.readouterr().err == ""


def test_synthetic_json_records_fonts_and_templates(tmp_path):
    report = synthetic.generate(tmp_path, scale=SCALE, seed=0, progress=False)
    recorded = json.loads((tmp_path / "synthetic" / "synthetic.json").read_text("utf-8"))
    assert recorded == report
    per_class = list(report["templates_per_class"].values())
    summary = report["templates_summary"]
    assert summary == {"total": sum(per_class), "min": min(per_class),
                       "median": pytest.approx(float(np.median(per_class))),
                       "max": max(per_class)}
    assert report["hentaigana_templates"] == sum(report["hentaigana_per_class"].values())
    n_fonts = len(report["fonts"])
    assert report["summary"].startswith(f"built from {n_fonts} font")
    assert f"{summary['total']:,} templates" in report["summary"]
    files = report["font_files"]
    assert files[0]["source"] == "matplotlib-fontja"
    assert all(Path(f["path"]).stat().st_size == f["size"] for f in files)
    assert report["cache_key"] == synthetic.cache_key()

    # the loader, `data info` and the figures get the same record
    ds = load_dataset("synthetic", tmp_path, progress=False)
    info = ds.synthetic_info
    assert info == synthetic.read_info(tmp_path / "synthetic")
    assert info["summary"] == report["summary"] and info["n_fonts"] == n_fonts
    assert info["templates"] == summary and info["seed"] == 0 and info["scale"] == SCALE
    assert dataset_info("synthetic", tmp_path)["synthetic_info"] == info


def test_a_changed_font_set_rebuilds_the_cached_set(tmp_path, monkeypatch, capsys):
    only_fonts(monkeypatch, [])
    first = synthetic.generate(tmp_path, scale=SCALE, seed=3, progress=False)
    before = file_md5s(tmp_path)
    assert synthetic.rebuild_needed(tmp_path) is None
    load_dataset("synthetic", tmp_path, progress=False)
    assert file_md5s(tmp_path) == before  # current: not touched
    capsys.readouterr()

    only_fonts(monkeypatch, [DEJAVU])  # a font was installed
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert rebuild is not None and (rebuild.scale, rebuild.seed) == (SCALE, 3)
    ds = load_dataset("synthetic", tmp_path, progress=False)
    notice, warning = capsys.readouterr().err.strip().splitlines()  # still no kana font
    assert notice == rebuild.reason and "another font set" in notice
    assert warning.startswith("warning:")
    after = json.loads((tmp_path / "synthetic" / "synthetic.json").read_text("utf-8"))
    assert after["cache_key"] == synthetic.cache_key() != first["cache_key"]
    assert DEJAVU.name in [f["file"] for f in after["font_files"]]
    assert (after["seed"], after["scale"]) == (3, SCALE)
    assert synthetic.rebuild_needed(tmp_path) is None
    # DejaVu has no kana, so it adds no template: same templates, same numbers
    assert after["templates_per_class"] == first["templates_per_class"]
    now = file_md5s(tmp_path)
    assert all(now[name] == before[name] for name in ARRAY_FILES)
    assert len(ds.train_labels) == first["train_size"]


def test_a_set_built_without_system_fonts_stays_so(tmp_path, monkeypatch):
    synthetic.generate(tmp_path, scale=SCALE, seed=1, progress=False, system_fonts=False)
    assert synthetic.rebuild_needed(tmp_path) is None  # system fonts on by default: no matter
    only_fonts(monkeypatch, [DEJAVU])
    assert synthetic.rebuild_needed(tmp_path) is None


def test_a_set_from_an_older_generator_is_rebuilt(tmp_path):
    synthetic.generate(tmp_path, scale=SCALE, seed=2, progress=False)
    path = tmp_path / "synthetic" / "synthetic.json"
    report = json.loads(path.read_text("utf-8"))
    del report["cache_key"]
    path.write_text(json.dumps(report), encoding="utf-8")
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert rebuild is not None and (rebuild.scale, rebuild.seed) == (SCALE, 2) and rebuild.reason


def test_missing_set_is_generated_and_a_hand_made_one_used_as_it_is(tmp_path):
    rebuild = synthetic.rebuild_needed(tmp_path)
    assert rebuild == synthetic.Rebuild(synthetic.DEFAULT_SCALE, 0, None, None)
    arrays = {
        "train_images": np.zeros((49, 28, 28), np.uint8), "train_labels": np.arange(49),
        "test_images": np.zeros((49, 28, 28), np.uint8), "test_labels": np.arange(49),
    }
    k49format.write_k49_files(tmp_path / "synthetic", arrays, SPEC.chars)
    assert synthetic.rebuild_needed(tmp_path) is None  # no synthetic.json: not ours to replace
    ds = load_dataset("synthetic", tmp_path, progress=False)
    assert ds.synthetic_info is None and len(ds.train_labels) == 49
