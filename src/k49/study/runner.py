"""Run many model x seed runs: one run directory is the unit of work.

Workers claim a run through its `RunDir` (a lock file written whole, then linked into place), so
several `k49 run` processes, or machines sharing a file system, can work through one study; a
run whose lock was left by a dead process on this host is taken over and resumes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from k49.errors import K49Error
from k49.study.suites import RunSpec
from k49.training.trainer import train


class LocalQueue:
    """Hands out the runs that are neither complete nor claimed by another worker."""

    def __init__(self, specs: list[RunSpec]):
        self.pending = [s for s in specs if not s.run.is_complete()]
        self.skipped = [s for s in specs if s.run.is_complete()]

    def claim(self) -> RunSpec | None:
        while self.pending:
            spec = self.pending.pop(0)
            if spec.run.claim():
                return spec
        return None

    def release(self, spec: RunSpec) -> None:
        spec.run.release()


def _result(spec: RunSpec, status: str, error: str | None, seconds: float) -> dict[str, Any]:
    return {"label": spec.label, "seed": spec.config.seed, "run_dir": str(spec.run_dir),
            "status": status, "error": error, "seconds": seconds}


def _run_one(spec: RunSpec, threads: int, quiet: bool) -> dict[str, Any]:
    config = spec.config.model_copy(update={"threads": threads})
    t0 = time.perf_counter()
    try:
        result = train(config, spec.run, quiet=quiet)
        status, error = ("skipped" if result.skipped else "done"), None
    except K49Error as e:
        status, error = "failed", str(e)
    except OSError as e:  # a write that failed: the other runs go on
        status, error = "failed", f"cannot write {e.filename or spec.run_dir}: {e.strerror or e}"
    return _result(spec, status, error, time.perf_counter() - t0)


def run_suite(specs: list[RunSpec], *, jobs: int = 1, quiet: bool = False
              ) -> list[dict[str, Any]]:
    """Train every pending run, `jobs` at a time, each with cpu_count // jobs threads."""
    if jobs < 1:
        raise K49Error(f"--jobs must be at least 1, got {jobs}")
    queue = LocalQueue(specs)
    results = [_result(s, "skipped", None, 0.0) for s in queue.skipped]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        while spec := queue.claim():
            try:
                results.append(_run_one(spec, threads, quiet))
            finally:
                queue.release(spec)
        return results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_worker_context()) as pool:
        running: dict[Any, RunSpec] = {}
        try:
            while True:
                while len(running) < jobs and (spec := queue.claim()):
                    running[pool.submit(_run_one, spec, threads, True)] = spec
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    spec = running.pop(future)
                    queue.release(spec)
                    results.append(future.result())
                    if not quiet:
                        r = results[-1]
                        print(f"{r['label']} seed {r['seed']}: {r['status']} "
                              f"({r['seconds']:.0f} s){': ' + r['error'] if r['error'] else ''}")
        finally:
            for spec in running.values():
                queue.release(spec)
    return results


def _worker_context():
    """Workers forked from a server that has imported torch and k49 once (where the platform
    has forkserver), so a worker starts in milliseconds instead of re-importing for seconds."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["k49.study.runner", "sklearn.model_selection",
                                    "safetensors.torch", "rich.progress"])
        return ctx
    return multiprocessing.get_context("spawn")
