"""A bounded load test of `k49 serve` in its own process: 8 concurrent clients, 2,000 requests of
a real K49 image to CNN_dense_batch_norm. Passes when no request fails and the server's memory
stays flat after a warm-up; then Ctrl-C stops it cleanly. No timing assertions (see
benchmarks/bench_serve.py for the speed)."""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_serve.py"
#: Growth of the server's resident memory over the 2,000 requests that still counts as flat.
RSS_GROWTH_MB = 50


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_load_without_errors_and_flat_memory(bench, synth_dir, tmp_path):
    run = bench.make_run(tmp_path / "run", synth_dir)
    proc, url = bench.start_server(run)
    try:
        png = bench.sample_png(3)
        warm = bench.load(url, png, requests=200, clients=8)
        assert warm["errors"] == 0, warm["first_error"]
        before = bench.memory_mb(proc.pid)
        result = bench.load(url, png, requests=2000, clients=8)
        after = bench.memory_mb(proc.pid)
        assert result["errors"] == 0, result["first_error"]
        assert result["requests"] == 2000
        growth = after["rss_mb"] - before["rss_mb"]
        assert growth < RSS_GROWTH_MB, (before, after)

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            bench.stop_server(proc)
    assert proc.returncode == 0 and "stopped" in out, err
    assert "Traceback" not in err and "Traceback" not in out
    banner = proc.banner
    assert "serving" in banner and "CNN_dense_batch_norm" in banner and "synthetic" in banner


def test_health_answers_while_hostile_bodies_are_refused(bench, synth_dir, tmp_path):
    """4 clients send 195,000-part bodies in turn; /health keeps answering meanwhile (polled
    while they are in flight) and every hostile body is refused with 400. Its
    latency is the benchmark's to report, not this test's."""
    run = bench.make_run(tmp_path / "run", synth_dir, model="NN_1_adam")
    proc, url = bench.start_server(run)
    try:
        result = bench.hostile(url, bodies=4, rounds=2)
    finally:
        bench.stop_server(proc)
    assert result["hostile_requests"] == 8 and result["hostile_statuses"] == [400]
    assert result["health_statuses"] == [200] and result["health_requests"] >= 1
