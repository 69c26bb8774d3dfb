"""Issue 12: every bad input and fault tried as a new user would gets a non-zero exit, one line
on stderr, no traceback, no file added under the output folder and no stray `.part` file.

Each case prepares a folder `tmp` (often a copy of one small trained run), names the command
to run there, and the folder whose contents must not grow.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import Result, assert_one_line_error, k49, k49_process
from k49.data.datasets import K49_CHARS
from k49.data.k49format import write_k49_files
from k49.models import create_model
from k49.runs import RunDir, TrainConfig
from k49.runs.checkpoint import save_checkpoint
from k49.runs.records import TrainingProgress
from k49.training.trainer import train

pytestmark = pytest.mark.slow

RUN_ARGS = ["--limit-train", "200", "--epochs", "1", "--quiet"]


def _copy(done_run: Path, tmp: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(done_run, run)
    return run


def _unfinish(run: Path) -> RunDir:
    """Make a complete run look interrupted after its first epoch, with a valid checkpoint."""
    rd = RunDir(run)
    rd.file(RunDir.TIMINGS).unlink()
    rd.file(RunDir.PREDICTIONS).unlink()
    model = create_model("NN_1_adam")
    optimizer = torch.optim.Adam(model.parameters())
    rd.save_checkpoint(model, optimizer, TrainingProgress(epoch=1))
    return rd


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


class Case:
    """`prepare(tmp, done_run, data_dir)` returns (args, folder that must not grow); the one
    error line must hold every needle. With `file_limit` (bytes, as `ulimit -f`) the command
    runs in a process of its own."""

    def __init__(self, name: str, prepare: Callable[[Path, Path, Path], tuple[list, Path]],
                 *needles: str, file_limit: int | None = None):
        self.name, self.prepare, self.needles, self.file_limit = (name, prepare, needles,
                                                                   file_limit)


def _train(*extra: str) -> Callable:
    def prepare(tmp, done, data):
        return ["train", "NN_1_adam", *RUN_ARGS, *extra, "--out", str(tmp / "R"),
                "--data-dir", str(data)], tmp
    return prepare


def _out_is_file(command: list[str]) -> Callable:
    def prepare(tmp, done, data):
        (tmp / "afile").write_text("x")
        return [*command, "--out", str(tmp / "afile"), "--data-dir", str(data)], tmp
    return prepare


def _under_file(command: list[str]) -> Callable:
    def prepare(tmp, done, data):
        (tmp / "afile").write_text("x")
        return [*command, "--out", str(tmp / "afile" / "sub"), "--data-dir", str(data)], tmp
    return prepare


def _resume(damage: Callable[[RunDir], None]) -> Callable:
    def prepare(tmp, done, data):
        run = _copy(done, tmp)
        damage(_unfinish(run))
        return ["train", "NN_1_adam", "--out", str(run), "--data-dir", str(data),
                *RUN_ARGS], run
    return prepare


def _wrong_shape_checkpoint(rd: RunDir) -> None:
    model = create_model("NN_2_adam")
    save_checkpoint(rd.file(RunDir.CHECKPOINT), model, torch.optim.Adam(model.parameters()),
                    TrainingProgress(epoch=1))


def _evaluate(damage: Callable[[RunDir], None]) -> Callable:
    def prepare(tmp, done, data):
        run = _copy(done, tmp)
        RunDir(run).file(RunDir.METRICS).unlink(missing_ok=True)
        damage(RunDir(run))
        return ["evaluate", str(run)], run
    return prepare


def _write(name: str, content: bytes) -> Callable[[RunDir], None]:
    return lambda rd: rd.file(name).write_bytes(content)


def _suite(text: bytes) -> Callable:
    def prepare(tmp, done, data):
        (tmp / "suite.toml").write_bytes(text)
        return ["run", "--suite", str(tmp / "suite.toml"), "--out", str(tmp / "study"),
                "--data-dir", str(data), *RUN_ARGS], tmp
    return prepare


def _limited(command: str) -> Callable:
    """train, evaluate or report under a 20 kB file-size limit."""
    def prepare(tmp, done, data):
        if command == "train":
            return _train()(tmp, done, data)
        run = _copy(done, tmp)
        RunDir(run).file(RunDir.METRICS).unlink(missing_ok=True)
        if command == "evaluate":
            RunDir(run).file(RunDir.PREDICTIONS).unlink()  # recomputed: a 440 kB write
            return ["evaluate", str(run)], run
        return ["report", str(run)], run
    return prepare


def _fake_k49(tmp: Path) -> Path:
    """A data folder whose k49 files have K49's names but not its contents (wrong sizes)."""
    data = tmp / "data"
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
              "train_labels": np.arange(60) % 49,
              "test_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(20) % 49}
    write_k49_files(data / "k49", arrays, K49_CHARS)
    return data


