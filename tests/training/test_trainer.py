"""The trainer: run directory contents, determinism, resume after a crash or Ctrl-C."""

from __future__ import annotations

import csv
import os
import signal

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file

from crash import train_through_a_crash
from k49.errors import K49Error
from k49.io import read_json
from k49.models import create_model, get_entry, list_models
from k49.runs.checkpoint import load_weights
from k49.runs.config import TrainConfig
from k49.runs.records import HISTORY_FIELDS
from k49.training.split import split_indices
from k49.training.tally import Tally
from k49.training.trainer import train

FILES = ("config.json", "history.csv", "model.safetensors", "test_predictions.npz",
         "timings.json")


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"model": "NN_1_adam", "epochs": 2, "batch_size": 32, **kw})


def weights(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_run_directory_holds_everything(tiny, tmp_path):
    run = tmp_path / "run"
    result = train(cfg(), run, dataset=tiny, quiet=True)
    for name in FILES:
        assert (run / name).exists(), name
    assert not (run / "checkpoint.safetensors").exists()
    config = read_json(run / "config.json")
    assert config["config"]["model"] == "NN_1_adam"
    assert config["config"]["optimizer"] == "adam" and config["config"]["lr"] == 1e-3
    assert config["config_hash"] == result.config.config_hash()
    assert config["dataset"]["synthetic"] is True
    assert config["dataset"]["checksums"] == tiny.checksums
    assert {"torch", "numpy", "python", "k49"} <= set(config["versions"])
    assert config["device"]["device"] == "cpu"
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["epoch"])) for r in rows] == [1, 2]
    assert set(HISTORY_FIELDS) == set(rows[0])
    assert all(float(r["images_per_s"]) > 0 for r in rows)
    preds = np.load(run / "test_predictions.npz")
    assert preds["probs"].dtype == np.float32
    assert preds["probs"].shape == (len(tiny.test_labels), 49)
    np.testing.assert_allclose(preds["probs"].sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(preds["labels"], tiny.test_labels)
    assert read_json(run / "timings.json")["train_seconds"] > 0


def test_learns_something(tiny, tmp_path):
    result = train(cfg(epochs=5), tmp_path / "run", dataset=tiny, quiet=True)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    preds = np.load(tmp_path / "run" / "test_predictions.npz")
    assert (preds["probs"].argmax(1) == preds["labels"]).mean() > 0.5


def test_same_seed_same_weights_other_seed_differs(tiny, tmp_path):
    train(cfg(), tmp_path / "a", dataset=tiny, quiet=True)
    train(cfg(), tmp_path / "b", dataset=tiny, quiet=True)
    train(cfg(seed=1), tmp_path / "c", dataset=tiny, quiet=True)
    assert same_weights(tmp_path / "a", tmp_path / "b")
    assert not same_weights(tmp_path / "a", tmp_path / "c")


def test_complete_run_is_skipped(tiny, tmp_path):
    train(cfg(), tmp_path / "run", dataset=tiny, quiet=True)
    again = train(cfg(), tmp_path / "run", dataset=tiny, quiet=True)
    assert again.skipped


def test_other_config_in_same_directory_is_refused(tiny, tmp_path):
    train(cfg(), tmp_path / "run", dataset=tiny, quiet=True)
    with pytest.raises(K49Error, match="another config"):
        train(cfg(lr=0.5), tmp_path / "run", dataset=tiny, quiet=True)


@pytest.mark.parametrize("model, levers", [
    ("NN_dense_batch_norm", {}), ("CNN_1_sgd", {}),
    pytest.param("keras_simple_cnn", {}, marks=pytest.mark.slow),
    # Adam's moments of channels-last convolutions (restored in the parameters' layout)
    pytest.param("CNN_dense_batch_norm", {}, marks=pytest.mark.slow),
    # the recipe's one-cycle schedule, with a weights EMA and affine augmentation
    pytest.param("resnet_fast", {"ema": 0.9, "augment": "affine"}, marks=pytest.mark.slow),
])
def test_resume_after_crash_at_epoch_end_gives_identical_weights(tiny, tmp_path, monkeypatch,
                                                                  model, levers):
    """A crash right after the first epoch's checkpoint, then a rerun, equals a clean run."""
    config = cfg(model=model, **levers)
    train(config, tmp_path / "clean", dataset=tiny, quiet=True)
    train_through_a_crash(config, tmp_path / "crashed", tiny, monkeypatch)
    assert same_weights(tmp_path / "clean", tmp_path / "crashed")


@pytest.mark.slow
def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(tiny, tmp_path, monkeypatch):
    config = cfg(model="keras_simple_cnn")  # has dropout: the RNG state must be restored too
    train(config, tmp_path / "clean", dataset=tiny, quiet=True)

    calls = {"n": 0}
    real_add = Tally.add

    def add_then_interrupt(self, *args):
        real_add(self, *args)
        calls["n"] += 1
        if calls["n"] == 14:  # mid second epoch (11 steps per epoch)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Tally, "add", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "stopped", dataset=tiny, quiet=True)
    assert (tmp_path / "stopped" / "checkpoint.safetensors").exists()
    monkeypatch.setattr(Tally, "add", real_add)
    result = train(config, tmp_path / "stopped", dataset=tiny, quiet=True)
    assert same_weights(tmp_path / "clean", tmp_path / "stopped")
    clean = train(config, tmp_path / "clean", dataset=tiny, quiet=True)  # skipped: complete
    assert [round(h["train_loss"], 6) for h in result.history] == [
        round(h["train_loss"], 6) for h in clean.history]


def test_weights_are_loaded_only_from_safetensors(tiny, tmp_path):
    model = create_model("NN_1_adam")
    pickled = tmp_path / "model.pt"
    torch.save(model.state_dict(), pickled)
    with pytest.raises(K49Error, match="safetensors"):
        load_weights(pickled, model)
    train(cfg(), tmp_path / "run", dataset=tiny, quiet=True)
    load_weights(tmp_path / "run" / "model.safetensors", model)


def test_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(49), [20 + i for i in range(49)])
    config = cfg(limit_train=490)
    split = split_indices(labels, config)
    train_idx, val_idx = split.train, split.val
    assert len(train_idx) + len(val_idx) == 490
    assert len(val_idx) == pytest.approx(0.3 * 490, abs=1)
    assert set(labels[val_idx]) == set(range(49))
    again = split_indices(labels, config)
    assert np.array_equal(train_idx, again.train) and np.array_equal(val_idx, again.val)
    other = split_indices(labels, cfg(limit_train=490, seed=1))
    assert not np.array_equal(val_idx, other.val)


