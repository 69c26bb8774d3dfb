"""No silent wrong result: what k49 cannot compute is written as undefined (`null`) and said
on the console, never a bare `NaN` that strict JSON parsers reject."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli_runner import assert_one_line_error, k49

pytestmark = pytest.mark.slow


def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def _folder(synth_dir, folder):
    """A user folder holding a copy of the small synthetic set."""
    shutil.copytree(synth_dir / "synthetic", folder, ignore=shutil.ignore_patterns("*.json"))
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _keep(folder, split, keep):
    """Keep only the `split` ("train" or "test") images where `keep(labels)` holds."""
    labels = np.load(folder / f"k49-{split}-labels.npz")["arr_0"]
    images = np.load(folder / f"k49-{split}-imgs.npz")["arr_0"]
    chosen = keep(labels)
    np.savez_compressed(folder / f"k49-{split}-labels.npz", labels[chosen])
    np.savez_compressed(folder / f"k49-{split}-imgs.npz", images[chosen])


def _train(folder, run):
    trained = k49("train", "NN_1_adam", "--dataset", f"folder:{folder}", "--epochs", "1",
                  "--limit-train", "300", "--quiet", "--out", run)
    assert trained.returncode == 0, trained.stderr


def test_evaluate_on_a_one_class_test_set_writes_null_and_says_why(synth_dir, tmp_path):
    folder = _folder(synth_dir, tmp_path / "one-class")
    _keep(folder, "test", lambda labels: labels == labels[0])
    run = tmp_path / "run"
    _train(folder, run)
    result = k49("evaluate", run)
    assert result.returncode == 0, result.stderr
    assert "AUC is undefined" in result.stdout and "at least two classes" in result.stdout
    metrics = _strict((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["auc_macro"] is None and metrics["auc_inverse_frequency"] is None


def test_a_report_refuses_runs_on_a_folder_whose_files_changed_between_them(synth_dir,
                                                                           tmp_path):
    folder = _folder(synth_dir, tmp_path / "mine")
    study = tmp_path / "study"
    _train(folder, study / "before" / "seed-0")
    _keep(folder, "test", lambda labels: labels < 10)  # the folder now has 10 test classes
    _train(folder, study / "after" / "seed-0")
    result = k49("report", study)
    assert_one_line_error(result, "different files", "before", "after")
    assert not (study / "report").exists()


def test_training_on_a_folder_where_classes_lack_images_warns_on_one_line(synth_dir,
                                                                         tmp_path):
    folder = _folder(synth_dir, tmp_path / "ten")
    _keep(folder, "train", lambda labels: labels < 10)
    result = k49("train", "NN_1_adam", "--dataset", f"folder:{folder}", "--epochs", "1",
                 "--limit-train", "300", "--quiet", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert warning.startswith("warning: 39 of the 49 classes") and "k49_classmap.csv" in warning


def test_training_on_a_folder_of_one_class_is_refused(synth_dir, tmp_path):
    folder = _folder(synth_dir, tmp_path / "one")
    _keep(folder, "train", lambda labels: labels == 3)
    result = k49("train", "NN_1_adam", "--dataset", f"folder:{folder}", "--epochs", "1",
                 "--quiet", "--out", tmp_path / "run")
    assert_one_line_error(result, "only class 3", "at least two classes")
    assert not (tmp_path / "run").exists()
