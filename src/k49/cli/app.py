"""The typer apps, the console, and the options and helpers every command shares.

Training options take their help, choices and bounds from TrainConfig, which validates every
value before anything is written.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError

from k49 import __version__
from k49.console import terminal
from k49.data.datasets import default_data_dir, get_spec
from k49.data.fetch import base_urls_from
from k49.errors import K49Error
from k49.runs.config import TrainConfig, describe

app = typer.Typer(
    help="Train, compare and explain neural networks on Kuzushiji-49.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Download, generate, inspect and plot datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
study_app = typer.Typer(help="Inspect a study shared by workers.", no_args_is_help=True)
app.add_typer(study_app, name="study")

console = terminal()
err_console = terminal(stderr=True)

# Options shared by every command that reads data.
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="K49_DATA_DIR",
        help="Where datasets live (default: the user's cache dir, e.g. ~/.cache/k49).",
    ),
]
DatasetName = Annotated[str, typer.Option("--dataset", "-d", help=describe("dataset"))]
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


def resolve_data_dir(data_dir: Path | None) -> Path:
    path = data_dir if data_dir is not None else default_data_dir()
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise K49Error(f"--data-dir {str(path).encode('utf-8', 'replace').decode()!r} is not "
                       "valid UTF-8: use a folder whose name is UTF-8") from None
    return path


def mirror_urls(dataset: str, cli_urls: list[str] | None) -> list[str]:
    """Mirrors from --base-url or K49_BASE_URL, the official host last."""
    spec = get_spec(dataset)
    if spec.synthetic or spec.folder:
        return []
    return base_urls_from(cli_urls or (), official=spec.official_url)


def _version(value: bool) -> None:
    if value:
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


#: The TrainConfig fields `k49 train` and `k49 run` take as options, in --help's order.
TRAINING_OPTIONS = ("epochs", "batch_size", "lr", "optimizer", "loss", "weight_decay",
                    "val_fraction", "limit_train", "mixup", "mixup_alpha", "schedule", "warmup",
                    "ema", "augment", "device", "threads", "precision", "compile",
                    "verify")


def config_option(field: str) -> Any:
    """The annotated type of TrainConfig field `field` as an option (`--batch-size` for
    batch_size, `--verify/--no-verify` for a flag), its help the field's description; its
    value is None when the option is not given."""
    annotation = TrainConfig.model_fields[field].annotation
    kinds = [t for t in (bool, int, float) if t is annotation or t in get_args(annotation)]
    kind = kinds[0] if kinds else str  # names and Literal choices: TrainConfig checks them
    flag = "--" + field.replace("_", "-")
    decls = (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)
    return Annotated[kind | None, typer.Option(*decls, help=describe(field))]


def training_options(command: Callable) -> Callable:
    """Give `command` one option per field in TRAINING_OPTIONS, all derived from TrainConfig
    (help, type, flag); it receives those given on the command line as one dict, `training`,
    so the model's, suite's and config's defaults apply to the others."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "training"]
    added = [inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=config_option(field)) for field in TRAINING_OPTIONS]

    @functools.wraps(command)
    def with_options(**values: Any) -> Any:
        options = {f: values.pop(f) for f in TRAINING_OPTIONS}
        return command(**values, training={f: v for f, v in options.items() if v is not None})

    with_options.__signature__ = signature.replace(parameters=own + added)
    return with_options


Device = Annotated[str, typer.Option(help=describe("device"))]
StorageUrl = Annotated[str | None, typer.Option(
    help="Optuna storage URL, e.g. postgresql://user@host/db (default: SQLite in --out).")]
StudyName = Annotated[str, typer.Option("--study", help="Study name on the storage.")]
Artifacts = Annotated[str | None, typer.Option(
    help="Also keep each run's checkpoints in this Optuna artifact store (a folder, or "
    "s3://bucket with boto3), so a retry resumes on machines without a shared --out.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def parse_jobs(value: str) -> int | str:
    """--jobs: a whole number of at least 1, or auto."""
    value = value.strip().lower()
    if value == "auto":
        return value
    if value.isascii() and value.isdigit() and int(value) >= 1:
        return int(value)
    raise typer.BadParameter(f"{value!r} is not a number of runs at once: give 1 or more, "
                             "or auto")


def jobs_option(what: str) -> Any:
    """The --jobs option of a command that runs `what` at once."""
    return typer.Option("--jobs", "-j", parser=parse_jobs, metavar="N|auto",
                        help=f"{what} at once, or auto: 1 on a CPU (each uses every core), "
                        "12 per GPU on CUDA.")


def config_from_options(make):
    """Build a config from command-line options (`make()`), a validation error becoming one
    line that names the option (--limit-train: ...)."""
    try:
        return make()
    except ValidationError as e:
        err = e.errors()[0]
        where = "-".join(str(p) for p in err["loc"]).replace("_", "-")
        msg = err["msg"].removeprefix("Value error, ")
        raise K49Error(f"--{where}: {msg}" if where else msg) from None


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise K49Error(f"--seeds must be integers separated by commas, got {text!r}") from None
    if not seeds:
        raise K49Error("--seeds is empty: give e.g. --seeds 0,1,2")
    return seeds


