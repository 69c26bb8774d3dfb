"""Load `k49 serve`: 8 concurrent clients POST a real K49 image to /predict, 2,000 times.

The server runs in its own process (`python -m k49 serve RUN --port 0`) serving
CNN_dense_batch_norm, the seed's largest CNN; its weights are barely trained (one step on a tiny
synthetic set), which is all a speed test needs. The clients are plain asyncio HTTP/1.1 on
keep-alive connections, cheap enough to share the 2-core CPU with the server. Goal (issue 10):
>= 100 requests/s with p99 <= 100 ms. Reports requests/s, p50/p99 latency, the server's RSS after
a warm-up, after the load and at its peak, and the latency of a lone client. Usage:

    python benchmarks/bench_serve.py [--requests 2000] [--clients 8] [--run-dir RUN]
        [--out benchmarks/results/serve.json] [--json]

Without --run-dir the run is trained into a temporary folder (about 10 s).

Then the hostile case (issue 20): while 4 clients each send a body of 195,000 empty multipart
parts (4.3 MB, under the upload cap), GET /health is timed; goal: p99 under 100 ms, and every
hostile body refused with 400.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from k49.data.datasets import REAL_SAMPLE

RESULTS = Path(__file__).resolve().parent / "results" / "serve.json"
MODEL = "CNN_dense_batch_norm"
BOUNDARY = "k49benchboundary"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def make_run(out: Path, data_dir: Path, model: str = MODEL) -> Path:
    """A run of `model` after one training step on a tiny synthetic set."""
    from k49.data.synthetic import generate
    from k49.runs.config import TrainConfig
    from k49.training.trainer import train

    if not (data_dir / "synthetic").is_dir():
        generate(data_dir, scale=0.01, seed=0, progress=False)
    train(TrainConfig(model=model, epochs=1, limit_train=200, data_dir=str(data_dir)), out,
          quiet=True, max_steps=1)
    return out


def sample_png(index: int = 0) -> bytes:
    """Real K49 test image `index` (of REAL_SAMPLE's 100) as a PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.load(REAL_SAMPLE)["arr_0"][index]).save(buffer, "PNG")
    return buffer.getvalue()


def start_server(run_dir: Path, device: str = "cpu", timeout: float = 60.0):
    """`k49 serve RUN_DIR --port 0` in a subprocess: (process, base URL) once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "k49", "serve", str(run_dir), "--port", "0", "--device", device],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"http://[^\s/]+", line)
        if found:
            proc.banner = "".join(lines)  # what it printed on starting
            return proc, found.group(0)
    proc.kill()
    raise RuntimeError(f"the server did not start: {''.join(lines)}{proc.stderr.read()}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return {key: int(fields[field].split()[0]) / 1024
            for key, field in (("rss_mb", "VmRSS"), ("peak_rss_mb", "VmHWM"))}


def predict_request(host: str, png: bytes, top_k: int = 5) -> bytes:
    """One keep-alive POST /predict with `png` as the multipart field "file"."""
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"k49.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png + (
        f"\r\n--{BOUNDARY}--\r\n").encode()
    head = (f"POST /predict?top_k={top_k} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _client(url: str, request: bytes, left: list[int], latencies: list[float],
                  errors: list[str]) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while left[0] > 0:
            left[0] -= 1
            t0 = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(int(_LENGTH.search(head).group(1)))
            latencies.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200") or len(json.loads(body)["top"]) != 5:
                status = head.split(b"\r\n", 1)[0].decode()
                errors.append(f"{status} {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        writer.close()


async def _load(url: str, request: bytes, requests: int, clients: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    left = [requests]
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(url, request, left, latencies, errors)
                           for _ in range(clients)))
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"requests": len(latencies), "clients": clients, "wall_s": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1), "errors": len(errors),
            "first_error": errors[0] if errors else None}


def load(url: str, png: bytes, requests: int = 2000, clients: int = 8) -> dict:
    """Send `requests` POST /predict of `png` over `clients` concurrent connections."""
    host = url.removeprefix("http://")
    return asyncio.run(_load(url, predict_request(host, png), requests, clients))


#: The hostile body: ~195,000 empty multipart parts, 4.3 MB (the size the red team sent).
HOSTILE_PARTS = 195_000


def hostile_request(host: str) -> bytes:
    """A POST /predict of HOSTILE_PARTS empty parts (a parser's worst case, under the cap)."""
    body = b"--b\r\n\r\n\r\n" * HOSTILE_PARTS + b"--b--\r\n"
    return (f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
            f"boundary=b\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body


async def _status(url: str, request: bytes) -> tuple[int, float]:
    """Send one request on a new connection: (HTTP status, seconds to the answer)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(_LENGTH.search(head).group(1)))
        return int(head.split(b" ", 2)[1]), time.perf_counter() - t0
    finally:
        writer.close()


async def _hostile(url: str, bodies: int, rounds: int) -> dict:
    host = url.removeprefix("http://")
    health = f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    hostile = hostile_request(host)
    health_answers: list[tuple[int, float]] = []
    hostile_answers: list[tuple[int, float]] = []

    async def attack() -> None:
        for _ in range(rounds):
            hostile_answers.append(await _status(url, hostile))

    async def poll(attackers: asyncio.Future) -> None:
        while not attackers.done():
            health_answers.append(await _status(url, health))
            await asyncio.sleep(0.005)

    attackers = asyncio.gather(*(attack() for _ in range(bodies)))
    await asyncio.gather(attackers, poll(attackers))
    ms = np.array([t for _, t in health_answers]) * 1000
    return {"hostile_bodies_in_flight": bodies, "hostile_requests": len(hostile_answers),
            "hostile_statuses": sorted({code for code, _ in hostile_answers}),
            "hostile_p50_ms": round(float(np.median([t for _, t in hostile_answers])) * 1000, 1),
            "health_requests": len(health_answers),
            "health_statuses": sorted({code for code, _ in health_answers}),
            "health_p50_ms": round(float(np.percentile(ms, 50)), 1),
            "health_p99_ms": round(float(np.percentile(ms, 99)), 1),
            "health_max_ms": round(float(ms.max()), 1)}


def hostile(url: str, bodies: int = 4, rounds: int = 5) -> dict:
    """Time GET /health while `bodies` clients each send `rounds` hostile bodies in turn."""
    return asyncio.run(_hostile(url, bodies, rounds))


def run_bench(run_dir: Path, requests: int = 2000, clients: int = 8, warmup: int = 200) -> dict:
    """Start a server on `run_dir`, warm it up, load it; the numbers, with its memory."""
    proc, url = start_server(run_dir)
    try:
        png = sample_png()
        load(url, png, warmup, clients)
        before = memory_mb(proc.pid)
        result = load(url, png, requests, clients)
        after = memory_mb(proc.pid)
        alone = load(url, png, warmup, 1)
        under_attack = hostile(url)
    finally:
        stop_server(proc)
    return {"model": MODEL, **result, "warmup_requests": warmup,
            "one_client": {k: alone[k] for k in ("requests_per_s", "p50_ms", "p99_ms")},
            "rss_after_warmup_mb": round(before["rss_mb"], 1),
            "rss_after_mb": round(after["rss_mb"], 1),
            "peak_rss_mb": round(after["peak_rss_mb"], 1),
            "hostile": {**under_attack, "goal": {"health_p99_ms": 100, "hostile_statuses": [400]}},
            "goal": {"requests_per_s": 100, "p99_ms": 100}, "cpus": os.cpu_count(),
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or make_run(Path(tmp) / "run", Path(tmp) / "data")
        out = run_bench(run_dir, args.requests, args.clients)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1) if args.json else
          "\n".join(f"{k:>20}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
