"""`k49 sweep`: search a space of hyperparameters with Optuna, on validation scores only, then
retrain the best configurations with several seeds and report them with the sweep's findings.

The objective is the validation balanced accuracy after the trial's last epoch (optionally also
its training seconds, for the accuracy-against-cost Pareto front); a pruner stops bad trials
from their per-epoch scores. The test set is never touched during the search: trials train
with `test=False`. Only the retrained best configurations are evaluated on it, once.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import optuna
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from k49.data.datasets import get_spec
from k49.data.load import load_dataset
from k49.errors import K49Error
from k49.io import default_threads, write_json
from k49.models.parametric import FAMILY_ARGS
from k49.report.sweep_data import BestTrial, SweepSummary, SweepTrial
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.study.api import StudyResult, run_study
from k49.study.runner import resolve_jobs, worker_context
from k49.study.space import MODEL_PARAMS, SearchSpace, load_space, suggest
from k49.study.storage import open_storage, storage_url
from k49.study.suites import Suite, SuiteModel
from k49.training.trainer import train

SUMMARY = "sweep.json"
IMPORTANCE = {"ped-anova": ("PED-ANOVA", PedAnovaImportanceEvaluator),
              "fanova": ("fANOVA", FanovaImportanceEvaluator)}


def _pruner(space: SearchSpace, max_epochs: int) -> optuna.pruners.BasePruner:
    if space.pruner == "none" or len(space.objectives) > 1:  # Optuna prunes one objective only
        return optuna.pruners.NopPruner()
    if space.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 2))
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


def _max_epochs(space: SearchSpace) -> int:
    spec = space.params.get("epochs")
    if spec is None:
        return int(space.fixed.get("epochs", 10))
    return int(spec.high if hasattr(spec, "high") else max(spec))


def open_sweep(space: SearchSpace, url: str, name: str, *, create: bool, seed: int = 0
               ) -> optuna.Study:
    """The sweep's study, its sampler and pruner set up in this process."""
    sampler = optuna.samplers.TPESampler(seed=seed)
    kwargs = {"study_name": name, "storage": open_storage(url), "sampler": sampler,
              "pruner": _pruner(space, _max_epochs(space))}
    if create:
        study = optuna.create_study(directions=space.directions, load_if_exists=True, **kwargs)
    else:
        study = optuna.load_study(**kwargs)
    recorded = study.user_attrs.get("space_hash")
    if recorded is None:
        study.set_user_attr("space_hash", space.spec_hash())
        study.set_user_attr("space", space.model_dump(mode="json"))
        study.set_user_attr("kind", "sweep")
    elif recorded != space.spec_hash():
        raise K49Error(f"study {name!r} was started with another search space: use --study "
                       "with a new name, or the space it was started with")
    return study


class Objective:
    """Trains one sampled configuration into OUT/trials/trial-<n>/ and scores it on validation."""

    def __init__(self, space: SearchSpace, out: Path, base: dict[str, Any]):
        self.space, self.out, self.base = space, out, base

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        model, model_args, overrides = suggest(trial, self.space)
        fixed = {k: v for k, v in self.space.fixed.items() if k != "model"}
        config = TrainConfig(model=model, model_args=model_args,
                             **{**self.base, **fixed, **overrides})
        # A retried trial (its worker died) keeps its folder, so it resumes from the checkpoint.
        folder = trial.user_attrs.get("folder") or f"trial-{trial.number}"
        trial.set_user_attr("folder", folder)
        multi = len(self.space.objectives) > 1

        def report(row: dict[str, float]) -> None:
            if not multi:
                trial.report(row["val_balanced_accuracy"], int(row["epoch"]))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {int(row['epoch'])}")

        try:
            result = train(config, RunDir(self.out / "trials" / folder), quiet=True, test=False,
                           on_epoch=report)
        except K49Error as e:
            trial.set_user_attr("error", str(e))
            raise
        score = result.history[-1]["val_balanced_accuracy"]
        seconds = result.timings["train_seconds"]
        trial.set_user_attr("seconds", seconds)
        if not math.isfinite(score):
            raise K49Error(f"trial {trial.number} has no validation score")
        return (score, seconds) if multi else score


def _optimize(space_file: str, url: str, name: str, out: Path, base: dict[str, Any],
              trials: int, timeout: float | None, seed: int) -> None:
    space = load_space(space_file)
    study = open_sweep(space, url, name, create=False, seed=seed)
    remaining = trials - len(study.get_trials(deepcopy=False))
    if remaining <= 0:  # a study found again that has its trials already
        return
    # n_trials bounds this process; the callback bounds all of them together.
    study.optimize(Objective(space, out, base), n_trials=remaining, timeout=timeout,
                   catch=(K49Error,), callbacks=[MaxTrialsCallback(trials, states=None)],
                   gc_after_trial=True)


