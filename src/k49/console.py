"""What k49 shows on a terminal while it works: the one rich progress display every stage uses
(a description, a bar, how much is done, any stage's own columns, elapsed time and ETA)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(*columns: ProgressColumn, quiet: bool = False, transient: bool = True,
                 console: Console | None = None) -> Progress:
    """A progress display whose tasks show their description (as plain text, never markup),
    a bar, `columns` (default: done of total), elapsed time and ETA; nothing when `quiet`.
    `transient` displays vanish once done."""
    return Progress(
        TextColumn("{task.description}", markup=False), BarColumn(),
        *(columns or (MofNCompleteColumn(),)), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), disable=quiet, transient=transient, console=console,
    )