def _k49(command: list[str]) -> Callable:
    def prepare(tmp, done, data):
        fake = _fake_k49(tmp)
        extra = ["--out", str(tmp / "R")] if command[0] == "train" else ["--offline"]
        return [*command, "--dataset", "k49", "--data-dir", str(fake), *extra], tmp
    return prepare


def _figures_out(kind: str) -> Callable:
    def prepare(tmp, done, data):
        (tmp / "afile").write_text("x")
        out = tmp / "afile" if kind == "file" else tmp / "afile" / "sub"
        return ["data", "figures", "--out", str(out), "--data-dir", str(data)], tmp
    return prepare


def _synthetic_without_record(tmp, done, data):
    copy = tmp / "data"
    shutil.copytree(data, copy)
    (copy / "synthetic" / "synthetic.json").unlink()
    (copy / "synthetic" / "k49-test-labels.npz").unlink()
    return ["train", "NN_1_adam", "--out", str(tmp / "R"), "--data-dir", str(copy),
            *RUN_ARGS], tmp / "R"


CASES = [
    Case("data figures --out is a file", _figures_out("file"), "afile"),
    Case("data figures --out under a file", _figures_out("under"), "afile"),
    Case("train --out unwritable", lambda tmp, done, data: (
        ["train", "NN_1_adam", *RUN_ARGS, "--out", "/proc/k49-run", "--data-dir", str(data)],
        tmp), "/proc/k49-run"),
    Case("data info: K49 files of the wrong size", _k49(["data", "info"]), "fail verification"),
    Case("train on K49 files of the wrong size", _k49(["train", "NN_1_adam", *RUN_ARGS]),
         "--no-verify"),
    Case("a synthetic file missing, no record to rebuild from", _synthetic_without_record,
         "k49-test-labels.npz missing"),
    Case("train --out is a file", _out_is_file(["train", "NN_1_adam", *RUN_ARGS]), "afile"),
    Case("train --out under a file", _under_file(["train", "NN_1_adam", *RUN_ARGS]), "afile"),
    Case("run --out is a file", _out_is_file(["run", "--suite", "seed", *RUN_ARGS]), "afile"),
    Case("train --device tpu", _train("--device", "tpu"), "device"),
    Case("train --lr inf", _train("--lr", "inf"), "lr"),
    Case("train --seed -1", _train("--seed", "-1"), "seed"),
    Case("train --loss hinge", _train("--loss", "hinge"), "loss"),
    Case("train --limit-train 60", _train("--limit-train", "60"), "at least 164",
         "--val-fraction 0"),
    Case("train --optimizer lbfgs", _train("--optimizer", "lbfgs"), "optimizer"),
    Case("train --mixup input on an MLP", _train("--mixup", "input"), "mixup"),
    Case("train without a model", lambda tmp, done, data: (["train"], tmp), "Missing argument"),
    Case("train --epochs x", _train("--epochs", "x"), "--epochs"),
    Case("non-UTF-8 --data-dir",
         lambda tmp, done, data: (["train", "NN_1_adam", "--out", str(tmp / "R"), "--data-dir",
                                   str(tmp).encode() + b"/\xff\xfe", *RUN_ARGS], tmp), "UTF-8"),
    Case("resume: checkpoint of another shape", _resume(_wrong_shape_checkpoint),
         "checkpoint.safetensors does not fit"),
    Case("resume: truncated history.csv",
         _resume(lambda rd: _truncate(rd.file(RunDir.HISTORY))), "history.csv"),
    Case("resume: truncated config.json",
         _resume(lambda rd: _truncate(rd.file(RunDir.CONFIG))), "config.json"),
    Case("resume: truncated checkpoint",
         _resume(lambda rd: _truncate(rd.file(RunDir.CHECKPOINT))), "safetensors"),
    Case("evaluate: truncated predictions",
         _evaluate(lambda rd: _truncate(rd.file(RunDir.PREDICTIONS))), "test_predictions"),
    Case("evaluate: random-byte predictions",
         _evaluate(_write(RunDir.PREDICTIONS, bytes(range(256)) * 8)), "not a valid npz file"),
    Case("evaluate: truncated config.json",
         _evaluate(lambda rd: _truncate(rd.file(RunDir.CONFIG))), "config.json"),
    Case("evaluate: config.json is {}", _evaluate(_write(RunDir.CONFIG, b"{}")), "config.json"),
    Case("evaluate: config.json is []", _evaluate(_write(RunDir.CONFIG, b"[]")), "config.json"),
    Case("evaluate: truncated timings.json",
         _evaluate(_write(RunDir.TIMINGS, b'{"train_sec')), "timings.json"),
    Case("suite file not UTF-8", _suite(b'name = "\xff\xfe"\n[[models]]\nname = "NN_1_adam"\n'),
         "UTF-8"),
    Case("suite label ..", _suite(b'[[models]]\nname = "NN_1_adam"\nlabel = ".."\n'), "label"),
    Case("suite lr inf", _suite(b'[[models]]\nname = "NN_1_adam"\nlr = inf\n'), "lr"),
    *(Case(f"sweep --timeout {t}", lambda tmp, done, data, t=t: (
        ["sweep", "sweeps/seed-factors.toml", "--timeout", t, "--out", str(tmp / "S"),
         "--data-dir", str(data)], tmp), "--timeout", "above 0") for t in ("0", "-5", "nan")),
    Case("train under a file-size limit", _limited("train"), "cannot write", file_limit=20_000),
    Case("evaluate under a file-size limit", _limited("evaluate"), "cannot write",
         file_limit=20_000),
]
if not torch.cuda.is_available():
    CASES.append(Case("train --device cuda on a CPU-only torch", _train("--device", "cuda"),
                      "CUDA"))


