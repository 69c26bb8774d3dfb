"""The generalisation measure's benchmark: its overrides, a scaled-down run of the measure, and
the calibration's Markdown with the measure and the diversity beside it."""

from __future__ import annotations

import json

import bench_difficulty
import bench_transfer
import pytest

from k49.data.synthetic import DIFFICULTY, transfer

pytestmark = pytest.mark.slow


def test_overrides_and_mechanisms_off_name_bad_ones():
    changed = bench_transfer.parse_overrides(["house_fonts=0.5"], ["broken ink"])
    assert changed.house_fonts == 0.5 and changed.broken_ink == 0.0
    assert changed.neighbours == DIFFICULTY.neighbours
    with pytest.raises(SystemExit, match="--without 'fog'"):
        bench_transfer.parse_overrides([], ["fog"])


def test_a_small_measure_scores_the_two_sets_and_says_synthetic(tmp_path, monkeypatch, capsys):
    if not transfer.held_out_font_paths():
        pytest.skip("the held-out fonts are not installed (scripts/install-fonts.sh)")
    monkeypatch.setattr(transfer, "PER_CLASS", 2)
    monkeypatch.setattr(bench_transfer, "PER_CLASS", 2)
    monkeypatch.setitem(bench_transfer.PROTOCOL, "epochs", 1)
    out = tmp_path / "transfer.json"
    code = bench_transfer.main(["--scale", "0.005", "--root", str(tmp_path), "--results",
                                str(out)])
    assert code == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["synthetic"] is True and "not K49" in result["note"]
    assert result["held_out_families"] == list(transfer.HELD_OUT_FAMILIES)
    (row,) = result["rows"]
    assert row["label"] == "this tree"
    assert set(row["transfer_balanced_accuracy"]) == {"other path", "plain"}
    assert all(0 <= v <= 1 for v in row["transfer_balanced_accuracy"].values())
    assert 0 < row["own_test_balanced_accuracy"] <= 1
    assert row["diversity"]["spread_median"] > 0
    recorded = json.loads((tmp_path / row["set"].split("/")[-1] / "synthetic" /
                           "synthetic.json").read_text("utf-8"))
    assert recorded["exclude_families"] == list(transfer.HELD_OUT_FAMILIES)
    assert "other path" in capsys.readouterr().out


def test_the_calibration_markdown_shows_the_measure_and_the_diversity():
    measure = {"label": "this generator", "own_test_balanced_accuracy": 0.7,
               "transfer_balanced_accuracy": {"other path": 0.97, "plain": 0.95}}
    reference = {**measure, "label": "revision 21e37d0",
                 "transfer_balanced_accuracy": {"other path": 0.96, "plain": 0.94}}
    result = {
        "rows": bench_difficulty.calibration_rows({"knn4": {"balanced_accuracy": 0.85}}),
        "scores": {}, "diversity": {"spread_median": 8.5, "spread_9_rarest": 8.0,
                                    "nearest_median": 7.5, "nearest_9_rarest": 7.0},
        "transfer": {"this": measure, "reference": reference, "reached_reference": True},
    }
    text = bench_difficulty.markdown(result)
    assert "| this generator | 97.00 | 95.00 | 70.00 | yes |" in text
    assert "| revision 21e37d0 | 96.00 | 94.00 | 70.00 | (the reference) |" in text
    assert "| spread: RMS distance to the class mean | 8.50 | 8.00 |" in text
    result["transfer"]["reached_reference"] = False
    assert "| **no** |" in bench_difficulty.markdown(result)
