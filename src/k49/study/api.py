"""Whole studies as Python functions: `run_study` (a suite x seeds, then the report) and `demo`
(the original study's 12 models plus three for comparison, on the synthetic set). The CLI is a
thin shell over these."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k49.console import terminal
from k49.data.datasets import REAL_SAMPLE, default_data_dir
from k49.data.figures import dataset_figures
from k49.data.load import load_dataset
from k49.models import get_entry
from k49.report.build import build_report
from k49.report.sweep_data import SweepSummary
from k49.study.queue import DEFAULT_STUDY
from k49.study.runner import run_suite
from k49.study.suites import Suite, SuiteModel, builtin_suite, load_suite, plan

#: The demo's reduced protocol, so the whole original study runs in minutes on a 2-core CPU. A
#: model with a training recipe (resnet_fast) keeps its recipe's epochs: the demo shows each
#: recipe as it is defined, on the same subset.
DEMO_PROTOCOL = {"epochs": 3, "limit_train": 6000}
#: Seeds per model family in the demo: several where seeds are cheap (the MLPs train in
#: seconds), so its report shows intervals and tests across seeds; seed 0 for the rest.
DEMO_SEEDS = {"mlp": [0, 1, 2]}
#: Trained beside the original study's 12 so the report sets accuracy against training time
#: for more than the seed's designs: the K49 paper's Keras CNN, a small ResNet and the
#: time-to-accuracy recipe (which keeps its own batch and schedule under the demo protocol).
DEMO_EXTRA = ("keras_simple_cnn", "resnet_small", "resnet_fast")


@dataclass
class StudyResult:
    """What a study did: one result per run, and the report (None when not built)."""

    out: Path
    runs: list[dict[str, Any]]
    report: dict[str, Any] | None = None
    dataset_figures: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "failed"]


def _data_dir(data_dir: str | os.PathLike | None) -> str:
    """The data folder every run records (the user's cache folder unless given)."""
    return str(default_data_dir() if data_dir is None else data_dir)


def write_report(root: str | os.PathLike, *, recompute: bool = False, quiet: bool = False,
                 extra_notes: dict[str, Any] | None = None,
                 sweep: SweepSummary | None = None, jobs: int | None = None) -> dict[str, Any]:
    """Evaluate every run under `root` and write its report (see `build_report`), with a
    sweep's section when its summary is given, `jobs` processes at once (a script without an
    `if __name__ == "__main__":` guard gets one unless it asks; see `k49.io.helper_processes`)."""
    with terminal(stderr=True, quiet=quiet).status("evaluating runs and drawing the report"):
        return build_report(root, recompute=recompute, extra_notes=extra_notes, sweep=sweep,
                            jobs=jobs)


def run_study(suite: str | Suite = "seed", *, seeds: list[int] | None = None,
              out: str | os.PathLike = "runs", jobs: int | str = 1,
              data_dir: str | os.PathLike | None = None, quiet: bool = False,
              make_report: bool = True, extra_notes: dict[str, Any] | None = None,
              storage: str | None = None, study_name: str = DEFAULT_STUDY,
              sweep: SweepSummary | None = None, artifacts: str | None = None,
              **overrides: Any) -> StudyResult:
    """Train every model x seed of `suite` (a built-in name or a TOML file) into
    OUT/<label>/seed-<n>/, skipping complete runs and resuming interrupted ones, then write
    the report. The runs are trials of the Optuna study `study_name` on `storage` (default:
    SQLite in OUT), so `k49 worker` processes elsewhere can join. `overrides` are TrainConfig
    fields that win over the suite's."""
    study = suite if not isinstance(suite, str) else load_suite(suite)
    out = Path(out)
    specs = plan(study, seeds or study.seeds or [0], out, data_dir=_data_dir(data_dir),
                 **overrides)
    # Load (and generate or fetch) each dataset once, before workers start.
    for name in sorted({s.config.dataset for s in specs}):
        load_dataset(name, _data_dir(data_dir), progress=not quiet,
                     verify=overrides.get("verify", True))
    results = run_suite(specs, out=out, jobs=jobs, quiet=quiet, storage=storage,
                        study=study_name, artifacts=artifacts)
    built = (write_report(out, quiet=quiet, extra_notes=extra_notes, sweep=sweep) if make_report
             else None)
    return StudyResult(out, results, built)


def demo_suite() -> Suite:
    """The original study's suite with the demo's seeds (DEMO_SEEDS), then DEMO_EXTRA, on the
    demo's protocol (DEMO_PROTOCOL), except that a model with a recipe keeps its epochs."""
    suite = builtin_suite("seed")
    models = [m.model_copy(update={"seeds": DEMO_SEEDS.get(get_entry(m.name).family)})
              for m in suite.models]
    models += [SuiteModel(name=n, epochs=get_entry(n).recipe.get("epochs")) for n in DEMO_EXTRA]
    defaults = suite.defaults.model_copy(update=DEMO_PROTOCOL)
    return suite.model_copy(update={"models": models, "defaults": defaults})


def demo(out: str | os.PathLike = "demo", *, data_dir: str | os.PathLike | None = None,
         jobs: int | str = 2, quiet: bool = False) -> StudyResult:
    """The main job: the original study's 12 models and DEMO_EXTRA on the synthetic set
    (reduced protocol), the dataset figures, then the report in OUT/runs/report/."""
    out = Path(out)
    ds = load_dataset("synthetic", _data_dir(data_dir), progress=not quiet)
    figures = dataset_figures(ds, out / "dataset-figures", real_sample=REAL_SAMPLE)
    several = ", ".join(f"seeds {', '.join(map(str, s))} for the {fam.upper()}s"
                        for fam, s in DEMO_SEEDS.items())
    recipes = ", ".join(f"{n} {get_entry(n).recipe['epochs']}" for n in DEMO_EXTRA
                        if "epochs" in get_entry(n).recipe)
    protocol = (f"demo protocol: {DEMO_PROTOCOL['epochs']} epochs (original study: 10; a "
                f"model's own recipe keeps its epochs: {recipes or 'none'}) on a "
                f"stratified {DEMO_PROTOCOL['limit_train']:,}-image subset of the synthetic "
                f"training set ({len(ds.train_labels):,} images at the default scale); "
                f"{several}, seed 0 for the others; {', '.join(DEMO_EXTRA)} added to the "
                f"seed's 12 for the time comparison")
    result = run_study(demo_suite(), seeds=[0], out=out / "runs", jobs=jobs,
                       data_dir=data_dir, quiet=quiet, extra_notes={"protocol": protocol})
    result.dataset_figures = list(figures)
    return result
