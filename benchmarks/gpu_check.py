"""The GPU check: the seed study at full size on one CUDA device, timed.

    python benchmarks/gpu_check.py [--out DIR] [--json FILE] [--budget SECONDS] [--jobs N]
    python benchmarks/gpu_check.py --smoke      # the smallest path, on any machine

It prints torch's CUDA version and the device, generates the synthetic set at full size
(scale 1.0: 232,365 training and 38,547 test images), plans the runs to fit `--budget` seconds
of training (estimated from each model's FLOPs and its number of optimizer steps; a model that
would not fit gets fewer epochs, and the JSON says so), trains the seed's 12 models on the
seed protocol (10 epochs, batch 128, 30% validation) with `resnet_fast` (its recipe) and
`preact_resnet18`, then writes the report, and records per model the training seconds,
images/s, peak GPU memory and test balanced accuracy, and the wall time of the whole study
and of its report: one JSON (default benchmarks/results/gpu.json) and a table.

Without a CUDA device it stops with one line and exit code 2, unless `--smoke`: two small
models for one epoch on a tiny set, on whatever device there is, to check the script itself.
scripts/gpu-check.sh runs it after the CUDA tests on a machine with torch already installed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49 import K49Error, RunDir, load_dataset, metrics, run_study
from k49.data.synthetic import generate
from k49.io import default_threads
from k49.models import get_entry, list_models, model_info
from k49.study.suites import Suite, SuiteModel

RESULTS = Path(__file__).resolve().parent / "results"
#: The seed study, then the recipe and the paper's ResNet.
MODELS = (*list_models(tag="original"), "resnet_fast", "preact_resnet18")
SEED_PROTOCOL = {"epochs": 10, "batch_size": 128, "val_fraction": 0.3}
#: Sizing constants, measured once on an H200 (shared/reference/gpu-facts.md): a step of a
#: model with almost no arithmetic took 2-4 ms (launches and Python), CNN_dense_batch_norm
#: ran at about 13.5 TFLOP/s, and 4 runs at once took about a third of their summed time.
STEP_SECONDS = 0.003
FLOPS_PER_SECOND = 13e12
CONCURRENT_SHARE = 0.35
SMOKE = {"models": ("NN_2_adam", "CNN_1_adam"), "scale": 0.01, "epochs": 1, "limit_train": 500}


def device_facts() -> dict[str, Any]:
    """torch, its CUDA and the device it will train on."""
    facts: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                             "python": platform.python_version(),
                             "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts.update(device=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                     bf16=torch.cuda.is_bf16_supported())
    return facts


def estimate_seconds(model: str, epochs: int, train_images: int, batch_size: int) -> float:
    """One run's training seconds on its own: its steps' fixed cost plus its arithmetic
    (3 x the forward FLOPs per image: forward, and backward at about twice that)."""
    flops = model_info(model)["flops"] or 0
    steps = epochs * math.ceil(train_images / batch_size)
    return steps * STEP_SECONDS + 3 * flops * train_images * epochs / FLOPS_PER_SECOND


def plan(models: tuple[str, ...], train_images: int, budget: float, jobs: int
         ) -> tuple[list[dict[str, Any]], float]:
    """Each model's epochs and estimated seconds under the seed protocol (a recipe keeps its
    own), cutting the epochs of the most expensive models until the study's estimated wall
    time fits `budget`; returns the plan and that estimate."""
    runs = []
    for name in models:
        recipe = get_entry(name).recipe
        epochs = recipe.get("epochs", SEED_PROTOCOL["epochs"])
        batch = recipe.get("batch_size", SEED_PROTOCOL["batch_size"])
        runs.append({"model": name, "epochs": epochs, "protocol_epochs": epochs,
                     "batch_size": batch})

    def wall() -> float:
        for r in runs:
            r["estimated_seconds"] = estimate_seconds(r["model"], r["epochs"], train_images,
                                                      r["batch_size"])
        total = sum(r["estimated_seconds"] for r in runs)
        return total if jobs == 1 else max(total * CONCURRENT_SHARE,
                                           max(r["estimated_seconds"] for r in runs))

    while wall() > budget:
        worst = max((r for r in runs if r["epochs"] > 1), key=lambda r: r["estimated_seconds"],
                    default=None)
        if worst is None:
            break
        worst["epochs"] -= 1
    for r in runs:
        r["cut"] = r["epochs"] < r["protocol_epochs"]
    return runs, wall()


def run_facts(run_dir: Path) -> dict[str, Any]:
    """What one finished run measured: its seconds, speed, memory and test score."""
    run = RunDir(run_dir)
    timings, history = run.read_timings(), run.read_history()
    labels, probs = run.read_predictions()
    steady = [h["images_per_s"] for h in history[1:]] or [h["images_per_s"] for h in history]
    return {"train_seconds": round(timings["train_seconds"], 2),
            "epochs_trained": len(history),
            "images_per_s": round(float(np.median(steady)), 1) if steady else None,
            "peak_gpu_memory_mib": timings.get("peak_device_memory_mib"),
            "test_balanced_accuracy": round(metrics.balanced_accuracy(labels, probs), 4)}


def table(result: dict[str, Any]) -> str:
    """The per-model results as a Markdown table."""
    lines = ["| model | epochs | training (s) | images/s | peak GPU memory (MiB) | "
             "test balanced accuracy (%) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["runs"]:
        mem = r.get("peak_gpu_memory_mib")
        cut = f" (of {r['protocol_epochs']})" if r["cut"] else ""
        lines.append(f"| {r['model']} | {r['epochs_trained']}{cut} | {r['train_seconds']:.1f} | "
                     f"{r['images_per_s'] or 0:,.0f} | {'-' if mem is None else f'{mem:,.0f}'} |"
                     f" {100 * r['test_balanced_accuracy']:.2f} |")
    return "\n".join(lines)


def check(out: Path, *, budget: float, jobs: int, smoke: bool, report: bool) -> dict[str, Any]:
    """Generate, plan, train, report; the result as JSON-ready dict."""
    facts = device_facts()
    if not smoke and not facts["cuda_available"]:
        raise K49Error("no CUDA device: torch " + torch.__version__ + " sees none; run this "
                       "on a machine with an NVIDIA GPU, or pass --smoke to check the script")
    t0 = time.perf_counter()
    data_dir = out / "data"
    scale = SMOKE["scale"] if smoke else 1.0
    generate(data_dir, scale=scale, seed=0, progress=False)
    ds = load_dataset("synthetic", data_dir, progress=False)
    generation = time.perf_counter() - t0
    models = SMOKE["models"] if smoke else MODELS
    overrides: dict[str, Any] = {"device": "auto" if smoke else "cuda"}
    train_images = round(len(ds.train_labels) * (1 - SEED_PROTOCOL["val_fraction"]))
    if smoke:
        overrides["limit_train"] = SMOKE["limit_train"]
        train_images = SMOKE["limit_train"]
    runs, estimate = plan(models, train_images, budget, jobs)
    if smoke:
        for r in runs:
            r.update(epochs=SMOKE["epochs"], cut=r["protocol_epochs"] != SMOKE["epochs"])
    # TrainConfig's defaults are the seed protocol; a recipe (resnet_fast) keeps its own batch.
    suite = Suite(name="gpu-check", models=[SuiteModel(name=r["model"], epochs=r["epochs"])
                                            for r in runs])
    t1 = time.perf_counter()
    study = run_study(suite, seeds=[0], out=out / "runs", jobs=jobs, data_dir=data_dir,
                      make_report=False, quiet=True, **overrides)
    training = time.perf_counter() - t1
    if study.failed:
        first = study.failed[0]
        raise K49Error(f"{len(study.failed)} run(s) failed, first {first['label']}: "
                       f"{first['error']}")
    report_seconds = None
    if report:
        from k49 import write_report
        t2 = time.perf_counter()
        write_report(out / "runs", quiet=True, jobs=default_threads())
        report_seconds = time.perf_counter() - t2
    for r, row in zip(runs, study.runs, strict=True):
        r.update(run_facts(Path(row["run_dir"])))
    return {
        "what": "k49's seed study at full size on one CUDA device (synthetic data, not K49)"
                if not smoke else "smoke run of the GPU check (tiny set; not a measurement)",
        "synthetic": True, "smoke": smoke, "device": facts,
        "dataset": {"scale": scale, "train_images": len(ds.train_labels),
                    "test_images": len(ds.test_labels),
                    "fonts": (ds.synthetic_info or {}).get("fonts")},
        "protocol": {**SEED_PROTOCOL, "jobs": jobs, "precision":
                     "bfloat16 autocast on CUDA (float16 with loss scaling where bf16 is not "
                     "supported); float32 on the CPU"},
        "budget_seconds": budget, "estimated_seconds": round(estimate, 1),
        "cuts": [f"{r['model']}: {r['epochs']} of {r['protocol_epochs']} epochs"
                 for r in runs if r["cut"]],
        "seconds": {"generation": round(generation, 1), "training": round(training, 1),
                    "report": None if report_seconds is None else round(report_seconds, 1),
                    "study": round(training + (report_seconds or 0.0), 1)},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"),
                        help="folder for the data and the runs (default: gpu-check)")
    parser.add_argument("--json", type=Path, default=RESULTS / "gpu.json",
                        help="where to write the results")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds of training the plan must fit (default 240: with the "
                             "tests, the data and the report, the check takes under 8 "
                             "minutes on one H200)")
    parser.add_argument("--jobs", type=int, default=4, help="runs at once (default 4)")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not time the report")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest path on any device: checks the script, measures "
                             "nothing")
    args = parser.parse_args(argv)
    try:
        result = check(args.out, budget=args.budget, jobs=1 if args.smoke else args.jobs,
                       smoke=args.smoke, report=args.report)
    except K49Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(args.json.name + ".part")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.json)
    print(f"{result['what']}: {result['device'].get('device', 'no CUDA device')}, "
          f"torch {result['device']['torch']} (CUDA {result['device']['cuda']})")
    print(table(result))
    print(f"study: {result['seconds']['study']} s (training {result['seconds']['training']} s, "
          f"report {result['seconds']['report']} s); written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
