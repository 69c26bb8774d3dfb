"""What `k49 run` shows: one live display on a terminal, one grep-able line per event in a log,
nothing with --quiet. The unit tests feed events by hand; the slow ones run a two-job study
under a pseudo-terminal and in a pipe."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

import pytest
from rich.console import Console

from k49.study.display import StudyDisplay

ROW = {"train_loss": 2.1018, "val_loss": 1.807, "val_accuracy": 0.7318,
       "val_balanced_accuracy": 0.71544, "images_per_s": 1175.4}


def feed(display: StudyDisplay, label: str = "CNN_1_adam[x]", seed: int = 0) -> None:
    tag = {"label": label, "seed": seed, "epochs": 2, "steps": 10}
    display.handle({**tag, "event": "start"})
    display.handle({**tag, "event": "epoch_start", "epoch": 1, "steps_done": 0})
    display.handle({**tag, "event": "step", "epoch": 1, "steps_done": 5, "images_per_s": 900.0})
    display.handle({**tag, "event": "epoch", "epoch": 1, "row": ROW})
    display.handle({**tag, "event": "end", "status": "done", "seconds": 12.4,
                    "score": 0.71544})


def test_in_a_log_each_event_is_one_line_starting_with_the_runs_label_and_seed():
    log = io.StringIO()
    console = Console(file=io.StringIO(), force_terminal=False, width=40)
    with StudyDisplay(3, console=console, stream=log) as display:
        feed(display)
        feed(display, "NN_2_sgd", 1)
        display.handle({"label": "NN_1_sgd", "seed": 2, "event": "end", "status": "failed",
                        "error": "the loss became nan"})
    lines = log.getvalue().splitlines()
    assert lines == [
        "CNN_1_adam[x] seed 0: started",
        "CNN_1_adam[x] seed 0: epoch 1/2: loss 2.1018  val loss 1.8070  val acc 0.7318  "
        "val bal acc 0.7154  (1175 img/s)",
        "CNN_1_adam[x] seed 0: done in 12 s, val bal acc 0.7154 (1 of 3 runs)",
        "NN_2_sgd seed 1: started",
        "NN_2_sgd seed 1: epoch 1/2: loss 2.1018  val loss 1.8070  val acc 0.7318  "
        "val bal acc 0.7154  (1175 img/s)",
        "NN_2_sgd seed 1: done in 12 s, val bal acc 0.7154 (2 of 3 runs)",
        "NN_1_sgd seed 2: failed: the loss became nan (3 of 3 runs)",
    ]  # 40 columns, and still no line is wrapped; the [x] is printed as given
    assert display.finished == 3


def test_quiet_shows_nothing():
    log, screen = io.StringIO(), io.StringIO()
    with StudyDisplay(1, quiet=True, console=Console(file=screen, force_terminal=True),
                      stream=log) as display:
        feed(display)
    assert log.getvalue() == "" and screen.getvalue() == ""


def test_on_a_terminal_the_study_bar_and_a_row_per_running_run_then_a_line_when_done():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    with StudyDisplay(2, console=console, stream=io.StringIO()) as display:
        tag = {"label": "CNN_1_adam", "seed": 0, "epochs": 2, "steps": 10}
        display.handle({**tag, "event": "start"})
        display.handle({**tag, "event": "epoch", "epoch": 1, "row": ROW})
        display.handle({**tag, "event": "step", "epoch": 2, "steps_done": 5,
                        "images_per_s": 1234.0})
        display._progress.refresh()
        running = screen.getvalue()
        display.handle({**tag, "event": "end", "status": "done", "seconds": 3.0, "score": 0.8})
        display._progress.refresh()
    assert "study (2 runs)" in running
    assert re.search(r"study \(2 runs\) .*1 of 2 runs done", screen.getvalue())
    assert re.search(r"CNN_1_adam seed 0 .*epoch 2/2  1,234 img/s  val bal acc 0\.7154", running)
    assert "CNN_1_adam seed 0: done in 3 s, val bal acc 0.8000 (1 of 2 runs)" in screen.getvalue()
    assert "epoch 1/2: loss" not in screen.getvalue()  # epoch lines are the row's, not the log's


SUITE = """name = "two"
[defaults]
epochs = 2
limit_train = 300
[[models]]
name = "NN_1_adam"
[[models]]
name = "NN_2_adam"
"""


def run_two_jobs(tmp_path, synth_dir, *, terminal: bool) -> str:
    """`k49 run --jobs 2` on two small MLPs, its stdout read from a pty or a pipe."""
    suite = tmp_path / "two.toml"
    suite.write_text(SUITE)
    argv = [sys.executable, "-m", "k49", "run", "--suite", str(suite), "--jobs", "2",
            "--out", str(tmp_path / "out"), "--data-dir", str(synth_dir)]
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, stdin=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            proc.kill()
            pytest.fail("k49 run under a pty printed nothing for 300 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0, b"".join(chunks)[-2000:]
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_two_jobs_in_a_pipe_print_one_prefixed_unwrapped_line_per_event(tmp_path, synth_dir):
    out = run_two_jobs(tmp_path, synth_dir, terminal=False)
    assert "\x1b[" not in out  # no cursor movement or colour in a log
    events = [line for line in out.splitlines() if re.match(r"NN_[12]_adam seed 0: ", line)]
    for label in ("NN_1_adam", "NN_2_adam"):
        mine = [line for line in events if line.startswith(f"{label} seed 0: ")]
        assert mine[0] == f"{label} seed 0: started"
        assert [m.group(0) for line in mine if (m := re.search(r"epoch \d/2", line))] == [
            "epoch 1/2", "epoch 2/2"]
        assert re.fullmatch(rf"{label} seed 0: done in \d+ s, val bal acc 0\.\d{{4}} "
                            r"\([12] of 2 runs\)", mine[-1])
    epoch_lines = [line for line in events if ": epoch " in line]
    assert all(re.search(r"val bal acc 0\.\d{4}  \(\d+ img/s\)$", line) for line in epoch_lines)
    assert not any(re.fullmatch(r"\s*[\d.]+\s*(\(\d+ img/s\))?", line) for line in
                   out.splitlines())  # no number cut onto a line of its own
    assert "runs" in out and "report" in out  # the final table and the report's path


@pytest.mark.slow
def test_two_jobs_on_a_terminal_show_one_live_display(tmp_path, synth_dir):
    out = run_two_jobs(tmp_path, synth_dir, terminal=True)
    assert "study (2 runs)" in out  # the study's bar
    assert re.search(r"NN_[12]_adam seed 0 .*epoch [12]/2", out)  # a running run's row
    for label in ("NN_1_adam", "NN_2_adam"):
        assert re.search(rf"{label} seed 0: done in \d+ s, val bal acc 0\.\d{{4}}", out)
        assert f"{label} seed 0: epoch" not in out  # epochs update the row, not the log
    assert "runs" in out and "report" in out


@pytest.mark.slow
def test_quiet_run_prints_only_the_table_and_the_reports_path(tmp_path, synth_dir):
    from cli_runner import k49

    suite = tmp_path / "one.toml"
    suite.write_text('name = "one"\n[defaults]\nepochs = 1\nlimit_train = 300\n'
                     '[[models]]\nname = "NN_1_adam"\n')
    result = k49("run", "--suite", suite, "--out", tmp_path / "out", "--data-dir", synth_dir,
                 "--quiet")
    assert result.returncode == 0, result.stderr
    assert "NN_1_adam" in result.stdout and "runs" in result.stdout  # the table
    assert re.search(r"^report \(synthetic data, not K49\): ", result.stdout, re.MULTILINE)
    assert "started" not in result.stdout and "epoch" not in result.stdout
    assert not re.search(r"^  - ", result.stdout, re.MULTILINE)  # no findings
    assert result.stderr == ""
