"""Where a study's trials live: an Optuna RDB storage, embedded (SQLite in the output folder) by
default, PostgreSQL for many machines.

Both go through `RDBStorage`, the only Optuna storage with heartbeats in 5.0 (the journal file
has none, so a killed worker's trial would stay RUNNING forever). SQLite under several processes
needs every transaction to start with `BEGIN IMMEDIATE` and a long lock timeout: without them
Optuna's FAQ warns of "database is locked" and of queued trials claimed twice.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event

from k49.errors import K49Error

#: The embedded storage's file name inside a study's output folder.
EMBEDDED_DB = "study.db"
#: A worker beats every HEARTBEAT s; a trial without a beat for GRACE s is failed and retried.
HEARTBEAT, GRACE = 20, 90
#: Attempts of a trial whose worker died, before it is reported failed.
ATTEMPTS = 3
#: SQLite waits this long for another process's lock instead of failing.
SQLITE_TIMEOUT = 120

# k49 reports failed runs itself; heartbeats and retries are features we rely on on purpose.
optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=ExperimentalWarning)
logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def storage_url(storage: str | None, out: str | os.PathLike | None) -> str:
    """The storage URL: `storage` as given, else SQLite in `out`."""
    if storage:
        if storage.startswith("postgresql://"):  # SQLAlchemy's default driver is psycopg2
            storage = "postgresql+psycopg://" + storage[len("postgresql://"):]
        if storage.startswith("sqlite") and (
                storage.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://", "sqlite:///")
                or ":memory:" in storage or "mode=memory" in storage):
            raise K49Error(f"--storage {storage} is an in-memory database, which every "
                           "connection sees empty and which is gone when k49 exits: give "
                           "sqlite:///PATH/study.db, or leave --storage out for OUT/study.db")
        return storage
    if out is None:
        raise K49Error("no --storage and no --out: give one, e.g. --out runs")
    folder = Path(out).absolute()
    return f"sqlite:///{folder / EMBEDDED_DB}"


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace period) in seconds; K49_HEARTBEAT="interval,grace" overrides (tests)."""
    value = os.environ.get("K49_HEARTBEAT")
    if not value:
        return HEARTBEAT, GRACE
    try:
        interval, grace = (int(v) for v in value.split(","))
    except ValueError:
        raise K49Error(f"K49_HEARTBEAT={value!r}: give two whole seconds, e.g. 20,90") from None
    return interval, grace


def _sqlite_immediate(engine) -> None:
    """Every SQLite transaction takes the write lock at once (BEGIN IMMEDIATE)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):  # noqa: ARG001 - SQLAlchemy's signature
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made before the hooks would not have them


def open_storage(url: str) -> RDBStorage:
    """An RDB storage with heartbeats and retries of trials whose worker died."""
    interval, grace = heartbeat_settings()
    sqlite = url.startswith("sqlite")
    if sqlite:
        db = Path(url.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        for path in (db, db.parent):  # SQLite also writes a journal beside the file
            if path.exists() and not os.access(path, os.W_OK):
                raise K49Error(f"the study storage {db} cannot be written ({path} is "
                               "read-only): make it writable, or choose another --out")
    kwargs = ({"connect_args": {"timeout": SQLITE_TIMEOUT}} if sqlite
              else {"pool_pre_ping": True})
    try:
        storage = RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=interval, grace_period=grace,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                max_retry=ATTEMPTS - 1, inherit_intermediate_values=True),
        )
    except Exception as e:  # SQLAlchemy and driver errors have no common base worth naming
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise K49Error(f"cannot open the study storage {_safe(url)} ({first}): check the URL, "
                       "that the server runs and that you may connect") from None
    if sqlite:
        _sqlite_immediate(storage.engine)
    return storage


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
