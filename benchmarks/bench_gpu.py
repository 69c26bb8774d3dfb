"""The GPU benchmark: k49's training speed on one CUDA device, against a plain PyTorch loop
and Keras, and the seed study at full size with its report, timed.

    python benchmarks/bench_gpu.py [--out DIR] [--json FILE] [--budget SECONDS]
    python benchmarks/bench_gpu.py --smoke      # the smallest path, on any machine

It generates the synthetic set at full size (scale 1.0: K49's shapes, 232,365 training and
38,547 test images; synthetic data, not K49), then runs four parts, writing the JSON (default
benchmarks/results/gpu.json) after each, so a call cut short keeps what it measured:

1. **throughput**: for each seed model, steady-state training images/s, step time and
   achieved TFLOP/s (3 x the forward FLOPs per image) on the seed's training shapes (batch
   128), for k49's step as `train` runs it on CUDA (captured as a CUDA graph), the same step
   eager (as with K49_CUDA_GRAPHS=0), a plain PyTorch loop (data on the device, torch's
   default optimizer, bfloat16 autocast, no graph) and, for THROUGHPUT_COMPILED, k49's graph
   with --compile (its compile seconds too). Keras 3.15 on JAX 0.11, measured once on an
   H200 (shared/reference/gpu-facts.md), is the reference the ratios are taken to.
2. **study**: the seed study (12 models, 10 epochs, batch 128, 30% validation) with
   `--jobs auto`, then its report: wall times, and per run its seconds, images/s, memory,
   test balanced accuracy and how it ran (graph, autocast, TF32).
3. **precision**: PRECISION_MODELS again with --precision fp32; each auto-precision run's
   test balanced accuracy against the fp32 run's 95% bootstrap interval.
4. **extra**: resnet_fast (its recipe) and preact_resnet18, epochs cut to the budget left.

Without a CUDA device it stops with one line and exit code 2, unless `--smoke`: two small
models on a tiny set, on whatever device there is, to check the script itself.
scripts/gpu-check.sh runs it after the CUDA tests on a machine with torch already installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from training_speed import OurLoop, build_baseline

from k49 import K49Error, RunDir, load_dataset, metrics, run_study, write_report
from k49.data.synthetic import generate
from k49.evaluation.stats import bootstrap_intervals
from k49.io import default_threads
from k49.models import get_entry, list_models, model_info
from k49.study.suites import Suite, SuiteModel
from k49.training.components import GRAPH_SWITCH

RESULTS = Path(__file__).resolve().parent / "results"
SEED_MODELS = tuple(list_models(tag="original"))
EXTRA_MODELS = ("resnet_fast", "preact_resnet18")
SEED_PROTOCOL = {"epochs": 10, "batch_size": 128, "val_fraction": 0.3}
#: Keras 3.15.1 on JAX 0.11.2 (jit, fp32, fed from host NumPy), steady-epoch training
#: images/s on one H200, measured once on main 21e37d0 (shared/reference/gpu-facts.md).
KERAS_IMAGES_PER_S = {"NN_2_adam": 108_000, "CNN_2_adam": 77_500,
                      "CNN_dense_batch_norm": 60_200}
#: The goal of issue 24: k49 at 1.5x Keras's images/s for each of those models.
KERAS_GOAL = 1.5
THROUGHPUT_COMPILED = ("CNN_dense_batch_norm",)
PRECISION_MODELS = tuple(KERAS_IMAGES_PER_S)
#: Seconds each throughput measurement runs for, after its warm-up steps.
MEASURE_SECONDS, WARMUP_STEPS = 1.5, 30
#: Sizing of the extra models' epochs (eager steps: their augmentation draws on the host):
#: a step's fixed cost, the arithmetic rate, and the share of their summed time 4 runs at
#: once took, measured on an H200 (shared/reference/gpu-facts.md).
STEP_SECONDS = 0.003
FLOPS_PER_SECOND = 13e12
CONCURRENT_SHARE = 0.35
SMOKE = {"models": ("NN_2_adam", "CNN_1_adam"), "scale": 0.01, "epochs": 1, "limit_train": 500,
         "steps": 6}
FLOPS_NOTE = "TFLOP/s = images/s x 3 x forward FLOPs per image / 1e12 (backward ~ 2x forward)"
PLAIN_NOTE = ("the textbook loop on the device: x[idx] of the uint8 images on the GPU, "
              "randperm on the GPU, torch's default optimizer (foreach), bfloat16 autocast, "
              "NCHW, torch's default cuDNN and TF32 settings, zero_grad/backward/step, no CUDA "
              "graph, no per-step sync")


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


# ---------------------------------------------------------------------------------------------
# 1. Throughput


class PlainLoop:
    """The loop a PyTorch user writes for data that fits on the GPU (PLAIN_NOTE)."""

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                 class_counts: np.ndarray, batch_size: int = 128):
        # torch's defaults, which k49's runs before it in this process changed
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        self.model, self.optimizer, self.loss_fn = build_baseline(name, device, class_counts)
        self.model.train()
        self.x, self.y, self.device, self.batch_size = x, y, device, batch_size
        self.perm, self.position = torch.randperm(len(x), device=device), 0

    def run(self, n: int) -> int:
        batch = self.batch_size
        for _ in range(n):
            if self.position + batch > len(self.x):
                self.perm, self.position = torch.randperm(len(self.x), device=self.device), 0
            idx = self.perm[self.position:self.position + batch]
            self.position += batch
            x = self.x[idx].unsqueeze(1).float().div(255.0)
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.device.type == "cuda"):
                loss = self.loss_fn(self.model(x).float(), self.y[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return n * batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steady_rate(loop, device: torch.device, *, warmup: int, seconds: float,
                min_steps: int) -> dict[str, float]:
    """Images/s and step time of `loop` after `warmup` steps, over about `seconds`."""

    def timed(steps: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        images = loop.run(steps)
        _sync(device)
        return time.perf_counter() - t0, images

    warm, _ = timed(warmup)
    probe = max(min_steps, 10)
    per_step = timed(probe)[0] / probe
    steps = max(min_steps, min(20_000, int(seconds / max(per_step, 1e-6))))
    elapsed, images = timed(steps)
    return {"images_per_s": round(images / elapsed, 1),
            "step_ms": round(1000 * elapsed / steps, 4), "steps": steps,
            "warmup_seconds": round(warm, 2)}


def throughput(models: tuple[str, ...], x: torch.Tensor, y: torch.Tensor, device: torch.device,
               *, warmup: int, seconds: float, min_steps: int, say) -> list[dict[str, Any]]:
    """Per model, the rate of each loop (see the module's docstring), and the ratios."""
    counts = np.bincount(y.cpu().numpy(), minlength=49)
    rows = []
    for name in models:
        flops = model_info(name)["flops"] or 0
        row: dict[str, Any] = {"model": name, "forward_mflops": round(flops / 1e6, 2)}
        loops = {"k49": lambda n=name: OurLoop(n, x, y, device, counts, graphed=True),
                 "k49_eager": lambda n=name: eager_loop(n, x, y, device, counts),
                 "plain": lambda n=name: PlainLoop(n, x, y, device, counts)}
        if name in THROUGHPUT_COMPILED:
            loops["k49_compiled"] = lambda n=name: OurLoop(n, x, y, device, counts,
                                                           graphed=True, compile=True)
        for label, make in loops.items():
            try:
                rate = steady_rate(make(), device, warmup=warmup, seconds=seconds,
                                   min_steps=min_steps)
            except K49Error as e:  # no graph off CUDA
                row[label] = {"skipped": str(e)}
                continue
            except Exception as e:  # noqa: BLE001 - one loop failing must not end the others
                row[label] = {"failed": f"{type(e).__name__}: {str(e).strip()[:300]}"}
                say(f"  {name} {label}: FAILED {row[label]['failed']}")
                continue
            rate["tflops"] = round(rate["images_per_s"] * 3 * flops / 1e12, 2)
            row[label] = rate
            say(f"  {name} {label}: {rate['images_per_s']:,.0f} img/s, "
                f"{rate['step_ms']:.3f} ms a step, {rate['tflops']} TFLOP/s")
        rows.append({**row, **ratios(row)})
    return rows


def eager_loop(name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
               class_counts: np.ndarray) -> OurLoop:
    """k49's loop built as `train` builds it under K49_CUDA_GRAPHS=0: every step eager, and
    an optimizer that is not made capturable for a graph it will never join."""
    with mock.patch.dict(os.environ, {GRAPH_SWITCH: "0"}):
        return OurLoop(name, x, y, device, class_counts)


def ratios(row: dict[str, Any]) -> dict[str, Any]:
    """k49's best measured rate (the graph's, else the eager step's) over the plain loop's
    and over Keras's; None where a side was not measured."""
    rate = next((row[k]["images_per_s"] for k in ("k49", "k49_eager")
                 if "images_per_s" in row.get(k, {})), None)
    plain = row.get("plain", {}).get("images_per_s")
    keras = KERAS_IMAGES_PER_S.get(row["model"])
    return {"k49_over_plain": round(rate / plain, 2) if rate and plain else None,
            **({"keras_images_per_s": keras,
                "k49_over_keras": round(rate / keras, 2) if rate else None} if keras else {})}


# ---------------------------------------------------------------------------------------------
# 2-4. Runs


def run_facts(run_dir: Path) -> dict[str, Any]:
    """What one finished run measured: its seconds, speed, memory, how it ran, and its test
    balanced accuracy with the 95% bootstrap interval."""
    run = RunDir(run_dir)
    timings, history = run.read_timings(), run.read_history()
    labels, probs = run.read_predictions()
    steady = [h["images_per_s"] for h in history[1:]] or [h["images_per_s"] for h in history]
    interval = bootstrap_intervals(labels, probs, n_resamples=1000)["balanced_accuracy"]
    return {"train_seconds": round(timings["train_seconds"], 2),
            "epochs_trained": len(history),
            "images_per_s": round(float(np.median(steady)), 1) if steady else None,
            "peak_gpu_memory_mib": timings.get("peak_device_memory_mib"),
            **{k: timings.get(k) for k in ("cuda_graph", "eager_because", "autocast", "tf32",
                                           "warmup_seconds")},
            "test_balanced_accuracy": round(metrics.balanced_accuracy(labels, probs), 4),
            "test_balanced_accuracy_interval": [round(v, 4) for v in interval]}


def train_suite(models: list[dict[str, Any]], out: Path, data_dir: Path, jobs: int | str,
                **overrides: Any) -> tuple[list[dict[str, Any]], float]:
    """Train `models` ({"model", "epochs"}) as one study; their facts (or, for a run that
    failed, its error) and the wall time."""
    suite = Suite(name=out.name, models=[SuiteModel(name=m["model"], epochs=m["epochs"])
                                         for m in models])
    t0 = time.perf_counter()
    study = run_study(suite, seeds=[0], out=out, jobs=jobs, data_dir=data_dir,
                      make_report=False, quiet=True, **overrides)
    seconds = time.perf_counter() - t0
    return [{**m, **(run_facts(Path(row["run_dir"])) if row["status"] != "failed"
                     else {"failed": row["error"]})}
            for m, row in zip(models, study.runs, strict=True)], seconds


def precision_check(auto: list[dict[str, Any]], fp32: list[dict[str, Any]]) -> list[dict]:
    """Each model's auto-precision balanced accuracy against its fp32 run's interval."""
    by_model = {r["model"]: r for r in auto if "failed" not in r}
    rows = []
    for ref in fp32:
        run = by_model.get(ref["model"])
        if run is None or "failed" in ref:
            continue
        low, high = ref["test_balanced_accuracy_interval"]
        rows.append({"model": ref["model"], "auto": run["test_balanced_accuracy"],
                     "autocast": run["autocast"], "fp32": ref["test_balanced_accuracy"],
                     "fp32_interval": [low, high], "fp32_images_per_s": ref["images_per_s"],
                     "within": low <= run["test_balanced_accuracy"] <= high})
    return rows


def seed_training_images(n_train: int) -> int:
    """About how many of `n_train` images the seed protocol trains on (the rest validate)."""
    return round(n_train * (1 - SEED_PROTOCOL["val_fraction"]))


def estimate_seconds(model: str, epochs: int, train_images: int, batch_size: int) -> float:
    """One eager run's training seconds on its own: its steps' fixed cost plus its arithmetic
    (3 x the forward FLOPs per image: forward, and backward at about twice that)."""
    flops = model_info(model)["flops"] or 0
    steps = epochs * math.ceil(train_images / batch_size)
    return steps * STEP_SECONDS + 3 * flops * train_images * epochs / FLOPS_PER_SECOND


def plan(models: tuple[str, ...], train_images: int, budget: float, jobs: int
         ) -> tuple[list[dict[str, Any]], float]:
    """Each model's epochs and estimated seconds under the seed protocol (a recipe keeps its
    own), cutting the epochs of the most expensive models until the estimated wall time fits
    `budget`; returns the plan and that estimate."""
    runs = []
    for name in models:
        recipe = get_entry(name).recipe
        epochs = recipe.get("epochs", SEED_PROTOCOL["epochs"])
        runs.append({"model": name, "epochs": epochs, "protocol_epochs": epochs,
                     "batch_size": recipe.get("batch_size", SEED_PROTOCOL["batch_size"])})

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


# ---------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    """The parts in order, the JSON rewritten after each, within `budget` seconds."""

    def __init__(self, out: Path, json_path: Path, *, budget: float, smoke: bool,
                 report: bool, quiet: bool):
        self.out, self.json_path, self.budget, self.smoke = out, json_path, budget, smoke
        self.report, self.quiet = report, quiet
        self.start = time.perf_counter()
        self.result: dict[str, Any] = {}

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def save(self) -> None:
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.json_path.with_name(self.json_path.name + ".part")
        tmp.write_text(json.dumps(self.result, indent=2) + "\n")
        tmp.replace(self.json_path)

    def run(self) -> dict[str, Any]:
        facts = device_facts()
        if not self.smoke and not facts["cuda_available"]:
            raise K49Error("no CUDA device: torch " + torch.__version__ + " sees none; run "
                           "this on a machine with an NVIDIA GPU, or pass --smoke to check "
                           "the script")
        smoke = self.smoke
        device = torch.device("cuda" if facts["cuda_available"] else "cpu")
        t0 = time.perf_counter()
        data_dir = self.out / "data"
        scale = SMOKE["scale"] if smoke else 1.0
        generate(data_dir, scale=scale, seed=0, progress=False)
        ds = load_dataset("synthetic", data_dir, progress=False)
        self.result = {
            "what": "k49 on one CUDA device: training speed and the seed study at full size "
                    "(synthetic data, not K49)" if not smoke else
                    "smoke run of the GPU benchmark (tiny set; not a measurement)",
            "synthetic": True, "smoke": smoke, "device": facts,
            "dataset": {"scale": scale, "train_images": len(ds.train_labels),
                        "test_images": len(ds.test_labels)},
            "protocol": SEED_PROTOCOL, "budget_seconds": self.budget,
            "seconds": {"generation": round(time.perf_counter() - t0, 1)},
            "notes": {"flops": FLOPS_NOTE, "plain": PLAIN_NOTE,
                      "keras": "Keras 3.15.1 on JAX 0.11.2, one H200, main 21e37d0 "
                               "(shared/reference/gpu-facts.md); not rerun here"},
        }
        self.save()
        models = SMOKE["models"] if smoke else SEED_MODELS
        self._throughput(models, ds, device)
        self._study(models, data_dir, device)
        self._precision(data_dir, device)
        self._extra(data_dir, device, len(ds.train_labels))
        self.save()
        return self.result

    def _throughput(self, models, ds, device) -> None:
        self.say("throughput (steady-state training steps, batch 128):")
        train = seed_training_images(len(ds.train_labels))
        x = torch.from_numpy(ds.train_images[:train]).to(device)
        y = torch.from_numpy(ds.train_labels[:train]).to(device)
        steps = SMOKE["steps"]
        self.result["throughput"] = throughput(
            models, x, y, device, say=self.say,
            warmup=steps if self.smoke else WARMUP_STEPS,
            seconds=0.0 if self.smoke else MEASURE_SECONDS, min_steps=steps)
        self.save()

    def _overrides(self, device) -> dict[str, Any]:
        extra = {"limit_train": SMOKE["limit_train"]} if self.smoke else {}
        return {"device": device.type, **extra}

    def _study(self, models, data_dir, device) -> None:
        epochs = SMOKE["epochs"] if self.smoke else SEED_PROTOCOL["epochs"]
        self.say(f"the seed study ({len(models)} models, {epochs} epochs, --jobs auto)...")
        runs, training = train_suite([{"model": m, "epochs": epochs} for m in models],
                                     self.out / "study", data_dir, "auto",
                                     **self._overrides(device))
        report = None
        if self.report:
            t0 = time.perf_counter()
            write_report(self.out / "study", quiet=True, jobs=default_threads())
            report = time.perf_counter() - t0
        self.result["seconds"].update(
            training=round(training, 1), report=None if report is None else round(report, 1),
            study=round(training + (report or 0.0), 1))
        self.result["study"] = runs
        self.save()

    def _precision(self, data_dir, device) -> None:
        models = [m for m in PRECISION_MODELS
                  if m in {r["model"] for r in self.result["study"] if "failed" not in r}]
        if not models or self.left() < 60:
            self.result["precision"] = {"skipped": "budget" if models else "no such models"}
            return
        self.say(f"{', '.join(models)} again in float32...")
        epochs = self.result["study"][0]["epochs"]
        fp32, seconds = train_suite([{"model": m, "epochs": epochs} for m in models],
                                    self.out / "fp32", data_dir, "auto", precision="fp32",
                                    **self._overrides(device))
        self.result["precision"] = {"seconds": round(seconds, 1),
                                    "runs": precision_check(self.result["study"], fp32)}
        self.save()

    def _extra(self, data_dir, device, n_train: int) -> None:
        if self.smoke or self.left() < 30:
            self.result["extra"] = {"skipped": "smoke" if self.smoke else "budget"}
            return
        runs, estimate = plan(EXTRA_MODELS, seed_training_images(n_train), self.left() - 20,
                              jobs=2)
        self.say(f"{', '.join(EXTRA_MODELS)} (estimated {estimate:.0f} s)...")
        facts, seconds = train_suite(runs, self.out / "extra", data_dir, 2,
                                     **self._overrides(device))
        self.result["extra"] = {"seconds": round(seconds, 1), "runs": facts,
                                "cuts": [f"{r['model']}: {r['epochs']} of "
                                         f"{r['protocol_epochs']} epochs"
                                         for r in runs if r["cut"]]}
        self.save()


def tables(result: dict[str, Any]) -> str:
    """The throughput and the study as Markdown tables."""
    lines = ["| model | k49 img/s (graph) | step (ms) | TFLOP/s | k49 eager img/s | "
             "plain PyTorch img/s | x plain | x Keras |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result.get("throughput", []):
        k49 = r["k49"] if "images_per_s" in r["k49"] else None
        graph = (f"{k49['images_per_s']:,.0f} | {k49['step_ms']:.3f} | {k49['tflops']}"
                 if k49 else "- | - | -")
        eager, plain = (f"{r[k]['images_per_s']:,.0f}" if "images_per_s" in r[k] else "failed"
                        for k in ("k49_eager", "plain"))
        lines.append(f"| {r['model']} | {graph} | {eager} | {plain} | "
                     f"{r['k49_over_plain'] or '-'} | {r.get('k49_over_keras') or '-'} |")
    lines += ["", "| model | epochs | training (s) | images/s | graph | peak GPU memory (MiB) | "
              "test balanced accuracy (%) |", "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in result.get("study", []):
        if "failed" in r:
            lines.append(f"| {r['model']} | failed: {r['failed'][:60]} | | | | | |")
            continue
        mem = r.get("peak_gpu_memory_mib")
        lines.append(f"| {r['model']} | {r['epochs_trained']} | {r['train_seconds']:.1f} | "
                     f"{r['images_per_s'] or 0:,.0f} | {'yes' if r['cuda_graph'] else 'no'} | "
                     f"{'-' if mem is None else f'{mem:,.0f}'} | "
                     f"{100 * r['test_balanced_accuracy']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-bench"),
                        help="folder for the data and the runs (default: gpu-bench)")
    parser.add_argument("--json", type=Path, default=RESULTS / "gpu.json",
                        help="where to write the results")
    parser.add_argument("--budget", type=float, default=330.0,
                        help="seconds the parts must fit; the precision and extra parts are "
                             "cut or skipped to keep it (default 330: with the CUDA tests, "
                             "the check takes under 8 minutes on one H200)")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not time the report")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest path on any device: checks the script, measures "
                             "nothing")
    args = parser.parse_args(argv)
    bench = Bench(args.out, args.json, budget=args.budget, smoke=args.smoke,
                  report=args.report, quiet=args.quiet)
    try:
        result = bench.run()
    except K49Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{result['what']}: {result['device'].get('device', 'no CUDA device')}, "
          f"torch {result['device']['torch']} (CUDA {result['device']['cuda']})")
    print(tables(result))
    seconds = result["seconds"]
    print(f"seed study: {seconds['study']} s (training {seconds['training']} s, report "
          f"{seconds['report']} s); written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
