"""Every multi-run job is an Optuna study: each model x seed run is an enqueued trial with fixed
parameters, workers take trials, a finished run is told with its validation score.

A trial carries its run in `user_attrs` (run_id = "<label>/seed-<n>", its TrainConfig, the
study folder), so any worker that can reach the storage and the study folder can train it. A
worker whose process dies stops beating; after the grace period its trial is failed and a copy
is enqueued (up to ATTEMPTS in all), which resumes from the run's last epoch checkpoint.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from k49.errors import K49Error
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.study.storage import ATTEMPTS, open_storage
from k49.study.suites import RunSpec
from k49.training.trainer import train

warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")

DEFAULT_STUDY = "k49"
#: A worker stops after this many failed trials in a row (a broken machine must not burn the
#: whole queue).
MAX_FAILURES_IN_A_ROW = 5
#: Seconds between looks at the queue while other workers' trials are still running.
POLL = 2.0


def run_id(spec: RunSpec) -> str:
    return f"{spec.label}/seed-{spec.config.seed}"


def open_study(url: str, name: str, out: Path | None = None, *, create: bool = False,
               artifacts: str | None = None) -> optuna.Study:
    """The study `name` on storage `url`; created when asked (for the study folder `out`)."""
    db = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if db is not None and not create and not db.exists():
        raise K49Error(f"no study in {db.parent} (no {db.name}): start one there with "
                       "`k49 run --out`, or pass --storage")
    storage = open_storage(url)
    if create:
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                    direction="maximize")
        recorded = study.user_attrs.get("out")
        if recorded is None:
            study.set_user_attr("out", str(out))
            study.set_user_attr("kind", "runs")
            if artifacts:
                study.set_user_attr("artifacts", artifacts)
        elif out is not None and Path(recorded) != out:
            raise K49Error(f"study {name!r} on this storage belongs to {recorded}, not {out}: "
                           "pass --study with another name")
        return study
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise K49Error(f"no study {name!r} on this storage (found: {', '.join(names) or 'none'}"
                       "): start one with `k49 run`, or pass --study") from None


def _by_run(study: optuna.Study) -> dict[str, list[FrozenTrial]]:
    runs: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False):
        if "run_id" in t.user_attrs:
            runs[t.user_attrs["run_id"]].append(t)
    return runs


def enqueue(study: optuna.Study, specs: list[RunSpec]) -> int:
    """Enqueue each run that has no trial waiting, running or complete; returns how many."""
    existing = _by_run(study)
    added = 0
    for spec in specs:
        states = {t.state for t in existing.get(run_id(spec), [])}
        if states & {TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE} \
                and not (TrialState.COMPLETE in states and not spec.run.is_complete()):
            continue
        study.enqueue_trial({"run_id": run_id(spec)}, user_attrs={
            "run_id": run_id(spec), "label": spec.label, "seed": spec.config.seed,
            "config": spec.config.model_dump(mode="json")})
        added += 1
    return added


def artifact_store(location: str | None):
    """An Optuna artifact store for checkpoints: a folder, or s3://bucket (needs boto3)."""
    if not location:
        return None
    if location.startswith("s3://"):
        try:
            import boto3  # optional: only clusters that keep checkpoints on S3 need it
        except ImportError:
            raise K49Error("--artifacts s3://... needs boto3: pip install boto3") from None
        return optuna.artifacts.Boto3ArtifactStore(location[5:].split("/", 1)[0],
                                                   client=boto3.client("s3"))
    folder = Path(location)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise K49Error(f"cannot create the artifact folder {folder} ({e.strerror}): choose "
                       "another --artifacts") from None
    return optuna.artifacts.FileSystemArtifactStore(folder)


#: The run files a retry needs to resume elsewhere, kept in the artifact store.
RESUME_FILES = (RunDir.CHECKPOINT, RunDir.HISTORY)


