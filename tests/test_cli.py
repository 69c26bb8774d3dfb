"""The CLI's contract: --help everywhere, --version, and one-line errors without tracebacks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cli_runner import assert_one_line_error, k49, k49_process
from k49 import __version__
from k49.cli.app import TRAINING_OPTIONS
from k49.models import get_entry
from k49.runs import RunDir
from k49.runs.config import OVERRIDABLE, describe


@pytest.mark.slow
def test_version():
    result = k49_process("--version")  # the installed entry point, in a fresh interpreter
    assert result.returncode == 0
    assert __version__ in result.stdout


#: Each command, and options its help must list (the training options come from TrainConfig).
HELP = {
    "": ["data", "models", "train", "run", "evaluate", "report", "demo", "worker", "sweep",
         "study", "predict", "export", "serve"],
    "data": ["fetch", "synth", "info", "figures"],
    "data fetch": ["--dataset", "--data-dir", "--base-url"],
    "data synth": ["--scale", "--seed", "--data-dir"],
    "data info": ["--dataset", "--offline", "--json"],
    "data figures": ["--dataset", "--out", "--seed"],
    "models": ["--json"],
    "train": ["--epochs", "--batch-size", "--lr", "--optimizer", "--loss", "--val-fraction",
              "--seed", "--limit-train", "--mixup", "--device", "--out", "folder:PATH",
              "weighted_cross_entropy", "adadelta", "--schedule", "--warmup", "--ema",
              "--augment"],
    "run": ["--suite", "--seeds", "--jobs", "--optimizer", "--loss", "--val-fraction",
            "--limit-train", "--storage", "--study", "--artifacts", "--no-verify", "--schedule",
            "--warmup", "--ema", "--augment"],
    "evaluate": ["RUN_DIR"],
    "predict": ["RUN_DIR", "--top-k", "--json", "--device"],
    "export": ["RUN_DIR", "--format", "--out"],
    "serve": ["RUN_DIR", "--host", "--port", "--device"],
    "report": ["--recompute"],
    "demo": ["--out", "--jobs"],
    "worker": ["--storage", "--study", "--out", "--jobs", "--artifacts"],
    "study status": ["--storage", "--study", "--out", "--json"],
    "sweep": ["space", "--trials", "--timeout", "--jobs", "--seeds", "--top", "--importance",
              "--no-retrain", "--storage"],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c or "k49")
def test_help_lists_the_commands_options(command):
    result = k49(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for needle in HELP[command]:
        assert needle in text, needle


def test_train_and_run_take_every_training_option_of_the_config():
    """Both commands' training options come from TrainConfig: every field a suite may set
    (except a parametric model's arguments) is an option of both, with the field's help."""
    assert set(OVERRIDABLE) - {"model_args"} <= set(TRAINING_OPTIONS)
    helps = {c: " ".join(k49(c, "--help", env={"COLUMNS": "1000"}).stdout.split())
             for c in ("train", "run")}
    for field in TRAINING_OPTIONS:
        flag = "--" + field.replace("_", "-")
        first_words = " ".join(describe(field).split()[:3])
        for command, text in helps.items():
            assert flag in text and first_words in text, (command, flag)


@pytest.mark.slow
def test_training_options_reach_the_run_config(synth_dir, tmp_path):
    out = tmp_path / "R"
    result = k49("train", "NN_1_sgd", "--limit-train", "200", "--epochs", "1", "--quiet",
                 "--weight-decay", "0.001", "--threads", "1", "--no-verify",
                 "--data-dir", str(synth_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = RunDir(out).read_config()["config"]
    assert (config["weight_decay"], config["threads"], config["verify"]) == (0.001, 1, False)
    assert config["lr"] == get_entry("NN_1_sgd").lr  # not given: the model's own


def test_unknown_dataset_is_one_line_error(tmp_path):
    result = k49("data", "info", "--dataset", "k94", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "unknown dataset", "k49")


def test_offline_missing_files_is_one_line_error(tmp_path):
    result = k49("data", "info", "--dataset", "k49", "--offline", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "k49 data fetch")


def test_bad_scale_is_one_line_error(tmp_path):
    result = k49("data", "synth", "--scale", "-1", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "scale")
    assert not (tmp_path / "synthetic" / "k49-train-imgs.npz").exists()


@pytest.mark.slow
def test_models_json_lists_every_model():
    import json

    result = k49("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {r["name"] for r in rows}
    assert len(names) >= 16 and {"NN_1_sgd", "CNN_dense_batch_norm", "knn4"} <= names
    for r in rows:
        assert set(r) == {"name", "family", "params", "flops", "description"}
    cnn1 = next(r for r in rows if r["name"] == "CNN_1_adam")
    assert cnn1["params"] > 0 and cnn1["flops"] > 0


def test_train_typo_suggests_close_names(tmp_path):
    result = k49("train", "CNN_1_adma", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "CNN_1_adam")


def test_train_bad_option_is_one_line_error(tmp_path):
    result = k49("train", "NN_1_adam", "--epochs", "0", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "epochs")


def test_run_bad_seeds(tmp_path):
    result = k49("run", "--seeds", "0,x", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "--seeds")


@pytest.mark.slow
def test_train_kill_9_then_rerun_resumes_to_identical_weights(synth_dir, tmp_path):
    """A real crash: SIGKILL mid-training, then the same command again."""
    import os
    import signal
    import time

    from safetensors.torch import load_file

    args = ["train", "NN_2_adam", "--epochs", "3", "--data-dir", str(synth_dir), "--quiet"]
    clean = k49(*args, "--out", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "k49", *args, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (run / "checkpoint.safetensors").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = k49(*args, "--out", str(run))
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "clean" / "model.safetensors"))
    b = load_file(str(run / "model.safetensors"))
    assert all(torch_equal(a[k], b[k]) for k in a)

    # `k49 evaluate` prints every interval metric with its bootstrap interval and the verdict.
    ev = k49("evaluate", str(tmp_path / "clean"))
    assert ev.returncode == 0, ev.stderr
    assert "1,000 stratified bootstrap resamples" in ev.stdout
    for name in ("balanced accuracy", "macro F1", "macro AUC", "inverse-frequency AUC"):
        line = next(x for x in ev.stdout.splitlines() if x.strip().startswith(name))
        value, lo, hi = map(float, re.findall(r"[0-9.]+", line.split(name)[1])[:3])
        assert lo <= value <= hi
    assert "still improving" in ev.stdout or "converged" in ev.stdout


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)
