"""`k49 export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from k49.cli.app import app, console
from k49.errors import K49Error

FORMATS = ("onnx",)


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `k49 train`/`run`.")],
    fmt: Annotated[str, typer.Option("--format", help="Output format: onnx.")] = "onnx",
    out: Annotated[Path | None, typer.Option(
        "--out", help="The .onnx file to write (default: RUN_DIR/model.onnx); its model card "
        "goes beside it, named after it (x.onnx -> x.md).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace files at those paths even if k49 did not write them.")] = False,
) -> None:
    """Export a trained network to ONNX, checked against torch, with a model card."""
    if fmt.lower() not in FORMATS:
        raise K49Error(f"--format {fmt}: k49 exports only {', '.join(FORMATS)}; use "
                       "--format onnx")
    from k49.deploy.export import export_onnx

    r = export_onnx(run_dir, out, force=force)
    if r["metrics_computed"]:
        console.print(f"computed the test metrics of {run_dir} first (as `k49 evaluate`)",
                      highlight=False, soft_wrap=True)
    console.print(f"wrote {r['onnx']} ({_size(r['bytes'])}, opset {r['opset']}, "
                  f"{r['exporter']})", highlight=False, soft_wrap=True)
    console.print(f"checked on {r['n_checked']:,} images from {r['check_source']}: largest "
                  f"absolute difference torch vs onnxruntime {r['max_abs_diff']:.2e} (limit "
                  f"{r['tolerance']:g})", highlight=False, soft_wrap=True)
    console.print(f"wrote {r['model_card']}", highlight=False, soft_wrap=True)


def _size(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
