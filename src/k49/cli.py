"""The `k49` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from k49.errors import K49Error

app = typer.Typer(
    help="Train, compare and explain neural networks on Kuzushiji-49.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Download, generate, inspect and plot datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)

# Options shared by every command that reads data.
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="K49_DATA_DIR",
        help="Where datasets live (default: the user's cache dir, e.g. ~/.cache/k49).",
    ),
]
DatasetName = Annotated[
    str, typer.Option("--dataset", "-d", help="Dataset: synthetic, k49 or kmnist.")
]
BaseUrls = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        help="Mirror to download from; repeat for several. Env: K49_BASE_URL (space-separated). "
        "Tried in order, the official host last.",
    ),
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Never download; fail if files are missing.")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _data_dir(data_dir: Path | None) -> Path:
    from k49.data.datasets import default_data_dir

    return data_dir if data_dir is not None else default_data_dir()


def _urls(dataset: str, cli_urls: list[str] | None) -> list[str]:
    """Mirrors from --base-url or K49_BASE_URL, the official host last."""
    from k49.data.datasets import get_spec
    from k49.data.fetch import base_urls_from

    spec = get_spec(dataset)
    if spec.synthetic:
        return []
    return base_urls_from(cli_urls or (), official=spec.official_url)


def _version(value: bool) -> None:
    if value:
        from k49 import __version__

        console.print(f"k49 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """Train, compare and explain neural networks on Kuzushiji-49."""


@data_app.command("fetch")
def data_fetch(
    dataset: DatasetName = "k49",
    data_dir: DataDir = None,
    base_url: BaseUrls = None,
) -> None:
    """Download a real dataset (k49 or kmnist), verify md5 and size, and cache it."""
    from k49.data.datasets import get_spec
    from k49.data.fetch import fetch

    spec = get_spec(dataset)
    paths = fetch(dataset, _data_dir(data_dir), base_urls=_urls(dataset, base_url))
    console.print(f"[green]{spec.title}[/] verified in {Path(next(iter(paths.values()))).parent}")


@data_app.command("synth")
def data_synth(
    data_dir: DataDir = None,
    scale: Annotated[
        float | None,
        typer.Option(help="Fraction of K49's size; 1.0 = 232,365 train / 38,547 test."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 0,
) -> None:
    """Generate the synthetic K49-like set in K49's file format."""
    from k49.data import synthetic

    report = synthetic.generate(
        _data_dir(data_dir), scale=synthetic.DEFAULT_SCALE if scale is None else scale, seed=seed
    )
    _print_synth_report(report)


def _print_synth_report(report: dict) -> None:
    table = Table(title="Fonts used (synthetic K49-like set)")
    table.add_column("font")
    table.add_column("templates", justify="right")
    for font in report.get("fonts", []):
        table.add_row(str(font.get("family", font.get("path"))), str(font.get("templates", "")))
    console.print(table)
    per_class = report.get("templates_per_class", {})
    if per_class:
        counts = list(per_class.values())
        console.print(
            f"templates per class: min {min(counts)}, max {max(counts)}; "
            f"{report.get('train_size')} train / {report.get('test_size')} test images "
            f"written to {report.get('dir')}"
        )


@data_app.command("info")
def data_info(
    dataset: DatasetName = "synthetic",
    data_dir: DataDir = None,
    offline: Offline = False,
    base_url: BaseUrls = None,
    as_json: JsonOut = False,
) -> None:
    """Show counts per class with their characters, image statistics and file verification."""
    from k49.data.info import dataset_info

    info = dataset_info(dataset, _data_dir(data_dir), offline=offline,
                        base_urls=_urls(dataset, base_url))
    if as_json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return
    title = info["title"]
    table = Table(title=f"{title}: images per class")
    for col in ("index", "char", "codepoint", "train", "test"):
        table.add_column(col, justify="right" if col in ("index", "train", "test") else "left")
    for row in info["classes"]:
        table.add_row(str(row["index"]), row["char"], row["codepoint"], str(row["train"]),
                      str(row["test"]))
    console.print(table)
    stats = Table(title=f"{title}: image statistics")
    stats.add_column("split")
    for key in next(iter(info["stats"].values())):
        stats.add_column(key, justify="right")
    for split, values in info["stats"].items():
        stats.add_row(split, *(f"{v:.3f}" for v in values.values()))
    console.print(stats)
    files = Table(title=f"{title}: files in {info['dir']}")
    files.add_column("file")
    files.add_column("status")
    for name, status in info["files"].items():
        colour = "green" if status in ("verified", "generated") else "red"
        files.add_row(name, f"[{colour}]{status}[/]")
    console.print(files)


@data_app.command("figures")
def data_figures(
    dataset: DatasetName = "synthetic",
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the figures.")
    ] = Path("figures"),
    data_dir: DataDir = None,
    offline: Offline = False,
    seed: Annotated[int, typer.Option(help="Seed for the choice of samples.")] = 0,
) -> None:
    """Make the seed's dataset figures (SVG and PNG, light and dark)."""
    from k49.data.datasets import REAL_SAMPLE
    from k49.data.figures import dataset_figures
    from k49.data.load import load_dataset

    ds = load_dataset(dataset, _data_dir(data_dir), offline=offline)
    paths = dataset_figures(ds, out, seed=seed, real_sample=REAL_SAMPLE)
    console.print(f"{len(paths)} figure files written to {out}/light and {out}/dark")