def test_small_subset_keeps_two_images_of_every_class():
    """K49's imbalance: a plain stratified subset of 200 drops the rarest classes."""
    labels = np.repeat(np.arange(49), [2000] * 40 + [3] * 9)
    split = split_indices(labels, cfg(limit_train=200))
    kept = np.concatenate([split.train, split.val])
    assert len(kept) == 200
    assert np.bincount(labels[kept], minlength=49).min() >= 2
    assert split.record["subset"]["min_per_class"] == 2
    assert set(split.record["subset"]["topped_up_classes"]) >= set(range(40, 49)) - set(
        np.flatnonzero(np.bincount(labels[kept], minlength=49)[40:] > 2) + 40)


def test_knn_run(tiny, tmp_path):
    result = train(cfg(model="knn4"), tmp_path / "knn", dataset=tiny, quiet=True)
    preds = np.load(tmp_path / "knn" / "test_predictions.npz")
    assert preds["probs"].shape == (len(tiny.test_labels), 49)
    assert (preds["probs"].argmax(1) == preds["labels"]).mean() > 0.5
    assert result.history[0]["val_accuracy"] > 0.5
    indices = load_file(str(tmp_path / "knn" / "model.safetensors"))["train_indices"]
    assert len(indices) == len(tiny.train_labels)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["input", "manifold"])
def test_mixup_trains(tiny, tmp_path, mode):
    result = train(cfg(model="resnet_small", epochs=1, limit_train=170, mixup=mode),
                   tmp_path / mode, dataset=tiny, quiet=True)
    assert np.isfinite(result.history[0]["train_loss"])


def test_mixup_on_a_model_without_it_is_refused_naming_every_model_with_it():
    with pytest.raises(ValidationError, match="mixup input needs a model that supports it") as e:
        cfg(mixup="input")
    mixers = [m for m in list_models() if get_entry(m).mixup]
    assert {"resnet", "resnet_fast", "preact_resnet18", "resnet_small"} <= set(mixers)
    assert f"({', '.join(mixers)})" in str(e.value)


@pytest.mark.parametrize("loss", ["weighted_cross_entropy", "focal", "label_smoothing"])
def test_every_loss_trains(tiny, tmp_path, loss):
    result = train(cfg(loss=loss, epochs=1), tmp_path / loss, dataset=tiny, quiet=True)
    assert np.isfinite(result.history[0]["train_loss"])