def _snapshot(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


def _run(args: list, file_limit: int | None) -> Result:
    return k49_process(*args, file_limit=file_limit) if file_limit else k49(*args)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_or_fault(case: Case, done_run, synth_dir, tmp_path):
    args, watched = case.prepare(tmp_path, done_run, synth_dir)
    before = _snapshot(watched)
    assert_one_line_error(_run(args, case.file_limit), *case.needles)
    assert not [p for p in tmp_path.rglob("*.part*")], "stray .part file"
    if case.file_limit is None:
        assert _snapshot(watched) <= before, _snapshot(watched) - before
    else:  # a write failed midway: what is left is whole, and the run can resume from it
        for run in RunDir.find(watched):
            run.read_config(), run.read_history()


def test_report_lists_damaged_runs_and_still_writes(done_run, tmp_path):
    """One run with truncated predictions, one with a truncated history: the report is still
    written, and lists both as failed."""
    study = tmp_path / "study"
    for label in ("good", "bad_preds", "bad_history"):
        shutil.copytree(done_run, study / label / "seed-0")
    _truncate(study / "bad_preds" / "seed-0" / RunDir.PREDICTIONS)
    (study / "bad_preds" / "seed-0" / RunDir.METRICS).unlink(missing_ok=True)
    _truncate(study / "bad_history" / "seed-0" / RunDir.HISTORY)
    result = _run(["report", str(study)], None)
    assert result.returncode == 0, result.stderr
    html = (study / "report" / "index.html").read_text(encoding="utf-8")
    assert "bad_preds" in html and "bad_history" in html


def test_report_whose_figures_cannot_be_written_stops_at_once(done_run, tmp_path):
    """metrics.json present, so the first file the report writes is a figure: a write refused
    by the storage stops the report with one line, not a warning per figure."""
    study = tmp_path / "study"
    shutil.copytree(done_run, study / "a" / "seed-0")
    result = _run(["report", str(study)], 20_000)
    assert_one_line_error(result, "cannot write", "figures", "ulimit -f")
    assert "warn" not in result.stderr.lower()
    assert not [p for p in tmp_path.rglob("*.part*")]
    assert not (study / "report" / "index.html").exists()


def test_report_under_a_file_size_limit_fails_cleanly(done_run, tmp_path):
    args, watched = _limited("report")(tmp_path, done_run, None)
    assert_one_line_error(_run(args, 20_000))
    assert not [p for p in tmp_path.rglob("*.part*")]
    assert not (watched / "report" / "index.html").exists()


def test_a_run_whose_loss_becomes_nan_is_marked_failed(synth_dir, tmp_path):
    from k49.errors import K49Error

    config = TrainConfig(model="NN_1_sgd", lr=1e30, limit_train=200, epochs=2,
                         data_dir=str(synth_dir))
    with pytest.raises(K49Error, match="marked failed"):
        train(config, tmp_path / "nan", quiet=True)
    run = RunDir(tmp_path / "nan")
    assert not run.is_complete() and "lower --lr" in run.read_failure()
    np.testing.assert_equal(len(run.read_history()), 1)


def test_no_verify_trains_on_unofficial_k49_files_and_records_it(tmp_path):
    data = _fake_k49(tmp_path)
    result = _run(["train", "NN_1_adam", "--dataset", "k49", "--no-verify",
                   "--val-fraction", "0", "--epochs", "1", "--quiet", "--data-dir", str(data),
                   "--out", str(tmp_path / "R")], None)
    assert result.returncode == 0, result.stderr
    recorded = RunDir(tmp_path / "R").read_config()
    assert recorded["dataset"]["verified"] is False and recorded["config"]["verify"] is False


def test_a_missing_synthetic_file_is_rebuilt_with_the_recorded_scale_and_seed(synth_dir,
                                                                              tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(synth_dir, copy)
    before = (copy / "synthetic" / "k49-test-labels.npz").read_bytes()
    (copy / "synthetic" / "k49-test-labels.npz").unlink()
    result = _run(["data", "info", "--data-dir", str(copy), "--json"], None)
    assert result.returncode == 0, result.stderr
    assert "missing" in result.stderr and "recorded scale 0.01" in result.stderr
    assert (copy / "synthetic" / "k49-test-labels.npz").read_bytes() == before


def test_stale_part_files_of_a_killed_process_are_removed_on_the_next_run(done_run, tmp_path):
    run = _copy(done_run, tmp_path)
    RunDir(run).file(RunDir.METRICS).unlink(missing_ok=True)
    stale = [run / ".history.csv.999999999.abc.part.csv",
             run / "report" / ".index.html.999999999.abc.part.html"]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_text("half")
    result = _run(["report", str(run)], None)
    assert result.returncode == 0, result.stderr
    assert not stale[1].exists()
    _unfinish(run)
    result = _run(["train", "NN_1_adam", *RUN_ARGS, "--out", str(run), "--data-dir",
                   str(RunDir(run).read_config()["config"]["data_dir"])], None)
    assert result.returncode == 0, result.stderr
    assert not stale[0].exists()
