"""Issue 7's defects, tried as a new user would from the command line."""

from __future__ import annotations

import json

import pytest

from cli_runner import assert_one_line_error, k49

pytestmark = pytest.mark.slow


def test_after_a_refused_command_the_fixed_one_runs(synth_dir, tmp_path):
    """Issue 7: the refused command used to leave config.json, and the fix was then refused."""
    out = tmp_path / "R"
    refused = k49("train", "NN_1_adam", "--limit-train", "60", "--out", str(out),
                  "--data-dir", str(synth_dir))
    assert_one_line_error(refused)
    fixed = k49("train", "NN_1_adam", "--limit-train", "500", "--epochs", "1", "--quiet",
                "--out", str(out), "--data-dir", str(synth_dir))
    assert fixed.returncode == 0, fixed.stderr
    assert (out / "timings.json").exists()


def test_a_small_subset_keeps_every_class_and_says_so(synth_dir, tmp_path):
    """K49's imbalance: a stratified subset of 300 would lose the rarest classes."""
    out = tmp_path / "R"
    result = k49("train", "NN_1_sgd", "--limit-train", "300", "--epochs", "1", "--quiet",
                 "--out", str(out), "--data-dir", str(synth_dir))
    assert result.returncode == 0, result.stderr
    subset = json.loads((out / "config.json").read_text())["subset"]
    assert subset["size"] == 300 and subset["min_per_class"] == 2


def test_val_fraction_zero_works_as_the_messages_suggest(synth_dir, tmp_path):
    out = tmp_path / "R"
    result = k49("train", "NN_1_adam", "--limit-train", "100", "--val-fraction", "0",
                 "--epochs", "1", "--quiet", "--out", str(out), "--data-dir", str(synth_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "config.json").read_text())["config"]["val_fraction"] == 0


def test_train_on_a_folder_of_ones_own(synth_dir, tmp_path):
    """`--dataset PATH` or `folder:PATH`: K49-format files a user cut themselves."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for f in (synth_dir / "synthetic").glob("k49*"):
        (mine / f.name).write_bytes(f.read_bytes())
    for name in (str(mine), f"folder:{mine}"):
        out = tmp_path / name.replace(":", "_").replace("/", "_")
        result = k49("train", "NN_1_adam", "--dataset", name, "--limit-train", "300",
                     "--epochs", "1", "--quiet", "--out", str(out))
        assert result.returncode == 0, result.stderr
        saved = json.loads((out / "config.json").read_text())
        assert saved["config"]["dataset"] == saved["dataset"]["name"] == f"folder:{mine}"
        assert saved["dataset"]["synthetic"] is False
        assert set(saved["dataset"]["checksums"]) >= {"k49-train-imgs.npz", "k49-test-imgs.npz"}


def test_a_folder_missing_a_file_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "mine").mkdir()
    result = k49("train", "NN_1_adam", "--dataset", f"folder:{tmp_path / 'mine'}",
                 "--out", str(tmp_path / "R"))
    assert_one_line_error(result, "k49-train-imgs.npz")
    assert not (tmp_path / "R").exists()


def test_the_report_states_the_fonts_and_templates_of_the_synthetic_set(synth_dir, tmp_path):
    out = tmp_path / "study"
    result = k49("run", "--suite", str(_one_model_suite(tmp_path)), "--out", str(out),
                 "--limit-train", "200", "--epochs", "1", "--quiet", "--data-dir", str(synth_dir),
                 "--schedule", "onecycle", "--ema", "0.9")
    assert result.returncode == 0, result.stderr
    recorded = json.loads((out / "NN_1_adam" / "seed-0" / "config.json").read_text())
    # k49 run passes the training levers to every run, like k49 train.
    assert (recorded["config"]["schedule"], recorded["config"]["ema"]) == ("onecycle", 0.9)
    summary = recorded["dataset"]["synthetic_info"]["summary"]
    assert "fonts" in summary and "templates" in summary
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    readme = (out / "report" / "README.md").read_text(encoding="utf-8")
    assert summary in html and summary in readme


def _one_model_suite(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text('[[models]]\nname = "NN_1_adam"\n', encoding="utf-8")
    return path
