"""What k49 shows on a terminal: consoles that print text exactly as given, and the one rich
progress display every stage uses (a description, a bar, how much is done, any stage's own
columns, elapsed time and ETA).

User text (model names, paths, file names, study names) often holds brackets or colons, which
rich would read as markup (`[/]` raises, `[bold]` vanishes) or emoji codes (`:fire:`). So every
console k49 prints through is made by `terminal()`, with markup, emoji and highlighting off;
styled words are `rich.text.Text` spans (`styled`), never markup in a string."""

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
from rich.text import Text


def terminal(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A console that prints strings literally: no markup, no emoji codes, no highlighting,
    and no line breaks of its own (soft wrap: a long path or number is never cut in two; the
    terminal wraps it on screen, a log keeps it on one line)."""
    return Console(stderr=stderr, quiet=quiet, markup=False, emoji=False, highlight=False,
                   soft_wrap=True)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs: `styled(("error:", "bold red"), " ",
    message)`; no part is ever read as markup."""
    return Text.assemble(*parts)


def progress_bar(*columns: ProgressColumn, quiet: bool = False, transient: bool = True,
                 console: Console | None = None) -> Progress:
    """A progress display whose tasks show their description (as plain text, never markup),
    a bar, `columns` (default: done of total), elapsed time and ETA; nothing when `quiet`.
    `transient` displays vanish once done."""
    return Progress(
        TextColumn("{task.description}", markup=False), BarColumn(),
        *(columns or (MofNCompleteColumn(),)), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), disable=quiet, transient=transient,
        console=console or terminal(),
    )
