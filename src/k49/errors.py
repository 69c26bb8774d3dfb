"""The exception types the CLI turns into a one-line error."""


class K49Error(Exception):
    """A problem the user can fix. The message names the problem and the fix, on one line."""


class InvalidInput(K49Error, ValueError):
    """A bad argument to a pure function (a metric, a checker): the message names the argument,
    what was expected and what was received. A ValueError too, as scikit-learn's are."""


class WriteFailed(OSError):
    """A file could not be written (disk full, file-size limit, read-only or forbidden
    folder). Nothing more can be written there either, so it stops the command, even where
    other failures are skipped with a warning (a report's figures). `filename` is the file
    that was being written."""
