"""RunDir: the one owner of a run directory's files, and its errors on damaged files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from k49.errors import K49Error
from k49.runs import RunDir, TrainConfig
from k49.runs.records import Timings


def test_label_and_seed_come_from_the_study_layout(tmp_path):
    run = RunDir.in_study_root(tmp_path, "preact_resnet18_input_mixup", 3)
    assert run.path == tmp_path / "preact_resnet18_input_mixup" / "seed-3"
    assert (run.label, run.seed, run.in_study) == ("preact_resnet18_input_mixup", 3, True)
    alone = RunDir(tmp_path / "my-run")
    alone.create().write_config({"config": {"model": "NN_1_adam"}})
    assert (alone.label, alone.seed, alone.in_study) == ("NN_1_adam", None, False)


@pytest.mark.parametrize("label", ["..", ".", "a/b", "a\\b", ""])
def test_labels_cannot_leave_the_study_folder(tmp_path, label):
    with pytest.raises(K49Error, match="plain folder name"):
        RunDir.in_study_root(tmp_path, label, 0)


def test_find_lists_runs_of_a_study_or_the_run_itself(tmp_path):
    for label, seed in (("b", 1), ("a", 0), ("a", 1)):
        RunDir.in_study_root(tmp_path, label, seed).create().write_config({"config": {}})
    RunDir(tmp_path / "stray").create()  # no config.json: not a run
    found = [(r.label, r.seed) for r in RunDir.find(tmp_path)]
    assert found == [("a", 0), ("a", 1), ("b", 1)]
    assert RunDir.find(tmp_path / "a" / "seed-0") == [RunDir(tmp_path / "a" / "seed-0")]


def test_files_round_trip(tmp_path):
    run = RunDir(tmp_path / "r").create()
    history = [{k: float(i) for k in ("epoch", "train_loss", "train_accuracy",
                                      "train_balanced_accuracy", "val_loss", "val_accuracy",
                                      "val_balanced_accuracy", "seconds", "images_per_s", "lr")}
               for i in (1, 2)]
    run.write_history(history)
    assert run.read_history() == history
    run.write_history(run.read_history())  # as a resumed run does
    assert run.file(RunDir.HISTORY).read_text().splitlines()[2].startswith("2,")  # not "2.0"
    probs = np.full((4, 49), 1 / 49, dtype=np.float32)
    run.write_predictions(probs, np.arange(4))
    labels, read = run.read_predictions()
    assert labels.tolist() == [0, 1, 2, 3] and np.array_equal(read, probs)
    assert not run.is_complete()
    timings = Timings(train_seconds=1.5, eval_seconds=0.5, total_seconds=2.5, epochs=1,
                      train_images=4)
    run.write_timings(timings)
    assert run.is_complete() and run.read_timings() == timings.as_dict()
    config = TrainConfig(model="NN_1_adam").resolved()
    run.write_config({"config": config.model_dump(), "config_hash": config.config_hash()})
    assert run.train_config() == config
    run.check_config(config)
    with pytest.raises(K49Error, match="another config"):
        run.check_config(config.model_copy(update={"epochs": 3}))


@pytest.mark.parametrize("content", [b"{", b"{}", b"[]", b"\xff\xfe", b'{"config": 3}'])
def test_a_damaged_config_is_a_one_line_error(tmp_path, content):
    run = RunDir(tmp_path / "r").create()
    run.file(RunDir.CONFIG).write_bytes(content)
    with pytest.raises(K49Error, match="config.json") as e:
        run.read_config()
    assert "\n" not in str(e.value)


def test_damaged_history_predictions_and_timings(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.file(RunDir.HISTORY).write_text("epoch,train_loss\n1,0.5\n")
    with pytest.raises(K49Error, match="history.csv is damaged"):
        run.read_history()
    run.file(RunDir.PREDICTIONS).write_bytes(os.urandom(200))
    with pytest.raises(K49Error, match="not a valid npz file"):
        run.read_predictions()
    run.write_predictions(np.ones((2, 49), np.float32) / 49, np.arange(2))
    data = run.file(RunDir.PREDICTIONS).read_bytes()
    run.file(RunDir.PREDICTIONS).write_bytes(data[: len(data) // 2])
    with pytest.raises(K49Error, match="test_predictions.npz"):
        run.read_predictions()
    run.file(RunDir.TIMINGS).write_text('{"train_sec')
    with pytest.raises(K49Error, match="timings.json is damaged"):
        run.read_timings()
