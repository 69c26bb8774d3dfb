"""`k49 evaluate`: metrics.json from saved predictions, or from the weights when they are gone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from k49.errors import K49Error
from k49.evaluation.run import evaluate_run, run_facts, run_metrics
from k49.evaluation.stats import bootstrap_intervals
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.training.trainer import train


@pytest.fixture(scope="module")
def run_dir(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "CNN_1_adam" / "seed-0"
    train(TrainConfig(model="CNN_1_adam", epochs=1, data_dir=str(synth_dir)), out, quiet=True)
    return out


def test_metrics_equal_sklearn_on_saved_predictions(run_dir):
    metrics = evaluate_run(run_dir)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["balanced_accuracy"] == metrics["balanced_accuracy"]
    npz = np.load(run_dir / "test_predictions.npz")
    y, p = npz["labels"], npz["probs"]
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert metrics["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, p.argmax(1)))
    assert metrics["auc_macro"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro"), rel=1e-6)
    assert metrics["synthetic"] is True and metrics["label"] == "CNN_1_adam"
    assert metrics["params"] > 0 and metrics["train_seconds"] > 0
    # metrics.json holds the scores only; the facts come from config.json and timings.json.
    assert not {"label", "model", "seed", "dataset", "params", "train_seconds"} & set(saved)
    assert run_metrics(run_dir) == json.loads(json.dumps(metrics))  # tuples become lists


def test_an_old_metrics_file_with_copied_facts_still_reads(run_dir, tmp_path):
    """Runs evaluated before metrics.json held scores only kept a copy of the config's facts;
    they still report, their facts read from the run's own files."""
    evaluate_run(run_dir)
    old = dict(run_facts(RunDir(run_dir)), **json.loads((run_dir / "metrics.json").read_text()))
    old["label"] = "a label from before the folder was renamed"
    (run_dir / "metrics.json").write_text(json.dumps(old))
    merged = run_metrics(run_dir)
    assert merged["label"] == "CNN_1_adam" and merged["params"] == old["params"]
    assert merged["balanced_accuracy"] == old["balanced_accuracy"]


def test_intervals_and_convergence_are_stored_and_recomputable_from_the_npz(run_dir):
    metrics = evaluate_run(run_dir)
    npz = np.load(run_dir / "test_predictions.npz")
    assert metrics["intervals"] == bootstrap_intervals(npz["labels"], npz["probs"])
    lo, hi = metrics["intervals"]["balanced_accuracy"]
    assert lo <= metrics["balanced_accuracy"] <= hi
    assert metrics["intervals"]["n_resamples"] == 1000
    conv = metrics["convergence"]
    assert conv["window_epochs"] == 1 and conv["still_improving"] is None  # one epoch


def test_predictions_are_recomputed_from_the_weights(run_dir):
    before = np.load(run_dir / "test_predictions.npz")["probs"]
    first = evaluate_run(run_dir)
    (run_dir / "test_predictions.npz").unlink()
    second = evaluate_run(run_dir)
    after = np.load(run_dir / "test_predictions.npz")["probs"]
    np.testing.assert_allclose(before, after, atol=1e-5)
    assert second["balanced_accuracy"] == pytest.approx(first["balanced_accuracy"])


def test_not_a_run_directory(tmp_path):
    with pytest.raises(K49Error, match="not a run directory"):
        evaluate_run(tmp_path)


def test_bad_predictions_give_a_clear_error(run_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    npz = np.load(bad / "test_predictions.npz")
    np.savez(bad / "test_predictions.npz", probs=npz["probs"] * 2, labels=npz["labels"])
    with pytest.raises(K49Error, match="sum to 1"):
        evaluate_run(bad)