def summarize(study: optuna.Study, space: SearchSpace, *, dataset_label: str, synthetic: bool,
              space_file: str, top: int, importance: str = "ped-anova") -> SweepSummary:
    """The sweep summary the report draws from (`k49.report.sweep_data.SweepSummary`)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    method, evaluator = IMPORTANCE[importance]
    # PED-ANOVA measures what it takes to reach *low* target values: accuracy enters negated
    # (fANOVA, a variance decomposition, does not mind the sign).
    try:
        with warnings.catch_warnings():  # its note on low targets: handled by the negation
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")
            values = optuna.importance.get_param_importances(
                study, evaluator=evaluator(), target=lambda t: -t.values[0])
    except (ValueError, RuntimeError, ZeroDivisionError):
        values = {}  # too few complete trials, or one value only
    states = {s.name: sum(t.state == s for t in trials) for s in
              (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    summary = SweepSummary(
        name=space.name, space_file=space_file, objectives=tuple(space.objectives),
        directions=tuple(space.directions), dataset=dataset_label, synthetic=synthetic,
        n_trials=len(trials), states=states,
        trials=tuple(SweepTrial(number=t.number, state=t.state.name, values=None if t.values is None
                                else tuple(t.values), params=t.params,
                                seconds=t.user_attrs.get("seconds"),
                                intermediate=dict(t.intermediate_values)) for t in trials),
        importance_method=method, importance_target=space.objectives[0],
        importance={k: float(v) for k, v in values.items()},
        protocol=(f"{len(trials)} trials, TPE sampler, {space.pruner} pruner; objective: "
                  f"{' and '.join(space.objectives)}, on the validation split; the test set "
                  "is never used by the search"))
    if len(space.objectives) > 1:  # the best are the front's, the report's own front
        on_front = set(summary.pareto_numbers())
        front = sorted((t for t in complete if t.number in on_front), key=lambda t: -t.values[0])
        best, pareto = front[:top], tuple(t.number for t in front)
    else:
        best, pareto = sorted(complete, key=lambda t: -t.values[0])[:top], ()
    return summary.replace(
        best=tuple(BestTrial(rank=i + 1, number=t.number, label=_label(i + 1, t.params, space),
                             params=t.params, values=tuple(t.values))
                   for i, t in enumerate(best)),
        pareto=pareto)


def _label(rank: int, params: dict[str, Any], space: SearchSpace) -> str:
    return f"sweep_{rank}_{params.get('family', space.fixed.get('model', 'model'))}"


def _retrain_suite(summary: SweepSummary, space: SearchSpace) -> Suite:
    """The best configurations as a suite, trained on the whole training subset (no
    validation hold-out)."""
    models = []
    for best in summary.best:
        params = dict(best.params)
        model = params.pop("family", space.fixed.get("model"))
        args = {k: params.pop(k) for k in list(params) if k in MODEL_PARAMS}
        args = {k: v for k, v in args.items() if k in FAMILY_ARGS.get(model, {})}
        fixed = {k: v for k, v in space.fixed.items() if k not in ("model", "val_fraction")}
        models.append(SuiteModel(name=model, label=best.label, val_fraction=0.0,
                                 model_args=args, **{**fixed, **params}))
    return Suite(name=f"sweep-{space.name}", models=models)


def run_sweep(space_file: str, *, trials: int = 40, timeout: float | None = None,
              out: str | os.PathLike = "sweep", jobs: int | str = 1, storage: str | None = None,
              study_name: str | None = None, dataset: str = "synthetic",
              data_dir: str | os.PathLike | None = None, seeds: list[int] | None = None,
              top: int = 3, importance: str = "ped-anova", retrain: bool = True,
              quiet: bool = False) -> tuple[SweepSummary, StudyResult | None]:
    """Search, summarise into OUT/sweep.json, retrain the best into OUT/best and report."""
    jobs = resolve_jobs(jobs)
    if trials < 1 or top < 1:
        raise K49Error("--trials and --top must be at least 1")
    if timeout is not None and not timeout > 0:  # also refuses NaN
        raise K49Error(f"--timeout {timeout}: give a number of seconds above 0, or leave it "
                       "out to stop after --trials")
    if importance not in IMPORTANCE:
        raise K49Error(f"--importance {importance}: use {' or '.join(IMPORTANCE)}")
    space = load_space(space_file)
    out = Path(out).absolute()
    url = storage_url(storage, out)
    name = study_name or f"sweep-{space.name}"
    data = str(data_dir) if data_dir is not None else None
    ds = load_dataset(dataset, data, progress=not quiet)
    base = {"dataset": ds.name, "data_dir": str(ds.data_dir)}
    open_sweep(space, url, name, create=True)
    threads = max(1, default_threads() // jobs)
    base["threads"] = threads
    args = (str(space_file), url, name, out, base, trials, timeout)
    if jobs == 1:
        _optimize(*args, 0)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=worker_context()) as pool:
            for f in [pool.submit(_optimize, *args, i) for i in range(jobs)]:
                f.result()
    study = open_sweep(space, url, name, create=False)
    spec = get_spec(ds.name)
    summary = summarize(study, space, dataset_label=spec.label(), synthetic=spec.synthetic,
                        space_file=str(space_file), top=top, importance=importance)
    write_json(out / SUMMARY, summary.to_json())
    if not retrain or not summary.best:
        return summary, None
    result = run_study(_retrain_suite(summary, space), seeds=seeds or [0, 1, 2],
                       out=out / "best", jobs=jobs, data_dir=ds.data_dir, quiet=quiet,
                       storage=storage, study_name=f"{name}-best", sweep=summary,
                       extra_notes={"sweep": summary.protocol}, dataset=ds.name)
    return summary, result
