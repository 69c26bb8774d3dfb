"""The calibration benchmark: its goal logic, its overrides, and a scaled-down run in which the
published ranking must hold (the full run is benchmarks/bench_difficulty.py, about an hour)."""

from __future__ import annotations

import json

import bench_difficulty
import pytest

from k49.data.synthetic import DIFFICULTY

pytestmark = pytest.mark.slow


def scores(**values):
    return {m: {"accuracy": v, "balanced_accuracy": v} for m, v in values.items()}


def test_goals_and_order_from_scores():
    rows = bench_difficulty.calibration_rows(scores(
        NN_2_sgd=0.70, NN_2_adam=0.75, knn4=0.90, keras_simple_cnn=0.91, resnet_fast=0.99))
    met = {r["model"]: r["met"] for r in rows}
    assert met == {"NN_2_sgd": True, "NN_2_adam": True, "knn4": False,
                   "keras_simple_cnn": True, "resnet_fast": False}
    gap = {r["model"]: r["gap"] for r in rows}
    assert gap["knn4"] == pytest.approx(0.90 - 0.8601)
    assert bench_difficulty.in_published_order(rows)
    swapped = bench_difficulty.calibration_rows(scores(NN_2_sgd=0.80, NN_2_adam=0.78))
    assert not bench_difficulty.in_published_order(swapped)
    assert [r["model"] for r in swapped] == ["NN_2_sgd", "NN_2_adam"]


def test_recall_by_class_size_groups_every_class_once_by_its_k49_size():
    from k49.data.datasets import K49_CHARS, K49_TEST_COUNTS

    groups = bench_difficulty.size_groups()
    assert sorted(c for classes in groups.values() for c in classes) == list(range(49))
    assert max(K49_TEST_COUNTS[c] for c in groups["9 rarest"]) <= min(
        K49_TEST_COUNTS[c] for c in groups["next 9"])
    assert {K49_TEST_COUNTS[c] for c in groups["31 largest"]} == {1000}
    recall = [0.5 if c in groups["9 rarest"] else 1.0 for c in range(49)]
    recall[groups["next 9"][0]] = 0.1  # one class of the next 9 at 10%
    by_size = bench_difficulty.recall_by_size(recall)
    assert by_size["9 rarest"] == 0.5 and by_size["31 largest"] == 1.0
    assert by_size["next 9"] == pytest.approx((8 + 0.1) / 9)
    rarest = sorted(range(49), key=lambda c: K49_TEST_COUNTS[c])[:3]
    assert [k for k in by_size if len(k) == 1] == [K49_CHARS[c] for c in rarest]


def test_overrides_change_one_field_and_name_bad_ones():
    changed = bench_difficulty.parse_overrides(["hands=8", "neighbour_depth=[0.1, 0.2]"])
    assert changed.hands == 8 and changed.neighbour_depth == (0.1, 0.2)
    assert changed.variant_share == DIFFICULTY.variant_share
    with pytest.raises(SystemExit, match="no Difficulty field 'fog'"):
        bench_difficulty.parse_overrides(["fog=1"])


def test_a_set_made_by_another_generator_version_is_not_reused(monkeypatch):
    from k49.data.synthetic import metadata

    key = bench_difficulty.set_key(1.0, 0, DIFFICULTY)
    assert key == bench_difficulty.set_key(1.0, 0, DIFFICULTY)
    assert key != bench_difficulty.set_key(1.0, 1, DIFFICULTY)
    monkeypatch.setattr(metadata, "GENERATOR_VERSION", metadata.GENERATOR_VERSION + 1)
    assert key != bench_difficulty.set_key(1.0, 0, DIFFICULTY)


def test_the_published_ranking_holds_on_a_small_set(tmp_path, capsys):
    """The fast half of the calibration at a fifth of K49's size: NN_2_sgd < NN_2_adam < knn4,
    as on the real K49 (on the uncalibrated set, knn4 came below NN_2_adam). Smaller sets leave
    each hand too few samples for knn4: at 3% and 10% it ties or trails NN_2_adam."""
    out = tmp_path / "difficulty.json"
    code = bench_difficulty.main([
        "--scale", "0.2", "--models", "NN_2_sgd,NN_2_adam,knn4", "--data-dir",
        str(tmp_path / "data"), "--out", str(tmp_path / "runs"), "--results", str(out),
        "--json", "--no-transfer"])
    assert code == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    assert result["synthetic"] is True and result["scale"] == 0.2
    assert [r["model"] for r in result["rows"]] == ["NN_2_sgd", "NN_2_adam", "knn4"]
    assert result["in_published_order"], result["rows"]
    assert set(result["scores"]["knn4"]["recall_by_size"]) >= {"9 rarest", "31 largest"}
    assert result["difficulty"] == json.loads(json.dumps(DIFFICULTY.as_dict()))
