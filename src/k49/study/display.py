"""What a person sees while a study's runs train, however many workers train them.

Workers send events (plain dicts, so they cross process boundaries): a run started, an epoch
started, steps done, an epoch finished with its history row, a run ended. One `StudyDisplay`
in the command's own process shows them:

- on a terminal, one live display: a bar for the study (runs done of total, elapsed, ETA), a row
  per running run (label, seed, epoch, a bar, images/s, latest validation balanced accuracy),
  and a line per finished run above them;
- anywhere else (a pipe, a log file, CI), one line per event, never wrapped, each starting with
  the run's label and seed, so a log can be grepped;
- with `quiet`, nothing: errors and the final table are the command's to print.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from k49.console import terminal
from k49.training.monitor import epoch_line


def finished_line(event: dict[str, Any]) -> str:
    """How a run ended, after its label and seed."""
    status = event["status"]
    if status == "failed":
        return f"failed: {event.get('error') or 'see its run directory'}"
    if status == "skipped":
        return "skipped (already complete)"
    score = event.get("score")
    tail = f", val bal acc {score:.4f}" if score is not None and score == score else ""
    return f"done in {event.get('seconds', 0.0):.0f} s{tail}"


class StudyDisplay:
    """Shows the events of a study's runs (see the module's docstring); use it as a context
    manager and pass `handle` to the workers. `total`: the runs to train (None: not known)."""

    def __init__(self, total: int | None, *, quiet: bool = False, console: Console | None = None,
                 stream: TextIO | None = None):
        self.console = console or terminal()
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.stream = stream or sys.stdout
        self.total = total
        self.finished = 0
        self._rows: dict[tuple[str, int], TaskID] = {}
        self._scores: dict[tuple[str, int], float] = {}
        self._progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(bar_width=28),
            TextColumn("{task.fields[detail]}", markup=False), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=True,
            disable=not self.live)
        self._study = self._progress.add_task(self._study_title(total), total=total, detail="")

    @staticmethod
    def _study_title(total: int | None) -> str:
        return "study" if total is None else f"study ({total} runs)"

    def __enter__(self) -> StudyDisplay:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def handle(self, event: dict[str, Any]) -> None:
        """Show one event from a worker."""
        if self.quiet:
            return
        key = (event["label"], int(event["seed"]))
        name = f"{key[0]} seed {key[1]}"
        kind = event["event"]
        if kind == "end":
            self.finished += 1
            count = f"{self.finished} of {self.total} runs" if self.total else \
                f"{self.finished} runs"
            self._progress.update(self._study, completed=self.finished, detail=f"{count} done")
            if key in self._rows:
                self._progress.remove_task(self._rows.pop(key))
            count = f" ({count})" if self.total else ""
            self._say(f"{name}: {finished_line(event)}{count}")
        elif kind == "start":
            self._say(f"{name}: started", live=False)
        elif kind == "epoch":
            self._scores[key] = event["row"]["val_balanced_accuracy"]
            self._say(f"{name}: epoch {event['epoch']}/{event['epochs']}: "
                      f"{epoch_line(event['row'])}", live=False)
            self._show_row(key, name, event, event["epoch"] * event["steps"], None)
        elif kind in ("epoch_start", "step"):
            done = (event["epoch"] - 1) * event["steps"] + event.get("steps_done", 0)
            self._show_row(key, name, event, done, event.get("images_per_s"))

    def _show_row(self, key, name: str, event: dict[str, Any], done: int,
                  images_per_s: float | None) -> None:
        if not self.live:
            return
        score = self._scores.get(key)
        detail = f"epoch {event['epoch']}/{event['epochs']}"
        if images_per_s:
            detail += f"  {images_per_s:,.0f} img/s"
        if score is not None:
            detail += f"  val bal acc {score:.4f}"
        total = event["epochs"] * event["steps"]
        if key not in self._rows:
            self._rows[key] = self._progress.add_task(name, total=total, detail=detail)
        self._progress.update(self._rows[key], completed=done, total=total, detail=detail)

    def _say(self, line: str, *, live: bool = True) -> None:
        """A line above the live display (only `live` ones), or on its own line in a log."""
        if self.live:
            if live:
                self._progress.console.print(line, soft_wrap=True, markup=False,
                                             highlight=False, emoji=False)
        else:
            print(line, file=self.stream, flush=True)
