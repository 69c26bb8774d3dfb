"""Run many model x seed runs through an Optuna study: enqueue them, start workers, collect.

`run_suite` is what `k49 run` does on one machine: it enqueues the runs that are not complete
(rerunning continues a study), starts `jobs` workers that take trials until none is left, and
reads each run's outcome back from the study. `work` is what `k49 worker` does on any machine
that reaches the storage.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from k49.errors import K49Error
from k49.io import default_threads
from k49.models.inference import resolve_device
from k49.study.display import StudyDisplay
from k49.study.queue import (
    DEFAULT_STUDY,
    Worker,
    complete_trials,
    enqueue,
    open_study,
    results,
)
from k49.study.storage import storage_url
from k49.study.suites import RunSpec

#: Runs at once per GPU with `--jobs auto`: the whole seed study (12 runs). One seed model
#: keeps a GPU only partly busy (on one H200, 4 eager runs at once took about a third of their
#: time one after another), and a run's own start, data loading, evaluation and checkpoints
#: take seconds that other runs' steps fill. benchmarks/bench_gpu.py times the study so.
RUNS_PER_GPU = 12


def resolve_jobs(jobs: int | str, device: str = "auto") -> int:
    """`jobs` as a number of runs at once; "auto" is 1 on a CPU (each run uses every core)
    and RUNS_PER_GPU per CUDA device, at most one per CPU core."""
    if jobs == "auto":
        if resolve_device(device).type != "cuda":
            return 1
        return max(1, min(RUNS_PER_GPU * torch.cuda.device_count(), os.cpu_count() or 1))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise K49Error(f"--jobs must be a whole number of at least 1, or auto; got {jobs!r}")
    return jobs


def work(storage: str | None = None, study: str = DEFAULT_STUDY, *, out: Path | None = None,
         jobs: int | str = 1, quiet: bool = False, artifacts: str | None = None,
         total: int | None = None) -> int:
    """Join study `study` and train its runs, `jobs` at a time (see `resolve_jobs`), until
    none is left; returns how many trials were taken. Without `storage`, the study is the one
    embedded in `out`. Progress shows in one `StudyDisplay` (`total`: the runs expected, when
    known)."""
    jobs = resolve_jobs(jobs)
    url = storage_url(storage, out)
    threads = max(1, default_threads() // jobs)
    args = (url, study, out, threads, artifacts)
    with StudyDisplay(total, quiet=quiet) as display:
        if jobs == 1:
            return _work(*args, events=display.handle)
        context = worker_context()
        events = context.Queue()
        pump = threading.Thread(target=_show_events, args=(events, display), daemon=True)
        pump.start()
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                     initializer=_send_events_to, initargs=(events,)) as pool:
                return sum(f.result() for f in [pool.submit(_work, *args) for _ in range(jobs)])
        finally:
            events.put(None)
            pump.join()


#: In a worker process: the queue its events go to (set when the process starts).
_events_queue = None


def _send_events_to(queue) -> None:
    global _events_queue
    _events_queue = queue


def _show_events(queue, display: StudyDisplay) -> None:
    """In the command's process: show each worker's events until None arrives."""
    while (event := queue.get()) is not None:
        display.handle(event)


def _work(url: str, name: str, out: Path | None, threads: int, artifacts: str | None,
          events=None) -> int:
    return Worker(open_study(url, name), out=out, threads=threads, artifacts=artifacts,
                  events=events or _events_queue.put).run()


def run_suite(specs: list[RunSpec], *, out: str | os.PathLike, jobs: int | str = 1,
              quiet: bool = False, storage: str | None = None,
              study: str = DEFAULT_STUDY, artifacts: str | None = None) -> list[dict[str, Any]]:
    """Train every pending run of `specs` (all in study folder `out`), `jobs` at a time, each
    with (OMP_NUM_THREADS or the core count) // jobs threads; one result row per run. `jobs`
    may be "auto" (see `resolve_jobs`, for the device of the first run)."""
    jobs = resolve_jobs(jobs, specs[0].config.device if specs else "auto")
    out = Path(out).absolute()
    url = storage_url(storage, out)
    handle = open_study(url, study, out, create=True, artifacts=artifacts)
    done_before = complete_trials(handle)
    enqueue(handle, specs)
    pending = sum(not spec.run.is_complete() for spec in specs)
    work(url, study, out=out, jobs=jobs, quiet=quiet, artifacts=artifacts, total=pending)
    return results(handle, specs, done_before)


def worker_context():
    """Workers forked from a server that has imported torch and k49 once (where the platform
    has forkserver), so a worker starts in milliseconds instead of re-importing for seconds."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["k49.study.runner", "sklearn.model_selection",
                                    "safetensors.torch", "rich.progress", "optuna"])
        return ctx
    return multiprocessing.get_context("spawn")
