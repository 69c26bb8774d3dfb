"""Many runs: `k49 run`, `k49 sweep`, `k49 worker`, `k49 study status`, `k49 report`,
`k49 demo`. The study stages are imported inside the commands (see k49.cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.measure import Measurement
from rich.table import Table

from k49.cli.app import (
    Artifacts,
    DataDir,
    DatasetName,
    JsonOut,
    Quiet,
    StorageUrl,
    StudyName,
    app,
    console,
    jobs_option,
    parse_seeds,
    resolve_data_dir,
    study_app,
    training_options,
)
from k49.errors import K49Error


@app.command("run")
@training_options
def run_cmd(
    suite: Annotated[
        str, typer.Option(help="seed (the original study's 12), paper, all, or a suite file "
                          "FILE.toml.")
    ] = "seed",
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2.")] = None,
    jobs: Annotated[str, jobs_option("Trainings")] = "1",
    out: Annotated[Path, typer.Option("--out", help="Study directory.")] = Path("runs"),
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset (default: the suite's, else "
                                 "synthetic).")
    ] = None,
    data_dir: DataDir = None,
    storage: StorageUrl = None,
    study: StudyName = "k49",
    artifacts: Artifacts = None,
    quiet: Quiet = False,
    *,
    training: dict,
) -> None:
    """Train every model x seed of a suite into OUT/<model>/seed-<n>/, skipping complete runs,
    then write the report."""
    from k49.study.api import run_study

    result = run_study(
        suite, seeds=parse_seeds(seeds) if seeds else None, out=out, jobs=jobs,
        data_dir=resolve_data_dir(data_dir), quiet=quiet, storage=storage, study_name=study,
        artifacts=artifacts, **({"dataset": dataset} if dataset else {}), **training)
    _print_study(result, quiet)
    if failed := result.failed:
        raise K49Error(f"{len(failed)} of {len(result.runs)} runs failed (first: "
                       f"{failed[0]['label']}: {failed[0]['error']})")


def _print_report(result: dict, quiet: bool = False) -> None:
    """The report's path, then (unless `quiet`) its findings."""
    study = result["study"]
    tag = " (synthetic data, not K49)" if study.synthetic else ""
    console.print(f"report{tag}: {result['html']}  ({result['seconds']['total']:.1f} s)",
                  highlight=False)
    for line in [] if quiet else result["findings"]:
        console.print(f"  - {line}", highlight=False)


def _print_study(result, quiet: bool = False) -> None:
    table = Table(title="runs")
    for col in ("model", "seed", "status", "seconds"):
        table.add_column(col)
    table.add_column("directory", overflow="fold")  # a path is shown whole, never cut short
    for r in result.runs:
        table.add_row(r["label"], str(r["seed"]), r["status"], f"{r['seconds']:.0f}",
                      r["run_dir"])
    # In a log, the table is as wide as its content: no path is folded or cut.
    width = None if console.is_terminal else Measurement.get(
        console, console.options.update_width(100_000), table).maximum
    console.print(table, width=width)
    if result.report:
        _print_report(result.report, quiet)


