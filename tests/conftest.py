"""Shared fixtures: tiny K49-format files, a local HTTP server serving them, a dead port."""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import postgres
from k49.data import k49format
from k49.data.datasets import DataFile, get_spec
from k49.data.synthetic import generate
from k49.runs.config import TrainConfig
from k49.training.trainer import train

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per test process (and the k49 processes tests start): xdist runs one
    # per core, and more threads than cores make every training step wait on the others.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(items):
    """A test that needs PostgreSQL is marked `postgres` (and `slow`: it starts a server)."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.slow)


def write_k49_files(directory, name="k49", n_train=12, n_test=6, seed=0) -> dict[str, DataFile]:
    """Write the five files of dataset `name` in K49's format, tiny; return their facts table."""
    spec = get_spec(name)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % spec.n_classes).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % spec.n_classes).astype(np.uint8),
    }
    prefix = spec.files["classmap"].name.removesuffix("_classmap.csv")
    paths = k49format.write_k49_files(directory, arrays, spec.chars, prefix=prefix)
    table = {}
    for role, path in paths.items():
        data = path.read_bytes()
        table[role] = DataFile(path.name, len(data), hashlib.md5(data).hexdigest())
    return table


@pytest.fixture
def k49_files():
    """`write_k49_files` as a fixture, so tests need not import conftest."""
    return write_k49_files


class _Handler(SimpleHTTPRequestHandler):
    """Serves the server's root; logs requests; `server.faults[path]` scripts failures."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        faults = self.server.faults.get(self.path)
        fault = faults.pop(0) if faults else None
        if isinstance(fault, int):
            self.send_error(fault)
        elif fault == "cut":  # promise the whole file, send half, hang up
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        else:
            super().do_GET()

    def log_request(self, code="-", size="-"):
        self.server.requests.append((self.command, self.path, int(code)))

    def log_message(self, format, *args):  # keep test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """A ThreadingHTTPServer on 127.0.0.1:<random port> serving `server.root` (a tmp dir).

    `server.url` is its base URL, `server.requests` lists (method, path, status) served, and
    `server.faults` maps a request path to a list of faults used up one per request: an HTTP
    status to answer with, or "cut" for a body shorter than its Content-Length.
    """
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.root, server.requests, server.faults = root, [], {}
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def free_port():
    """A port on 127.0.0.1 with nothing listening: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A data directory holding a small synthetic set (scale 0.01), generated once per test
    run and shared by every xdist worker. Its files are read-only: a test that needs to change
    the set copies it first."""
    shared_root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared_root = shared_root.parent  # the run's folder, above each worker's own
    data_dir = shared_root / "synthetic-data"
    with open(shared_root / "synthetic-data.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker generates, the others wait
        done = shared_root / "synthetic-data.done"
        if not done.exists():
            generate(data_dir, scale=0.01, seed=0, progress=False)
            for file in data_dir.rglob("*"):
                if file.is_file():
                    file.chmod(0o444)
            done.touch()
    return data_dir


@pytest.fixture(scope="module")
def done_run(synth_dir, tmp_path_factory) -> Path:
    """A complete NN_1_adam run made like `k49 train NN_1_adam --limit-train 200 --epochs 1`,
    shared by a module's tests: copy it before changing it."""
    out = tmp_path_factory.mktemp("done") / "run"
    config = TrainConfig(model="NN_1_adam", limit_train=200, epochs=1, data_dir=str(synth_dir))
    train(config, out, quiet=True)
    return out


@pytest.fixture(scope="session")
def postgres_url():
    """A `postgresql://k49@127.0.0.1:PORT/k49` URL of a private PostgreSQL cluster (see
    tests/postgres.py), started once per session. Without the server binaries the test is
    skipped, except in CI (the CI environment variable set), where it fails."""
    reason = postgres.missing()
    if reason:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason}; CI is set, so the PostgreSQL tests must run",
                        pytrace=False)
        pytest.skip(reason)
    with postgres.Cluster() as cluster:
        yield cluster.url
