"""Time evaluation plus the whole report for 12 models on the full-size synthetic test set.

The goal (issue 4): at most 60 s on a 2-core CPU for 12 runs x 38,547 test images. The figures
are drawn by one process per core (OMP_NUM_THREADS=1 draws them in one, for comparison). The runs'
predictions are made up (no training), aligned with the real synthetic test labels, so the
report also draws example test images. Usage:

    python benchmarks/bench_report.py [--data-dir D] [--json]

D must hold (or will get) the full-size synthetic set (`k49 data synth --scale 1.0`, ~65 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))

from fake_study import SEED_MODELS, fake_run  # noqa: E402

from k49.data.load import load_dataset  # noqa: E402
from k49.io import default_threads  # noqa: E402
from k49.report.build import build_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "k49-full")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    ds = load_dataset("synthetic", args.data_dir, progress=not args.json)
    if len(ds.test_labels) != 38_547:
        from k49.data.synthetic import generate

        generate(args.data_dir, scale=1.0, progress=not args.json)
        ds = load_dataset("synthetic", args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "study"
        for i, model in enumerate(SEED_MODELS):
            fake_run(root / model / "seed-0", model, 0, 0.35 + 0.04 * i,
                     labels=ds.test_labels, data_dir=args.data_dir)
        t0 = time.perf_counter()
        result = build_report(root, recompute=True, jobs=default_threads())
        total = time.perf_counter() - t0
    out = {"runs": len(SEED_MODELS), "test_images": int(len(ds.test_labels)),
           "evaluation_s": round(result["seconds"]["evaluation"], 1),
           "figures_s": round(result["seconds"]["figures"], 1), "total_s": round(total, 1),
           "figure_files": sum(len(v) for v in result["figures"].values()),
           "cpus": os.cpu_count(), "figure_processes": default_threads(), "goal_s": 60}
    print(json.dumps(out) if args.json else
          "\n".join(f"{k:>14}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
