"""Benchmark the synthetic K49-like generator: images per second and how K49-like they look.

    python benchmarks/bench_synthetic.py                 # scale 0.1, in memory
    python benchmarks/bench_synthetic.py --scale 0.02 --json
    python benchmarks/bench_synthetic.py --files    # time generate() end to end, with files

Target: at least 5,000 images/s on a 2-core CPU (one render thread per core, each running one
torch thread; pipeline.renderers). The image statistics are compared with those of
real K49 (k49.data.stats.K49_REFERENCE).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from k49.data import synthetic  # noqa: E402
from k49.data.stats import K49_REFERENCE, image_stats  # noqa: E402
from k49.errors import K49Error  # noqa: E402
from k49.io import default_threads  # noqa: E402

TARGET_IMAGES_PER_SECOND = 5000


def run(scale: float = 0.1, seed: int = 0, files: bool = False, system_fonts: bool | None = None):
    """Generate a synthetic set of `scale` and return timings and image statistics."""
    if files:
        with tempfile.TemporaryDirectory() as tmp:
            report = synthetic.generate(tmp, scale=scale, seed=seed, progress=False,
                                        system_fonts=system_fonts)
        stats = report["stats"]["train"]
        result = {
            "mode": "generate (files included)",
            "images": report["train_size"] + report["test_size"],
            "template_seconds": report["template_seconds"],
            "seconds": report["seconds"],
            "images_per_second": report["images_per_second"],
            "threads": report["threads"],
            "renderers": report["renderers"],
            "templates": len(report["templates"]),
            "built_from": report["summary"],
        }
    else:
        train_counts, test_counts = synthetic.class_counts(scale)
        counts = train_counts + test_counts
        workers = default_threads()
        with synthetic.renderers(workers) as pool:
            start = time.perf_counter()
            templates = synthetic.build_templates(system_fonts)
            t_templates = time.perf_counter() - start
            start = time.perf_counter()
            images, _ = synthetic.synthesize(counts, seed, templates, pool=pool)
            seconds = time.perf_counter() - start
        stats = image_stats(images)
        result = {
            "mode": "synthesize (in memory)",
            "images": int(counts.sum()),
            "template_seconds": round(t_templates, 3),
            "seconds": round(seconds, 3),
            "images_per_second": round(int(counts.sum()) / seconds, 1),
            "threads": synthetic.THREADS,
            "renderers": workers,
            "templates": int(len(templates.labels)),
            "built_from": templates.describe(),
        }
        del images
    result.update(
        scale=scale,
        target_images_per_second=TARGET_IMAGES_PER_SECOND,
        meets_target=result["images_per_second"] >= TARGET_IMAGES_PER_SECOND,
        stats=stats,
        reference=dict(K49_REFERENCE),
        relative_error={k: round(stats[k] / v - 1, 4) for k, v in K49_REFERENCE.items()},
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of K49's size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", action="store_true", help="time generate() with file writing")
    parser.add_argument("--no-system-fonts", action="store_true",
                        help="use only the font matplotlib-fontja ships")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    try:
        result = run(args.scale, args.seed, args.files, False if args.no_system_fonts else None)
    except K49Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"synthetic K49-like generator, {result['mode']}, scale {args.scale}")
    print(f"  {result['images']:,} images in {result['seconds']:.2f} s "
          f"(+{result['template_seconds']:.2f} s for {result['templates']} templates), "
          f"{result['renderers']} render thread(s) of {result['threads']} torch thread each")
    print(f"  {result['built_from']}")
    mark = "ok" if result["meets_target"] else "BELOW TARGET"
    print(f"  {result['images_per_second']:,.0f} images/s "
          f"(target {TARGET_IMAGES_PER_SECOND:,}: {mark})")
    print(f"  {'statistic':<16}{'synthetic':>11}{'real K49':>11}{'rel. error':>12}")
    for key, ref in result["reference"].items():
        print(f"  {key:<16}{result['stats'][key]:>11.3f}{ref:>11.3f}"
              f"{result['relative_error'][key]:>+12.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
