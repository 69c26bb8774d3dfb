"""Time to accuracy: the resnet_fast recipe against CNN_dense_batch_norm under the seed protocol.

Goal (issue 11): reach CNN_dense_batch_norm's test balanced accuracy (10 epochs, batch 128, Adam)
in at most a fifth of its training time, as the mean of 3 seeds for both, on the synthetic set
at scale 0.25, on this CPU. Training time is the sum of the epochs' training seconds (validation
and test excluded). Every run is also scored on the test split of a second synthetic set, built
with another seed and scale, so a recipe that only fits one set shows. With --ablation, the
recipe is also trained (one seed each) with one lever changed at a time.

Runs are k49 run directories under --out: an interrupted benchmark resumes, and complete runs
are not trained again. Usage:

    python benchmarks/bench_time_to_accuracy.py [--data-dir D] [--out DIR] [--seeds 0,1,2]
        [--ablation] [--dataset synthetic|k49] [--json]

Results go to benchmarks/results/time_to_accuracy.json (time_to_accuracy_k49.json for K49).
The synthetic runs are synthetic data, not K49; `--dataset k49` runs the same comparison on
the real K49 (downloaded into --data-dir, default k49's data folder, if not there), without
the second set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from k49.data.datasets import default_data_dir
from k49.data.load import load_dataset
from k49.data.synthetic import generate
from k49.deploy.predict import Predictor
from k49.evaluation.metrics import balanced_accuracy
from k49.evaluation.run import evaluate_run
from k49.evaluation.time_to_accuracy import time_to_reach
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.training.trainer import train

BASELINE, RECIPE = "CNN_dense_batch_norm", "resnet_fast"
SCALE, SECOND = 0.25, {"scale": 0.1, "seed": 1}
#: One lever changed at a time (label: TrainConfig overrides of the recipe).
ABLATIONS = {
    "global average pooling (grid 1), not the 7x7 grid": {"model_args": {"grid": 1}},
    "constant lr 1e-3 (no one-cycle)": {"schedule": "constant", "lr": 1e-3},
    "batch 128, lr 2e-3": {"batch_size": 128, "lr": 2e-3},
    "cross-entropy (no label smoothing)": {"loss": "cross_entropy"},
    "+ EMA 0.99": {"ema": 0.99},
    "no augmentation": {"augment": "none"},
    "3 epochs": {"epochs": 3},
    "4 epochs": {"epochs": 4},
    "7 epochs": {"epochs": 7},
}


def dataset(data_dir: Path, scale: float, seed: int, quiet: bool):
    if not (data_dir / "synthetic" / "synthetic.json").exists():
        generate(data_dir, scale=scale, seed=seed, progress=not quiet)
    return load_dataset("synthetic", data_dir, offline=True, progress=False)


def run_one(label: str, config: TrainConfig, out: Path, ds, second, quiet: bool) -> dict:
    run_dir = out / label / f"seed-{config.seed}"
    result = train(config, run_dir, dataset=ds, quiet=quiet)
    metrics = evaluate_run(run_dir)
    probs = None if second is None else Predictor.from_run(run_dir).proba(second.test_images)
    return {"label": label, "seed": config.seed, "run_dir": str(run_dir),
            "train_seconds": result.timings["train_seconds"],
            "epochs": len(result.history),
            "test_balanced_accuracy": metrics["balanced_accuracy"],
            "test_ci": metrics["intervals"]["balanced_accuracy"],
            "second_set_balanced_accuracy": (
                None if second is None else balanced_accuracy(second.test_labels, probs)),
            "history": RunDir(run_dir).read_history()}


def summary(runs: list[dict], key: str) -> dict | None:
    values = [r[key] for r in runs if r[key] is not None]
    if not values:
        return None
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tmp = Path(tempfile.gettempdir())
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="synthetic: where the two sets are made (default: TMP/k49-tta); "
                             "k49: k49's data folder")
    parser.add_argument("--out", type=Path, default=tmp / "k49-tta-runs")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--dataset", choices=("synthetic", "k49"), default="synthetic")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet = args.json
    seeds = [int(s) for s in args.seeds.split(",")]
    synthetic = args.dataset == "synthetic"
    if synthetic:
        data_dir = (args.data_dir or tmp / "k49-tta") / "main"
        ds = dataset(data_dir, SCALE, 0, quiet)
        second = dataset(data_dir.parent / "second", SECOND["scale"], SECOND["seed"], quiet)
    else:
        data_dir = args.data_dir or default_data_dir()
        ds, second = load_dataset("k49", data_dir, progress=not quiet), None
    common = {"dataset": args.dataset, "data_dir": str(data_dir)}

    runs: dict[str, list[dict]] = {BASELINE: [], RECIPE: []}
    for label in (RECIPE, BASELINE):  # the recipe first: its numbers arrive early
        for seed in seeds:
            runs[label].append(run_one(label, TrainConfig(model=label, seed=seed, **common),
                                       args.out, ds, second, quiet))
    base_time = summary(runs[BASELINE], "train_seconds")["mean"]
    target = summary(runs[BASELINE], "test_balanced_accuracy")["mean"]
    final_val = statistics.fmean(r["history"][-1]["val_balanced_accuracy"]
                                 for r in runs[BASELINE])
    result = {"dataset": args.dataset, "synthetic": synthetic,
              "scale": SCALE if synthetic else None,
              "second_set": SECOND if synthetic else None, "seeds": seeds,
              "baseline": BASELINE, "recipe": RECIPE, "models": {}}
    for label, rs in runs.items():
        reach = [time_to_reach(r["history"], final_val) for r in rs]
        result["models"][label] = {
            "train_seconds": summary(rs, "train_seconds"),
            "test_balanced_accuracy": summary(rs, "test_balanced_accuracy"),
            "second_set_balanced_accuracy": summary(rs, "second_set_balanced_accuracy"),
            "seconds_to_baseline_final_val": reach,
            "runs": [{k: v for k, v in r.items() if k != "history"} for r in rs],
        }
    fast = result["models"][RECIPE]
    ratio = fast["train_seconds"]["mean"] / base_time
    result["time_ratio"] = ratio
    result["goal_met"] = bool(ratio <= 0.2 and fast["test_balanced_accuracy"]["mean"] >= target)

    if args.ablation:
        result["ablation"] = {}
        for name, change in {"recipe": {}, **ABLATIONS}.items():
            config = TrainConfig(model=RECIPE, seed=seeds[0], **common, **change)
            label = RECIPE if not change else f"{RECIPE}-ablation-{len(result['ablation'])}"
            r = run_one(label, config, args.out, ds, second, quiet)
            result["ablation"][name] = {k: r[k] for k in (
                "train_seconds", "test_balanced_accuracy", "second_set_balanced_accuracy")}

    text = json.dumps(result, indent=1)
    out = Path(__file__).parent / "results" / (
        "time_to_accuracy.json" if synthetic else "time_to_accuracy_k49.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        tag = "synthetic data, not K49" if synthetic else "K49"
        for label, m in result["models"].items():
            second_set = m["second_set_balanced_accuracy"]
            print(f"{label}: {m['train_seconds']['mean']:.0f} s training, test balanced accuracy "
                  f"{100 * m['test_balanced_accuracy']['mean']:.2f}%"
                  + (f", second set {100 * second_set['mean']:.2f}%" if second_set else "")
                  + f" ({tag})")
        print(f"time ratio {ratio:.3f} (goal <= 0.2); goal met: {result['goal_met']}")


if __name__ == "__main__":
    main()
