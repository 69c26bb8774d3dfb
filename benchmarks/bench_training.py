"""Benchmark training: k49's loop against a plain DataLoader loop, peak memory, parallel runs.

    python benchmarks/bench_training.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_training.py --quick    # a short version (fewer steps, smaller runs)
    python benchmarks/bench_training.py --models NN_2_adam,CNN_1_adam --no-full
    python benchmarks/bench_training.py --no-full --json   # the report as JSON on stdout

Writes benchmarks/results/training.json (or --out). Goals: our loop >= 1.2x the DataLoader
loop on every model; peak RSS of a full-size (232,365 + 38,547 images) run <= 1.5 GB;
`run_suite(jobs=2)` >= 1.4x faster than jobs=1. Timings need a quiet machine: other processes
slow the runs down (the best of the alternated repeats counts, which helps but does not cure).
What is measured and how: training_speed.py (the two loops, the matmul ceiling) and
training_scale.py (peak RSS in a child process, the jobs speed-up), beside this file.

Knobs for short runs (tests, CI) as environment variables, used when the argument is not given:
K49_BENCH_STEPS (timed steps per loop), K49_BENCH_IMAGES (in-memory images),
K49_BENCH_THREADS (torch threads; default: all cores, as training uses).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from training_scale import FULL_TEST, FULL_TRAIN, RSS_MODEL, measure_jobs, measure_rss
from training_speed import (
    BASELINE_NOTE,
    BATCH_SIZE,
    FLOPS_NOTE,
    N_IMAGES,
    SPEEDUP_GOAL,
    bench_model,
    env_int,
    matmul_gflops,
    random_images,
    say,
)

from k49.errors import K49Error
from k49.io import torch_threads
from k49.models import get_entry

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"

#: The default set: two MLPs, three CNNs, a ResNet; the speed part takes a minute or two.
DEFAULT_MODELS = ("NN_2_adam", "NN_dense_batch_norm", "CNN_1_adam", "CNN_2_adam",
                  "keras_simple_cnn", "resnet_small")

STEPS_ENV = "K49_BENCH_STEPS"
IMAGES_ENV = "K49_BENCH_IMAGES"
THREADS_ENV = "K49_BENCH_THREADS"


def run_bench(
    models: Sequence[str] | None = None,
    *,
    full: bool = False,
    data_dir: str | os.PathLike | None = None,
    quiet: bool = False,
    steps: int | None = None,
    warmup: int | None = None,
    repeats: int = 3,
    seconds: float = 2.0,
    n_images: int | None = None,
    threads: int | None = None,
    rss_steps: int = 200,
    rss_model: str = RSS_MODEL,
    jobs_epochs: int = 10,
    jobs_limit_train: int | None = None,
) -> dict[str, Any]:
    """Training speed of each model, ours against a DataLoader loop; see the module docstring.

    Args:
        models: model names (default `DEFAULT_MODELS`).
        full: also measure the peak RSS of a full-size run (`rss_steps` steps of `rss_model`)
            and the speed-up of `run_suite(jobs=2)` over jobs=1 (`jobs_epochs` epochs of 4
            MLPs on a 23,237-image set, or `jobs_limit_train` of its images). Each spawned
            worker first spends ~3 s importing torch and scikit-learn, so runs must not be
            too short for jobs=2 to pay off.
        data_dir: where a synthetic set may already be; the jobs measurement uses it when
            complete (the speed measurement always uses random data in memory).
        quiet: no progress lines on stderr.
        steps: timed steps per loop and repeat (default: $K49_BENCH_STEPS, else enough for
            about `seconds` per timed run).
        warmup: untimed steps per loop first (default 3, at most `steps`).
        repeats: timed runs of each loop, alternated; the best counts.
        n_images: in-memory training images (default: $K49_BENCH_IMAGES, else 20,000).
        threads: torch threads (default: $K49_BENCH_THREADS, else all cores, like training).

    Returns a dict: "models" (one row per model: model, images_per_s, baseline_images_per_s,
    speedup, gflops, matmul_gflops, and the breakdown: step_ms, data_ms, ...), plus the
    settings, "matmul_gflops", notes and, when `full`, "rss" and "jobs".
    """
    names = [get_entry(m).name for m in (models or DEFAULT_MODELS)]
    steps = steps or env_int(STEPS_ENV)
    n_images = n_images or env_int(IMAGES_ENV) or N_IMAGES
    threads = threads or env_int(THREADS_ENV) or os.cpu_count() or 1
    if warmup is None:
        warmup = min(3, steps) if steps else 3
    if n_images < BATCH_SIZE:
        raise K49Error(f"the bench needs at least {BATCH_SIZE} images, got {n_images}")

    report: dict[str, Any] = {}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with torch_threads(threads):
        quick = steps is not None and steps < 10
        mm = matmul_gflops(size=1024 if quick else 2048, seconds=0.2 if quick else 1.0)
        say(quiet, f"bench: fp32 matmul {mm:.1f} GFLOP/s with {threads} threads")
        x, y = random_images(n_images)
        rows = []
        for name in names:
            row = bench_model(name, x, y, steps=steps, warmup=warmup, repeats=repeats,
                              seconds=seconds, matmul=mm)
            rows.append(row)
            say(quiet, f"bench: {name}: {row['images_per_s']:.0f} img/s (DataLoader loop "
                       f"{row['baseline_images_per_s']:.0f}), {row['speedup']:.2f}x, "
                       f"{row['gflops']:.1f} GFLOP/s")
        report["models"] = rows
        report.update({
            "matmul_gflops": mm,
            "threads": threads,
            "batch_size": BATCH_SIZE,
            "train_images": n_images,
            "data": "random uint8 images of K49's shape, in memory",
            "baseline": BASELINE_NOTE,
            "flops": FLOPS_NOTE,
            "speedup_goal": SPEEDUP_GOAL,
            "min_speedup": min(r["speedup"] for r in rows),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg")
            else None,
        })
        if load_before is not None and load_before > 0.5:
            report["warning"] = (f"the machine was busy (load average {load_before:.2f} at the "
                                 "start): other processes slow these timings down; rerun on a "
                                 "quiet machine")
    if full:
        say(quiet, f"bench: peak RSS of {rss_steps} steps of {rss_model} on "
                   f"{FULL_TRAIN:,} + {FULL_TEST:,} images (child process) ...")
        report["rss"] = measure_rss(rss_model, rss_steps, threads=threads)
        say(quiet, f"bench: peak RSS {report['rss']['peak_rss_mb']:.0f} MiB")
        report["jobs"] = measure_jobs(epochs=jobs_epochs, limit_train=jobs_limit_train,
                                      data_dir=Path(data_dir) if data_dir else None,
                                      quiet=quiet)
        say(quiet, f"bench: run_suite jobs=2 speed-up {report['jobs']['speedup']:.2f}x")
    return report


def table(report: dict) -> str:
    """The report as a text table, with the notes and the full-mode results below it."""
    head = (f"{'model':22} {'k49 img/s':>10} {'DL img/s':>10} {'speed-up':>9} {'GFLOP/s':>8} "
            f"{'% matmul':>8} {'step ms':>8} {'DL step':>8} {'data ms':>8} {'DL data':>8}")
    lines = [head, "-" * len(head)]
    for r in report["models"]:
        lines.append(
            f"{r['model']:22} {r['images_per_s']:10.0f} {r['baseline_images_per_s']:10.0f} "
            f"{r['speedup']:8.2f}x {r['gflops']:8.1f} {100 * r.get('fraction_of_matmul', 0):7.1f}% "
            f"{r['step_ms']:8.2f} {r['baseline_step_ms']:8.2f} {r['data_ms']:8.3f} "
            f"{r['baseline_data_ms']:8.3f}")
    lines += [
        "",
        f"fp32 matmul (2048x2048, {report['threads']} threads): "
        f"{report['matmul_gflops']:.1f} GFLOP/s; load average {report['load_average']}",
        f"{report['flops']}",
        f"DataLoader loop: {report['baseline']}",
        f"lowest speed-up {report['min_speedup']:.2f}x (goal {report['speedup_goal']}x)",
    ]
    if "warning" in report:
        lines.append(f"WARNING: {report['warning']}")
    if "rss" in report:
        rss = report["rss"]
        lines.append(
            f"peak RSS: {rss['peak_rss_mb']:.0f} MiB ({rss['model']}, {rss['steps']} steps on "
            f"{rss['train_images']:,} + {rss['test_images']:,} images; "
            f"{rss['rss_after_data_mb']:.0f} MiB after the data; goal {rss['goal_mb']:.0f} MiB)")
    if "jobs" in report:
        jobs = report["jobs"]
        n = jobs["jobs"]
        lines.append(
            f"run_suite jobs={n}: {jobs[f'seconds_jobs{n}']:.1f} s vs jobs=1 "
            f"{jobs['seconds_jobs1']:.1f} s: {jobs['speedup']:.2f}x (goal {jobs['goal']}x; "
            f"{len(jobs['models'])} runs, {jobs['epochs']} epochs, limit_train "
            f"{jobs['limit_train']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short version: 5 timed steps, 1 repeat, smaller full-mode runs")
    parser.add_argument("--models", help="comma-separated models (default: a representative set)")
    parser.add_argument("--no-full", action="store_true",
                        help="skip the peak-RSS and jobs measurements")
    parser.add_argument("--steps", type=int, help="timed steps per loop (default: ~2 s worth)")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--data-dir", type=Path,
                        help="where a synthetic set may be, for the jobs measurement "
                             "(default: a temporary set)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON instead of the table, without progress "
                             "lines (the file is written too)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    args = parser.parse_args(argv)

    kwargs: dict[str, Any] = {}
    if args.quick:
        kwargs = dict(steps=5, warmup=2, repeats=1, rss_steps=20, jobs_epochs=2,
                      jobs_limit_train=6_000)
    if args.steps:
        kwargs["steps"] = args.steps
    try:
        report = run_bench(args.models.split(",") if args.models else None,
                           full=not args.no_full, data_dir=args.data_dir, threads=args.threads,
                           quiet=args.json, **kwargs)
    except K49Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    report["quick"] = args.quick
    text = json.dumps(report, indent=2) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        print(text, end="")
    else:
        print(table(report))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