class Worker:
    """Takes trials from a study until none is left, training each into its run directory.

    With an artifact store, each epoch's checkpoint (and history) is uploaded too, so a retry
    on a machine that does not share the output folder resumes from it. Given `events`, each
    run's progress goes there, tagged with its label and seed (see `k49.study.display`);
    otherwise each run draws its own bars unless `quiet`.
    """

    def __init__(self, study: optuna.Study, *, out: Path | None = None, threads: int | None = None,
                 quiet: bool = False, artifacts: str | None = None,
                 events: Callable[[dict[str, Any]], None] | None = None):
        self.study = study
        self.events = events
        self.store = artifact_store(artifacts or study.user_attrs.get("artifacts"))
        self.out = out or Path(study.user_attrs["out"])
        self.threads = threads
        self.quiet = quiet
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.failures_in_a_row = 0

    def objective(self, trial: optuna.Trial) -> float:
        rid = trial.user_attrs.get("run_id")
        if rid is None:  # no enqueued run was left when this worker asked
            trial.set_user_attr("spare", True)
            raise optuna.TrialPruned("no run left")
        trial.set_user_attr("worker", self.name)
        trial.set_user_attr("host", socket.gethostname())
        label, seed = trial.user_attrs["label"], int(trial.user_attrs["seed"])
        config = TrainConfig.model_validate(trial.user_attrs["config"])
        if self.threads:
            config = config.model_copy(update={"threads": self.threads})
        run = RunDir.in_study_root(self.out, label, seed)
        t0 = time.perf_counter()
        send = None
        if self.events is not None:
            send = lambda event: self.events({**event, "label": label, "seed": seed})  # noqa: E731
            send({"event": "start"})
        on_epoch = None
        if self.store is not None:
            self._restore(trial, run)
            on_epoch = lambda row: self._keep(trial, run)  # noqa: E731
        try:
            result = train(config, run, quiet=self.quiet, on_epoch=on_epoch, events=send)
        except (K49Error, OSError) as e:
            message = str(e) if isinstance(e, K49Error) else (
                f"cannot write {e.filename or run.path}: {e.strerror or e}")
            trial.set_user_attr("error", message)
            self.failures_in_a_row += 1
            if send is not None:
                send({"event": "end", "status": "failed", "error": message})
            raise K49Error(message) from None
        self.failures_in_a_row = 0
        seconds = time.perf_counter() - t0
        trial.set_user_attr("skipped", result.skipped)
        trial.set_user_attr("seconds", seconds)
        scores = [h["val_balanced_accuracy"] for h in result.history]
        value = scores[-1] if scores and scores[-1] == scores[-1] else 0.0  # NaN: no val split
        if send is not None:
            send({"event": "end", "status": "skipped" if result.skipped else "done",
                  "seconds": seconds, "score": scores[-1] if scores else None})
        return value

    def _keep(self, trial: optuna.Trial, run: RunDir) -> None:
        """Upload the run's resume files; drop the ones they replace."""
        for name in RESUME_FILES:
            old = trial.user_attrs.get(f"artifact:{name}")
            new = optuna.artifacts.upload_artifact(
                artifact_store=self.store, file_path=str(run.file(name)), study_or_trial=trial)
            trial.set_user_attr(f"artifact:{name}", new)
            if old:
                self.store.remove(old)

    def _restore(self, trial: optuna.Trial, run: RunDir) -> None:
        """Fetch a retried run's resume files when this machine does not have them."""
        ids = {name: trial.user_attrs.get(f"artifact:{name}") for name in RESUME_FILES}
        if run.is_complete() or run.has_checkpoint or not all(ids.values()):
            return
        run.create()
        for name, artifact_id in ids.items():
            optuna.artifacts.download_artifact(artifact_store=self.store, artifact_id=artifact_id,
                                               file_path=str(run.file(name)))

    def run(self) -> int:
        """Train until no trial is waiting or running; returns how many this worker took."""
        taken = 0
        while self.failures_in_a_row < MAX_FAILURES_IN_A_ROW:
            optuna.storages.fail_stale_trials(self.study)
            states = Counter(t.state for runs in _by_run(self.study).values() for t in runs)
            if states[TrialState.WAITING]:
                self.study.optimize(self.objective, n_trials=1, catch=(K49Error,),
                                    gc_after_trial=False)
                taken += 1
            elif states[TrialState.RUNNING]:
                time.sleep(POLL)  # another worker's trial may yet die and come back
            else:
                break
        return taken


def complete_trials(study: optuna.Study) -> set[int]:
    """The numbers of the trials complete now (pass them to `results` after the work)."""
    return {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


def results(study: optuna.Study, specs: list[RunSpec], done_before: set[int] = frozenset()
            ) -> list[dict[str, Any]]:
    """One row per run of `specs`, from its latest trial; a run whose trial was already
    complete before this command (`done_before`), or found its run complete, is "skipped".
    A trial enqueued by an earlier, interrupted command and trained now is "done"."""
    runs = _by_run(study)
    rows = []
    for spec in specs:
        trials = sorted(runs.get(run_id(spec), []), key=lambda t: t.number)
        last = trials[-1] if trials else None
        if last is None:
            status, error, seconds = "waiting", None, 0.0
        elif last.state == TrialState.COMPLETE:
            skipped = last.user_attrs.get("skipped") or last.number in done_before
            status = "skipped" if skipped else "done"
            error, seconds = None, last.user_attrs.get("seconds", 0.0)
        else:
            status = {TrialState.FAIL: "failed", TrialState.RUNNING: "running",
                      TrialState.WAITING: "waiting"}.get(last.state, last.state.name.lower())
            error = last.user_attrs.get("error")
            if last.state == TrialState.FAIL and error is None:
                error = f"its worker stopped beating {len(trials)} times (killed or lost)"
            seconds = last.user_attrs.get("seconds", 0.0)
        rows.append({"label": spec.label, "seed": spec.config.seed, "run_dir": str(spec.run_dir),
                     "status": status, "error": error, "seconds": seconds,
                     "attempts": len(trials)})
    return rows


def status(study: optuna.Study) -> dict[str, Any]:
    """Done / running / waiting / failed per label, and who runs what."""
    optuna.storages.fail_stale_trials(study)
    per_label: dict[str, Counter] = defaultdict(Counter)
    running = []
    for rid, trials in sorted(_by_run(study).items()):
        last = max(trials, key=lambda t: t.number)
        state = {TrialState.COMPLETE: "done", TrialState.RUNNING: "running",
                 TrialState.WAITING: "waiting"}.get(last.state, "failed")
        if state == "failed" and len(trials) < ATTEMPTS and last.state == TrialState.FAIL \
                and "error" not in last.user_attrs:
            state = "waiting"  # a retry is due
        per_label[last.user_attrs.get("label", rid.split("/")[0])][state] += 1
        if last.state == TrialState.RUNNING:
            running.append({"run": rid, "worker": last.user_attrs.get("worker"),
                            "host": last.user_attrs.get("host"),
                            "since": last.datetime_start.isoformat(timespec="seconds")
                            if last.datetime_start else None})
    return {"study": study.study_name, "out": study.user_attrs.get("out"),
            "labels": {k: dict(v) for k, v in per_label.items()}, "running": running}
