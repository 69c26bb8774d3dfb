"""No silent wrong result: what k49 cannot compute is written as undefined (`null`) and said
on the console, never a bare `NaN` that strict JSON parsers reject."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli_runner import k49

pytestmark = pytest.mark.slow


def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_evaluate_on_a_one_class_test_set_writes_null_and_says_why(synth_dir, tmp_path):
    folder = tmp_path / "one-class"
    shutil.copytree(synth_dir / "synthetic", folder, ignore=shutil.ignore_patterns("*.json"))
    for f in folder.iterdir():
        f.chmod(0o644)
    labels = np.load(folder / "k49-test-labels.npz")["arr_0"]
    images = np.load(folder / "k49-test-imgs.npz")["arr_0"]
    keep = labels == labels[0]
    np.savez_compressed(folder / "k49-test-labels.npz", labels[keep])
    np.savez_compressed(folder / "k49-test-imgs.npz", images[keep])
    run = tmp_path / "run"
    trained = k49("train", "NN_1_adam", "--dataset", f"folder:{folder}", "--epochs", "1",
                  "--limit-train", "300", "--quiet", "--out", run)
    assert trained.returncode == 0, trained.stderr
    result = k49("evaluate", run)
    assert result.returncode == 0, result.stderr
    assert "AUC is undefined" in result.stdout and "at least two classes" in result.stdout
    metrics = _strict((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["auc_macro"] is None and metrics["auc_inverse_frequency"] is None
