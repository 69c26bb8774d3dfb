"""`k49 predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from k49.cli.app import Device, JsonOut, app, console, err_console
from k49.console import styled

TopK = Annotated[int, typer.Option("--top-k", "-k", min=1,
                                   help="How many classes to show per image.")]


@app.command("predict")
def predict_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `k49 train`/`run`.")],
    images: Annotated[list[Path], typer.Argument(
        help="Image files (PNG, JPEG, BMP, TIFF, WebP) or folders of them.")],
    top_k: TopK = 5,
    as_json: JsonOut = False,
    device: Device = "auto",
) -> None:
    """Predict the character in each image with RUN_DIR's model: its top-k classes.

    Any image of one character works: it is brought to K49's form first (grey, white ink on
    black, cropped, 28x28). A file that cannot be read is reported on stderr; the others are
    still predicted, and the exit code is then 1.
    """
    from k49.deploy.predict import Predictor, predict_paths

    predictor = Predictor.from_run(run_dir, device=device)
    results = predict_paths(predictor, images, top_k=top_k)
    failed = [(file, error) for file, _, error in results if error is not None]
    if as_json:
        print(json.dumps([{"file": file, "top": p.to_dict()["top"] if p else None,
                           "error": error, "model": predictor.model_name,
                           "synthetic": predictor.synthetic}
                          for file, p, error in results], indent=2, ensure_ascii=False))
    else:
        if predictor.synthetic:
            console.print(styled(
                ("warning:", "yellow"), f" {predictor.label} was trained on synthetic data, not "
                "K49: its predictions on real kuzushiji are unreliable"), soft_wrap=True)
        for file, prediction, _ in results:
            if prediction is None:
                continue
            console.print(styled((str(file), "bold")), soft_wrap=True)
            for rank, t in enumerate(prediction.top, 1):
                console.print(f"  {rank:>2}. {t['char']} {t['codepoint']:<7} class {t['class']:>2}"
                              f"  {100 * t['probability']:6.2f}%", highlight=False)
    for _, error in failed:
        err_console.print(styled(("error:", "bold red"), f" {error}"), soft_wrap=True)
    if failed:
        raise typer.Exit(1)