# Training options shared by `k49 train` and `k49 run`.
Epochs = Annotated[int | None, typer.Option(help="Epochs (seed protocol: 10).")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Batch size (seed: 128).")]
Lr = Annotated[float | None, typer.Option(help="Learning rate (default: the model's).")]
Loss = Annotated[
    str | None,
    typer.Option(help="cross_entropy, weighted_cross_entropy, focal or label_smoothing."),
]
LimitTrain = Annotated[
    int | None,
    typer.Option("--limit-train", help="Keep a stratified subset of N training images."),
]
Mixup = Annotated[
    str | None, typer.Option(help="none, input or manifold (preact_resnet18 only).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]


def _overrides(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _validated(make):
    """Build a pydantic object, turning a validation error into one line."""
    from pydantic import ValidationError

    try:
        return make()
    except ValidationError as e:
        err = e.errors()[0]
        raise K49Error(f"--{'-'.join(str(p) for p in err['loc']).replace('_', '-')}: "
                       f"{err['msg']}") from None


@app.command("models")
def models_cmd(as_json: JsonOut = False) -> None:
    """List the model zoo: the seed's 12, the published baselines and the ResNets."""
    from k49.models import list_models, model_info

    infos = [model_info(name) for name in list_models()]
    if as_json:
        keys = ("name", "family", "params", "flops", "description")
        print(json.dumps([{k: i[k] for k in keys} for i in infos], indent=2, ensure_ascii=False))
        return
    table = Table(title="k49 models")
    for col in ("name", "family", "params", "MFLOPs", "optimizer", "lr", "description"):
        table.add_column(col, justify="right" if col in ("params", "MFLOPs", "lr") else "left")
    for i in infos:
        flops = "-" if i["flops"] is None else f"{i['flops'] / 1e6:.1f}"
        table.add_row(i["name"], i["family"], f"{i['params']:,}", flops, i["optimizer"],
                      f"{i['lr']:g}", i["description"])
    console.print(table)


@app.command("train")
def train_cmd(
    model: Annotated[str, typer.Argument(help="Model name; see `k49 models`.")],
    dataset: DatasetName = "synthetic",
    data_dir: DataDir = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    lr: Lr = None,
    loss: Loss = None,
    seed: Annotated[int, typer.Option(help="Seed of split, initialisation, batch order.")] = 0,
    limit_train: LimitTrain = None,
    mixup: Mixup = None,
    device: Device = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default: runs/MODEL/seed-N).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Train one model; rerunning the same command resumes an interrupted run."""
    from k49.training.config import TrainConfig
    from k49.training.trainer import train

    config = _validated(lambda: TrainConfig(
        model=model, dataset=dataset, data_dir=str(_data_dir(data_dir)), seed=seed, device=device,
        **_overrides(epochs=epochs, batch_size=batch_size, lr=lr, loss=loss,
                     limit_train=limit_train, mixup=mixup)))
    from k49.models import get_entry

    run_dir = out or Path("runs") / get_entry(model).name / f"seed-{seed}"
    result = train(config, run_dir, quiet=quiet)
    if result.skipped:
        console.print(f"{run_dir} is already complete; nothing to do")
    else:
        console.print(f"trained {result.config.model} in {result.timings['train_seconds']:.1f} s;"
                      f" results in {run_dir}")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise K49Error(f"--seeds must be integers separated by commas, got {text!r}") from None
    if not seeds:
        raise K49Error("--seeds is empty: give e.g. --seeds 0,1,2")
    return seeds


@app.command("run")
def run_cmd(
    suite: Annotated[
        str, typer.Option(help="seed, paper, all, or a suite file FILE.toml.")
    ] = "seed",
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Trainings at once.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Study directory.")] = Path("runs"),
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset (default: the suite's, else "
                                 "synthetic).")
    ] = None,
    data_dir: DataDir = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    lr: Lr = None,
    loss: Loss = None,
    limit_train: LimitTrain = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Train every model x seed of a suite into OUT/<model>/seed-<n>/, skipping complete runs."""
    from k49.training.runner import load_suite, plan, run_suite

    study = load_suite(suite)
    seed_list = _seeds(seeds) if seeds else (study.seeds or [0])
    specs = plan(study, seed_list, out, dataset=dataset, data_dir=str(_data_dir(data_dir)),
                 epochs=epochs, batch_size=batch_size, lr=lr, loss=loss,
                 limit_train=limit_train, device=device)
    # Load (and generate or fetch) the data once, before workers start.
    from k49.data.load import load_dataset

    for name in sorted({s.config.dataset for s in specs}):
        load_dataset(name, _data_dir(data_dir), progress=not quiet)
    results = run_suite(specs, jobs=jobs, quiet=quiet)
    _print_run_results(results)
    _report(out)
    if failed := [r for r in results if r["status"] == "failed"]:
        raise K49Error(f"{len(failed)} of {len(results)} runs failed (first: {failed[0]['label']}:"
                       f" {failed[0]['error']})")


def _report(root: Path, recompute: bool = False, extra_notes: dict | None = None) -> dict:
    from k49.report.build import build_report

    with console.status("evaluating runs and drawing the report"):
        result = build_report(root, recompute=recompute, extra_notes=extra_notes)
    study = result["study"]
    tag = " (synthetic data, not K49)" if study.synthetic else ""
    console.print(f"report{tag}: {result['html']}  ({result['seconds']['total']:.1f} s)",
                  highlight=False)
    for line in result["findings"]:
        console.print(f"  - {line}", highlight=False)
    return result


def _print_run_results(results: list[dict]) -> None:
    table = Table(title="runs")
    for col in ("model", "seed", "status", "seconds", "directory"):
        table.add_column(col)
    for r in results:
        table.add_row(r["label"], str(r["seed"]), r["status"], f"{r['seconds']:.0f}",
                      r["run_dir"])
    console.print(table)


@app.command("bench")
def bench_cmd(
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: a representative set).")
    ] = None,
    as_json: JsonOut = False,
    full: Annotated[
        bool, typer.Option(help="Also measure peak RSS on full-size data and --jobs speed-up.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Measure training speed against a plain DataLoader loop and this machine's matmul rate."""
    from k49.training.bench import run_bench

    report = run_bench(models.split(",") if models else None, full=full,
                       data_dir=_data_dir(data_dir), quiet=as_json)
    if as_json:
        print(json.dumps(report["models"] if not full else report, indent=2))
        return
    table = Table(title="training speed (images/s)")
    for col in ("model", "k49 loop", "DataLoader loop", "speed-up", "GFLOP/s", "matmul GFLOP/s"):
        table.add_column(col, justify="right")
    for r in report["models"]:
        table.add_row(r["model"], f"{r['images_per_s']:.0f}", f"{r['baseline_images_per_s']:.0f}",
                      f"{r['speedup']:.2f}x", f"{r['gflops']:.1f}", f"{r['matmul_gflops']:.1f}")
    console.print(table)
    for key, value in report.items():
        if key != "models":
            console.print(f"{key}: {value}")


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `k49 train`/`run`.")],
) -> None:
    """Compute RUN_DIR/metrics.json from test_predictions.npz (or the weights if it is missing)."""
    from k49.evaluation.run import evaluate_run

    m = evaluate_run(run_dir)
    tag = " (synthetic data, not K49)" if m["synthetic"] else ""
    console.print(
        f"{m['label']} seed {m['seed']} on {m['dataset']}{tag}: accuracy {m['accuracy']:.4f}, "
        f"balanced accuracy {m['balanced_accuracy']:.4f}, macro AUC {m['auc_macro']:.4f}, "
        f"inverse-frequency AUC {m['auc_inverse_frequency']:.4f}; written to "
        f"{run_dir / 'metrics.json'}", highlight=False)


@app.command("report")
def report_cmd(
    root: Annotated[Path, typer.Argument(help="A study directory (k49 run --out) or one run.")],
    recompute: Annotated[
        bool, typer.Option(help="Recompute every metrics.json from the predictions.")
    ] = False,
) -> None:
    """Write ROOT/report/index.html and README.md, and ROOT/summary.csv/json."""
    _report(root, recompute=recompute)


#: The demo's reduced protocol, so the whole seed study runs in minutes on a 2-core CPU.
DEMO = {"epochs": 3, "limit_train": 6000}


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's outputs.")] = Path(
        "demo"
    ),
    data_dir: DataDir = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Trainings at once.")] = 2,
    quiet: Quiet = False,
) -> None:
    """The main job: the seed study's 12 models on the synthetic set, then the report."""
    from k49.data.datasets import REAL_SAMPLE
    from k49.data.figures import dataset_figures
    from k49.data.load import load_dataset
    from k49.training.runner import builtin_suite, plan, run_suite

    data_dir = _data_dir(data_dir)
    ds = load_dataset("synthetic", data_dir, progress=not quiet)
    paths = dataset_figures(ds, out / "dataset-figures", real_sample=REAL_SAMPLE)
    console.print(f"synthetic set in {data_dir / 'synthetic'}; {len(paths)} dataset figure "
                  f"files in {out / 'dataset-figures'}")
    specs = plan(builtin_suite("seed"), [0], out / "runs", data_dir=str(data_dir), **DEMO)
    results = run_suite(specs, jobs=jobs, quiet=quiet)
    _print_run_results(results)
    protocol = (f"demo protocol: {DEMO['epochs']} epochs (seed: 10) on a stratified "
                f"{DEMO['limit_train']:,}-image subset of the synthetic training set "
                f"({len(ds.train_labels):,} images at the default scale), seed 0")
    result = _report(out / "runs", extra_notes={"protocol": protocol})
    console.print(f"open {result['html']}", highlight=False)


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except K49Error as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
