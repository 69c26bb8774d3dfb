"""What a person sees of a training run, and Ctrl-C turned into a stop between two steps (so a
checkpoint is never torn). The loop calls it; it holds no training state."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import MofNCompleteColumn, TextColumn

from k49.console import progress_bar
from k49.training.tally import Tally

#: Seconds between two refreshes of the bar: reading the running loss folds the tally in.
REFRESH = 0.25


def epoch_line(row: dict[str, float]) -> str:
    """An epoch's history row as one line: losses, validation accuracy and speed."""
    return (f"loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
            f"val acc {row['val_accuracy']:.4f}  val bal acc {row['val_balanced_accuracy']:.4f}"
            f"  ({row['images_per_s']:.0f} img/s)")


class TrainingMonitor:
    """A bar per epoch (steps, images/s, running loss) and a line per finished epoch; with
    `quiet`, nothing. Given `events`, it draws nothing and sends them instead, as dicts
    ("epoch_start", "step" a few times a second, "epoch" with the history row), for a display
    that shows many runs at once. Used as a context manager, it also catches Ctrl-C (in the
    main thread) and sets `stop_requested` instead of interrupting a step."""

    def __init__(self, model: str, epochs: int, steps_per_epoch: int, quiet: bool,
                 events: Callable[[dict[str, Any]], None] | None = None):
        self.model, self.epochs, self.steps_per_epoch = model, epochs, steps_per_epoch
        self.events = events
        self.quiet = quiet or events is not None
        self.stop_requested = False
        self._bar = progress_bar(
            MofNCompleteColumn(), TextColumn("{task.fields[ips]:>7.0f} img/s"),
            TextColumn("loss {task.fields[loss]:.3f}"), quiet=self.quiet)
        self._task = None
        self._previous_handler = None

    def __enter__(self) -> TrainingMonitor:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._request_stop)
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True

    def start_epoch(self, epoch: int, start_step: int, tally: Tally) -> None:
        self._task = self._bar.add_task(f"{self.model} epoch {epoch + 1}/{self.epochs}",
                                        total=self.steps_per_epoch, completed=start_step,
                                        ips=0.0, loss=0.0)
        self._t0 = self._last = time.perf_counter()
        self._seen0 = tally.seen
        self._epoch = epoch + 1
        self._send("epoch_start", steps_done=start_step)

    def on_step(self, steps_done: int, tally: Tally) -> bool:
        """Refresh the bar a few times a second; True once Ctrl-C asked the run to stop."""
        if (not self.quiet or self.events) and (
                (now := time.perf_counter()) - self._last > REFRESH
                or steps_done == self.steps_per_epoch):
            self._last = now
            ips = (tally.seen - self._seen0) / max(now - self._t0, 1e-9)
            if self.events is None:  # reading the running loss folds the tally in: bar only
                self._bar.update(self._task, completed=steps_done, ips=ips,
                                 loss=tally.loss_sum / tally.seen)
            self._send("step", steps_done=steps_done, images_per_s=ips)
        return self.stop_requested

    def end_epoch(self, epoch: int, row: dict[str, float]) -> None:
        self._bar.remove_task(self._task)
        self._send("epoch", row=row)
        if not self.quiet:
            self._bar.console.print(
                f"{self.model} epoch {epoch + 1}/{self.epochs}: {epoch_line(row)}",
                highlight=False, markup=False)

    def _send(self, event: str, **fields: Any) -> None:
        if self.events is not None:
            self.events({"event": event, "epoch": self._epoch, "epochs": self.epochs,
                         "steps": self.steps_per_epoch, **fields})

    def interrupted(self, epoch: int, steps_done: int, run_path: Path) -> None:
        self._bar.stop()
        print(f"interrupted at epoch {epoch + 1}, step {steps_done}: checkpoint saved in "
              f"{run_path}; rerun the same command to resume")
