"""Training at scale: the peak memory of a full-size run, and the speed-up of parallel runs.

- **peak RSS**: `k49.training.trainer.train` on full-size random data (232,365 train and
  38,547 test images, held in memory as a `Dataset`), stopped after `max_steps` optimizer
  steps by `train(..., max_steps=...)` (validation, test predictions and every file are still
  written), in a fresh child process so that nothing else in the bench counts;
- **jobs**: the wall-clock speed-up of `run_suite(..., jobs=2)` over `jobs=1` on four small
  MLPs, trained on the synthetic set of `data_dir` when it is complete, else on a temporary
  K49-format set written by `k49.data.k49format.write_k49_files`.

    python benchmarks/training_scale.py --rss-child '["CNN_1_adam", 200, 232365, 38547, null]'

runs the child's side of the memory measurement and prints one `K49_RSS {json}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49.data.datasets import DATASETS
from k49.data.k49format import write_k49_files
from k49.data.load import Dataset, missing_files
from k49.data.synthetic import class_counts
from k49.errors import K49Error
from k49.runs.config import TrainConfig
from k49.study.runner import run_suite
from k49.study.suites import Suite, SuiteModel, plan
from k49.training.trainer import train

N_CLASSES = 49
#: Full K49 size, for the memory measurement.
FULL_TRAIN, FULL_TEST = 232_365, 38_547
RSS_MODEL = "CNN_1_adam"
JOBS_MODELS = ("NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam")

#: Goals the report is compared against (never asserted by the tests).
RSS_GOAL_MB = 1536.0
JOBS_SPEEDUP_GOAL = 1.4

#: Prefix of the child's one result line on stdout.
RSS_LINE = "K49_RSS "


def say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Peak memory of a full-size run (in a child process)


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM, else ru_maxrss), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def full_size_dataset(n_train: int, n_test: int, data_dir: Path, seed: int = 0) -> Dataset:
    """A synthetic-named `Dataset` in memory: random uint8 images of K49's shape, labelled in
    K49's class proportions (uniformly when a split's size is too small to keep them)."""
    rng = np.random.default_rng(seed)
    train_counts, test_counts = class_counts(n_train / FULL_TRAIN)

    def labels(n: int, counts: np.ndarray) -> np.ndarray:
        if counts.sum() != n:
            return rng.integers(0, N_CLASSES, size=n).astype(np.int64)
        out = np.repeat(np.arange(N_CLASSES), counts).astype(np.int64)
        rng.shuffle(out)
        return out

    return Dataset(
        DATASETS["synthetic"],
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8), labels(n_train, train_counts),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8), labels(n_test, test_counts),
        data_dir=data_dir, checksums={},
    )


def rss_child(model: str, max_steps: int, n_train: int, n_test: int,
              threads: int | None) -> dict[str, Any]:
    """Run in a fresh process: one epoch of `train` on full-size random data, stopped after
    `max_steps` steps; returns the peak RSS and what the run was."""
    base_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        ds = full_size_dataset(n_train, n_test, Path(tmp))
        data_rss = peak_rss_mb()
        config = TrainConfig(model=model, epochs=1, threads=threads)
        start = time.perf_counter()
        result = train(config, Path(tmp) / "run", dataset=ds, quiet=True, max_steps=max_steps)
        seconds = time.perf_counter() - start
    history = result.history[-1]
    return {
        "model": model, "train_images": n_train, "test_images": n_test,
        "steps": max_steps, "batch_size": config.batch_size,
        "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": base_rss,
        "rss_after_data_mb": data_rss, "seconds": seconds,
        "images_per_s": history["images_per_s"],
    }


def measure_rss(model: str = RSS_MODEL, max_steps: int = 200, n_train: int = FULL_TRAIN,
                n_test: int = FULL_TEST, threads: int | None = None,
                timeout: float = 1800) -> dict[str, Any]:
    """Peak RSS of a (step-limited) training run on full-size data, in a child process."""
    args = json.dumps([model, max_steps, n_train, n_test, threads])
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rss-child", args],
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RSS_LINE)]
    if proc.returncode != 0 or not lines:
        raise K49Error(f"the memory measurement's child process failed "
                       f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    report = json.loads(lines[-1][len(RSS_LINE):])
    report["goal_mb"] = RSS_GOAL_MB
    report["goal_met"] = report["peak_rss_mb"] <= RSS_GOAL_MB
    return report


# ---------------------------------------------------------------------------------------------
# Parallel runs: run_suite(jobs=2) against jobs=1


def write_synthetic_files(data_dir: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A small K49-format set in `data_dir`/synthetic, written by k49's one writer of the
    format: one random template per class plus noise, so the models can learn something.
    Returns the folder."""
    spec = DATASETS["synthetic"]
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(N_CLASSES, 28, 28))
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % N_CLASSES
        rng.shuffle(labels)
        noise = rng.integers(-60, 60, size=(n, 28, 28))
        arrays[f"{split}_images"] = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    out = spec.directory(data_dir)
    write_k49_files(out, arrays, spec.chars)
    return out


def measure_jobs(models: Sequence[str] = JOBS_MODELS, *, jobs: int = 2, epochs: int = 10,
                 limit_train: int | None = None, n_train: int = 23_237, n_test: int = 3_855,
                 data_dir: Path | None = None, quiet: bool = True) -> dict[str, Any]:
    """Wall-clock time of `run_suite` over `models` (one seed) with jobs=1 and with `jobs`,
    each into a fresh temporary out directory. Trains on the synthetic set in `data_dir` when
    it is there, else on a temporary K49-format set of n_train / n_test images."""
    suite = Suite(name="bench-jobs", models=[SuiteModel(name=m) for m in models])
    before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="k49-bench-") as tmp:
        tmp = Path(tmp)
        if data_dir is not None and not missing_files(DATASETS["synthetic"], data_dir):
            data, source = Path(data_dir), str(DATASETS["synthetic"].directory(data_dir))
        else:
            data = tmp / "data"
            write_synthetic_files(data, n_train, n_test)
            source = f"temporary K49-format set ({n_train} train, {n_test} test images)"
        seconds = {}
        for n in (1, jobs):
            specs = plan(suite, [0], tmp / f"jobs{n}", data_dir=str(data), epochs=epochs,
                         limit_train=limit_train)
            say(quiet, f"bench: run_suite of {len(specs)} runs with jobs={n} ...")
            start = time.perf_counter()
            results = run_suite(specs, out=tmp / f"jobs{n}", jobs=n, quiet=True)
            seconds[n] = time.perf_counter() - start
            failed = [r for r in results if r["status"] != "done"]
            if failed:
                raise K49Error(f"run_suite(jobs={n}) in the bench failed: "
                               f"{failed[0]['label']}: {failed[0]['error']}")
    torch.set_num_threads(before)  # jobs=1 trains in this process and sets its threads
    cpus = os.cpu_count() or 1
    return {
        "models": list(models), "epochs": epochs, "limit_train": limit_train, "data": source,
        "jobs": jobs, "threads_jobs1": cpus, f"threads_jobs{jobs}": max(1, cpus // jobs),
        "seconds_jobs1": seconds[1], f"seconds_jobs{jobs}": seconds[jobs],
        "speedup": seconds[1] / seconds[jobs],
        "goal": JOBS_SPEEDUP_GOAL, "goal_met": seconds[1] / seconds[jobs] >= JOBS_SPEEDUP_GOAL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rss-child", required=True, metavar="JSON",
                        help="[model, max_steps, n_train, n_test, threads]")
    args = parser.parse_args(argv)
    print(RSS_LINE + json.dumps(rss_child(*json.loads(args.rss_child))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
