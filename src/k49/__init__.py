"""k49: train, compare and explain neural networks on Kuzushiji-49.

The Python API, one import per pipeline stage (data -> models -> runs -> training ->
evaluation -> report -> study). Names are imported on first use, so `import k49` stays fast.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("k49")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_API = {
    "K49Error": "k49.errors",
    "DATASETS": "k49.data.datasets",
    "get_spec": "k49.data.datasets",
    "Dataset": "k49.data.load",
    "load_dataset": "k49.data.load",
    "fetch": "k49.data.fetch",
    "generate_synthetic": ("k49.data.synthetic", "generate"),
    "dataset_figures": "k49.data.figures",
    "create_model": "k49.models",
    "list_models": "k49.models",
    "model_info": "k49.models",
    "register_model": "k49.models",
    "TrainConfig": "k49.runs.config",
    "RunDir": "k49.runs.rundir",
    "train": "k49.training.trainer",
    "load_model": "k49.training.trained",
    "metrics": ("k49.evaluation", "metrics"),
    "evaluate_run": "k49.evaluation.run",
    "stats": ("k49.evaluation", "stats"),
    "bootstrap_intervals": "k49.evaluation.stats",
    "paired_difference": "k49.evaluation.stats",
    "mcnemar": "k49.evaluation.stats",
    "welch": "k49.evaluation.stats",
    "t_interval": "k49.evaluation.stats",
    "holm": "k49.evaluation.stats",
    "convergence": "k49.evaluation.convergence",
    "load_study": "k49.report.collect",
    "build_report": "k49.report.build",
    "load_suite": "k49.study.suites",
    "plan": "k49.study.suites",
    "run_suite": "k49.study.runner",
    "run_study": "k49.study.api",
    "demo": "k49.study.api",
    "write_report": "k49.study.api",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'k49' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    try:
        value = getattr(import_module(module), attr)
    except AttributeError:  # a submodule, e.g. k49.metrics
        value = import_module(f"{module}.{attr}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
