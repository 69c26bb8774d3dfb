"""A private PostgreSQL cluster in a temporary folder, for the storage tests and benchmark.

Debian's `postgresql` package (scripts/install-postgres.sh) provides the server binaries in
/usr/lib/postgresql/<version>/bin; K49_PG_BIN points at another folder holding initdb, pg_ctl
and postgres. The cluster listens on a free 127.0.0.1 port with trust authentication and
`fsync=off`: it holds nothing worth keeping. PostgreSQL refuses to run as root, so as root the
binaries run as the unprivileged user `nobody`, in a folder it owns.

    with Cluster() as cluster:
        url = cluster.url  # postgresql://k49@127.0.0.1:PORT/k49
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

#: The binaries a cluster needs.
PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: The superuser initdb creates, and the database the URL names.
USER = DATABASE = "k49"
#: Who runs the server when we are root.
RUN_AS = "nobody"
#: Seconds pg_ctl waits for the server to start or stop.
WAIT = 60


def server_bin() -> Path | None:
    """The folder with the server binaries (the newest version installed), or None."""
    given = os.environ.get("K49_PG_BIN")
    candidates = [given] if given else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True)
    for folder in candidates:
        if all(os.access(Path(folder) / p, os.X_OK) for p in PROGRAMS):
            return Path(folder)
    return None


def missing() -> str | None:
    """Why no cluster can start here, or None when one can."""
    if server_bin() is None:
        where = os.environ.get("K49_PG_BIN") or "/usr/lib/postgresql/*/bin"
        return (f"no PostgreSQL server binaries ({', '.join(PROGRAMS)}) in {where}: install "
                "Debian's `postgresql` package (scripts/install-postgres.sh)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root and there is no user {RUN_AS!r} to run PostgreSQL as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClusterError(RuntimeError):
    """The cluster did not start; the message holds the server's log."""


class Cluster:
    """initdb + pg_ctl start in a temporary folder; `stop()` (or leaving `with`) removes it."""

    def __init__(self, bin_dir: Path | None = None):
        self.bin = bin_dir or server_bin()
        if self.bin is None:
            raise ClusterError(missing())
        self.folder = Path(tempfile.mkdtemp(prefix="k49-pg-"))
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.port: int | None = None
        self._as: dict = {}
        if os.geteuid() == 0:  # PostgreSQL refuses root: hand the folder to an unprivileged user
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC", "HOME": str(self.folder)}
        return subprocess.run([str(self.bin / program), *args], cwd=self.folder, env=env,
                              capture_output=True, text=True, **self._as)

    def _check(self, what: str, done: subprocess.CompletedProcess) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise ClusterError(f"{what} failed ({done.returncode}): {done.stderr.strip()}"
                               + (f"\nserver log:\n{log}" if log else ""))

    def start(self, attempts: int = 3) -> Cluster:
        """Create the cluster and its database, start the server; returns self."""
        self._check("initdb", self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "--encoding=UTF8",
            "--no-locale", "--no-instructions"))
        sockets = self.folder / "sockets"
        sockets.mkdir()
        if self._as:
            os.chown(sockets, self._as["user"], self._as["group"])
        for attempt in range(attempts):  # another program may take the free port meanwhile
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off "
                       f"-c unix_socket_directories={sockets} -c max_connections=200")
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                             "-w", "-t", str(WAIT), "start")
            if done.returncode == 0:
                break
            if attempt == attempts - 1:
                self._check("pg_ctl start", done)
        # the database, through the server (psql and createdb are in the client package)
        with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def stop(self) -> None:
        """Stop the server (immediately: nothing is kept) and remove the folder."""
        if self.port is not None and (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", str(WAIT),
                      "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
