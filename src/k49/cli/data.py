"""`k49 data ...`: download, generate, inspect and plot datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from k49.cli.app import (
    BaseUrls,
    DataDir,
    DatasetName,
    JsonOut,
    Offline,
    console,
    data_app,
    mirror_urls,
    resolve_data_dir,
)
from k49.console import styled
from k49.data.datasets import REAL_SAMPLE, get_spec
from k49.data.fetch import fetch
from k49.data.figures import dataset_figures
from k49.data.info import dataset_info
from k49.data.load import load_dataset
from k49.data.synthetic import DEFAULT_SCALE, generate
from k49.errors import K49Error


@data_app.command("fetch")
def data_fetch(
    dataset: DatasetName = "k49",
    data_dir: DataDir = None,
    base_url: BaseUrls = None,
) -> None:
    """Download a real dataset (k49 or kmnist), verify md5 and size, and cache it."""
    spec = get_spec(dataset)
    paths = fetch(dataset, resolve_data_dir(data_dir), base_urls=mirror_urls(dataset, base_url))
    console.print(styled((spec.title, "green"),
                         f" verified in {Path(next(iter(paths.values()))).parent}"), soft_wrap=True)


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
    report = generate(resolve_data_dir(data_dir), scale=DEFAULT_SCALE if scale is None else scale,
                      seed=seed)
    _print_synth_report(report)


def _print_synth_report(report: dict) -> None:
    table = Table(title="Fonts used (synthetic K49-like set)")
    table.add_column("font")
    table.add_column("templates", justify="right")
    for font in report.get("fonts", []):
        table.add_row(str(font.get("family", font.get("path"))), str(font.get("templates", "")))
    console.print(table)
    if report.get("summary"):
        console.print(f"synthetic set {report['summary']}; {report.get('train_size')} train / "
                      f"{report.get('test_size')} test images written to {report.get('dir')}",
                      highlight=False)
    difficulty = report.get("difficulty")
    if isinstance(difficulty, dict):
        console.print(
            f"difficulty (generator version {report.get('generator_version')}): "
            f"{'up to ' if difficulty.get('hands_by_size') else ''}"
            f"{difficulty.get('hands')} hands per class, "
            f"{difficulty.get('variant_share', 0):.0%} of them in variant forms, neighbouring "
            "characters, broken ink and bleed-through; calibrated against the published K49 "
            "results (docs/synthetic.md)", highlight=False)


#: File statuses of `data info` that mean the set is not the official one.
_BAD_FILE = ("missing", "size mismatch", "md5 mismatch")


@data_app.command("info")
def data_info(
    dataset: DatasetName = "synthetic",
    data_dir: DataDir = None,
    offline: Offline = False,
    base_url: BaseUrls = None,
    as_json: JsonOut = False,
) -> None:
    """Show counts per class with their characters, image statistics and file verification."""
    info = dataset_info(dataset, resolve_data_dir(data_dir), offline=offline,
                        base_urls=mirror_urls(dataset, base_url))
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
        colour = "green" if status in ("verified", "generated", "present") else "red"
        files.add_row(name, styled((status, colour)))
    console.print(files)
    bad = [name for name, status in info["files"].items() if status in _BAD_FILE]
    synth = info.get("synthetic_info") or {}
    if synth.get("summary"):
        console.print(f"synthetic set {synth['summary']}", highlight=False)
    if synth.get("font_warning"):
        console.print(styled(("warning:", "yellow"), f" {synth['font_warning']}"))
    if bad:
        raise K49Error(f"{', '.join(bad)} in {info['dir']} fail verification: fetch them again "
                       f"with `k49 data fetch --dataset {dataset}`")


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
    ds = load_dataset(dataset, resolve_data_dir(data_dir), offline=offline)
    paths = dataset_figures(ds, out, seed=seed, real_sample=REAL_SAMPLE)
    console.print(f"{len(paths)} figure files written to {out}/light and {out}/dark")