@app.command("sweep")
def sweep_cmd(
    space: Annotated[Path, typer.Argument(help="A search space in TOML, e.g. "
                                          "sweeps/seed-factors.toml.")],
    trials: Annotated[int, typer.Option(help="Trials in all (over every worker).")] = 40,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many "
                                                  "seconds.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Sweep folder.")] = Path("sweep"),
    jobs: Annotated[str, jobs_option("Trials")] = "1",
    seeds: Annotated[str, typer.Option(help="Seeds to retrain the best with.")] = "0,1,2",
    top: Annotated[int, typer.Option(help="Best configurations to retrain (or the Pareto "
                                     "front's first ones).")] = 3,
    importance: Annotated[str, typer.Option(help="ped-anova or fanova.")] = "ped-anova",
    retrain: Annotated[bool, typer.Option("--retrain/--no-retrain", help="Retrain the best "
                                          "and report them.")] = True,
    dataset: DatasetName = "synthetic",
    data_dir: DataDir = None,
    storage: StorageUrl = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name (default: "
                                              "sweep-<space name>).")] = None,
    quiet: Quiet = False,
) -> None:
    """Search hyperparameters on validation scores, then retrain the best with several seeds
    and report them with the importance of each hyperparameter."""
    from k49.study.sweep import run_sweep

    summary, result = run_sweep(
        str(space), trials=trials, timeout=timeout, out=out, jobs=jobs, storage=storage,
        study_name=study, dataset=dataset, data_dir=resolve_data_dir(data_dir),
        seeds=parse_seeds(seeds), top=top, importance=importance, retrain=retrain, quiet=quiet)
    console.print(f"sweep {summary.name}: {summary.counts()}", highlight=False, markup=False)
    ranking = summary.ranking()
    if ranking:
        console.print(f"{summary.importance_method} importance: " + ", ".join(
            f"{k} {v:.2f}" for k, v in ranking) + f"; {ranking[0][0]} mattered most "
            f"({summary.dataset})", highlight=False, markup=False)
    if result is not None:
        _print_study(result, quiet)


@app.command("worker")
def worker_cmd(
    storage: StorageUrl = None,
    study: StudyName = "k49",
    out: Annotated[Path | None, typer.Option(
        "--out", help="The study folder as this machine sees it (default: the one the study "
        "records); with no --storage, its embedded study.")] = None,
    jobs: Annotated[str, jobs_option("Trainings")] = "1",
    artifacts: Artifacts = None,
    quiet: Quiet = False,
) -> None:
    """Join a study on any machine and train its runs until none is left."""
    from k49.study.runner import work

    taken = work(storage, study, out=out.absolute() if out else None, jobs=jobs, quiet=quiet,
                 artifacts=artifacts)
    console.print(f"worker done: {taken} trial(s) taken from study {study!r}")


@study_app.command("status")
def study_status_cmd(
    storage: StorageUrl = None,
    study: StudyName = "k49",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Study folder whose embedded study to read (with no --storage).")] = None,
    as_json: JsonOut = False,
) -> None:
    """Done / running / waiting / failed per model, and the worker and host of each running
    trial."""
    from k49.study.queue import open_study, status
    from k49.study.storage import storage_url

    info = status(open_study(storage_url(storage, out), study))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    table = Table(title=f"study {info['study']} ({info['out']})")
    for col in ("model", "done", "running", "waiting", "failed"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for label, counts in info["labels"].items():
        table.add_row(label, *(str(counts.get(k, 0)) for k in
                               ("done", "running", "waiting", "failed")))
    console.print(table)
    for r in info["running"]:
        console.print(f"running {r['run']} on {r['host']} (worker {r['worker']}) since "
                      f"{r['since']}", highlight=False)


@app.command("report")
def report_cmd(
    root: Annotated[Path, typer.Argument(help="A study directory (k49 run --out) or one run.")],
    recompute: Annotated[
        bool, typer.Option(help="Recompute every metrics.json from the predictions.")
    ] = False,
) -> None:
    """Write ROOT/report/index.html and README.md, and ROOT/summary.csv/json."""
    from k49.study.api import write_report

    _print_report(write_report(root, recompute=recompute))


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's outputs.")] = Path(
        "demo"
    ),
    data_dir: DataDir = None,
    jobs: Annotated[str, jobs_option("Trainings")] = "2",
    quiet: Quiet = False,
) -> None:
    """The main job: the original study's 12 models plus three for comparison, on the synthetic
    set, then the report."""
    from k49.study.api import demo

    result = demo(out, data_dir=resolve_data_dir(data_dir), jobs=jobs, quiet=quiet)
    if not quiet:
        console.print(f"{len(result.dataset_figures)} dataset figure files in "
                      f"{out / 'dataset-figures'}")
    _print_study(result, quiet)
    console.print(f"open {result.report['html']}", highlight=False)


