"""Benchmark training: k49's loop against a plain DataLoader loop, peak memory, parallel runs.

    python benchmarks/bench_training.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_training.py --quick    # a short version (fewer steps, smaller runs)
    python benchmarks/bench_training.py --models NN_2_adam,CNN_1_adam --no-full

Writes benchmarks/results/training.json (or --out). Goals: our loop >= 1.2x the DataLoader
loop on every model; peak RSS of a full-size (232,365 + 38,547 images) run <= 1.5 GB;
`run_suite(jobs=2)` >= 1.4x faster than jobs=1. Timings need a quiet machine: other processes
slow the runs down (the best of the alternated repeats counts, which helps but does not cure).
See k49.training.bench for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"


def table(report: dict) -> str:
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
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    args = parser.parse_args(argv)

    from k49.training.bench import run_bench

    kwargs = {}
    if args.quick:
        kwargs = dict(steps=5, warmup=2, repeats=1, rss_steps=20, jobs_epochs=2,
                      jobs_limit_train=6_000)
    if args.steps:
        kwargs["steps"] = args.steps
    report = run_bench(args.models.split(",") if args.models else None, full=not args.no_full,
                       threads=args.threads, **kwargs)
    report["quick"] = args.quick
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
