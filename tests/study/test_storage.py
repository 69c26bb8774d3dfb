"""The study storage under real concurrency: worker processes sharing one study.

- A queue of 40 enqueued trials, taken by 4 processes on the embedded SQLite storage and by 3 on
  a private PostgreSQL cluster (tests/postgres.py): every run completes exactly once, none runs
  twice. A worker that asks when the queue is already empty gets a new "spare" trial with no
  run_id; it is pruned and marked, never counted as a run.
- Heartbeats on SQLite: a worker killed with SIGKILL mid-trial stops beating; after the grace
  period `fail_stale_trials` (from another process) fails its trial and the retry callback
  enqueues a WAITING copy with the same run_id, which the next worker completes.

Workers are spawned processes (not forked: each opens its own connections), started together
behind a barrier. Deadlines below only stop a hung test; nothing asserts a duration.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
import warnings
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from k49.errors import K49Error
from k49.study import storage as storage_module
from k49.study.storage import EMBEDDED_DB, heartbeat_settings, open_storage, storage_url

pytestmark = pytest.mark.slow

RUNS = [f"r{i}" for i in range(40)]
#: A hung test fails after this many seconds (never reached by a working one).
DEADLINE = 300
SPAWN = multiprocessing.get_context("spawn")


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def _load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _enqueue(study: optuna.Study, runs: list[str]) -> None:
    """One trial per run, as k49's queue makes them: the run_id is both a fixed parameter (so
    `skip_if_exists` tells runs apart) and a user attribute."""
    for rid in runs:
        study.enqueue_trial({"run_id": rid}, user_attrs={"run_id": rid}, skip_if_exists=True)


def _create(url: str, name: str, runs: list[str]) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")
    _enqueue(study, runs)
    return study


# --- what the worker processes run (module level: spawned processes import them) -----------

def _worker(url: str, name: str, log_dir: str, barrier=None) -> None:
    """Take trials while any is WAITING; log each run_id when its objective starts."""
    _quiet()
    study = _load(url, name)
    log = Path(log_dir) / f"{os.getpid()}.log"

    def objective(trial: optuna.Trial) -> float:
        rid = trial.user_attrs.get("run_id")
        if rid is None:  # the queue was empty when this worker asked: a spare trial
            trial.set_user_attr("spare", True)
            raise optuna.TrialPruned("no run left")
        # no suggest_categorical("run_id", [rid]): a study's parameter must keep one
        # distribution, and [r0] and [r1] are two ("dynamic value space" error)
        with log.open("a") as f:
            f.write(rid + "\n")
        trial.set_user_attr("worker", os.getpid())
        return float(rid[1:])

    if barrier is not None:
        barrier.wait(timeout=DEADLINE)
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.optimize(objective, n_trials=1)


def _hang(url: str, name: str, started: str) -> None:
    """Take a trial, say so in the file `started`, then hang until killed."""
    _quiet()
    study = _load(url, name)

    def objective(trial: optuna.Trial) -> float:
        Path(started).write_text(str(trial.number))
        time.sleep(DEADLINE)
        return 0.0

    study.optimize(objective, n_trials=1)


def _reap(url: str, name: str) -> None:
    """Call `fail_stale_trials` until no trial is RUNNING (a status command's job)."""
    _quiet()
    study = _load(url, name)
    deadline = time.monotonic() + DEADLINE
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if time.monotonic() > deadline:
            raise SystemExit("the dead worker's trial was never failed")
        optuna.storages.fail_stale_trials(study)
        time.sleep(0.2)


# --- helpers --------------------------------------------------------------------------------

def _run_all(procs: list) -> None:
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=DEADLINE)
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not hung, f"worker processes {hung} still running after {DEADLINE} s"
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _logged(log_dir: Path) -> Counter:
    return Counter(line for f in log_dir.glob("*.log") for line in f.read_text().split())


def run_queue(url: str, name: str, workers: int, tmp_path: Path) -> dict:
    """Enqueue RUNS, let `workers` processes drain the queue, check every run ran once."""
    study = _create(url, name, RUNS)
    assert len(study.get_trials(states=(TrialState.WAITING,))) == len(RUNS)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    barrier = SPAWN.Barrier(workers)
    _run_all([SPAWN.Process(target=_worker, args=(url, name, str(log_dir), barrier))
              for _ in range(workers)])

    trials = _load(url, name).get_trials(deepcopy=False)
    runs = [t for t in trials if "run_id" in t.user_attrs]
    spares = [t for t in trials if "run_id" not in t.user_attrs]
    once = dict.fromkeys(RUNS, 1)
    # every run is COMPLETE exactly once, with its own value; no other trial carries a run
    assert Counter(t.user_attrs["run_id"] for t in runs if t.state == TrialState.COMPLETE) == once
    assert all(t.state == TrialState.COMPLETE for t in runs)
    assert all(t.value == float(t.user_attrs["run_id"][1:]) for t in runs)
    assert all(t.system_attrs["fixed_params"] == {"run_id": t.user_attrs["run_id"]}
               for t in runs)
    # and no objective ran a run twice (the workers' own logs, not the storage's word)
    assert _logged(log_dir) == once
    # spare trials (the queue was empty when a worker asked) are pruned and marked
    assert all(t.state == TrialState.PRUNED and t.user_attrs.get("spare") for t in spares)
    workers_used = Counter(t.user_attrs["worker"] for t in runs)
    return {"spares": len(spares), "runs_per_worker": sorted(workers_used.values())}


# --- the tests --------------------------------------------------------------------------------

def test_enqueue_skips_only_a_run_already_there(tmp_path):
    url = storage_url(None, tmp_path)
    study = _create(url, "queue", RUNS[:3])
    _enqueue(study, RUNS[:4])  # rerunning the set-up command adds only the new run
    assert sorted(t.user_attrs["run_id"] for t in study.get_trials()) == sorted(RUNS[:4])
    # why the run_id must be a parameter: with `{}`, every trial after the first is a "repeat"
    bare = optuna.create_study(study_name="bare", storage=open_storage(url))
    for rid in RUNS[:3]:
        bare.enqueue_trial({}, user_attrs={"run_id": rid}, skip_if_exists=True)
    assert len(bare.get_trials()) == 1


def test_four_processes_on_sqlite_run_each_trial_once(tmp_path, record_property):
    url = storage_url(None, tmp_path / "out")
    result = run_queue(url, "sqlite-queue", 4, tmp_path)
    record_property("spare_trials", result["spares"])
    record_property("runs_per_worker", result["runs_per_worker"])
    assert sum(result["runs_per_worker"]) == len(RUNS)


def test_three_processes_on_postgres_run_each_trial_once(postgres_url, tmp_path,
                                                         record_property):
    url = storage_url(postgres_url, None)
    assert url.startswith("postgresql+psycopg://")
    result = run_queue(url, "postgres-queue", 3, tmp_path)
    record_property("spare_trials", result["spares"])
    record_property("runs_per_worker", result["runs_per_worker"])
    assert sum(result["runs_per_worker"]) == len(RUNS)


def test_a_killed_worker_s_trial_is_failed_and_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("K49_HEARTBEAT", "1,3")  # spawned processes inherit it
    assert heartbeat_settings() == (1, 3)
    url = storage_url(None, tmp_path / "out")
    study = _create(url, "heartbeat", ["r0"])
    started = tmp_path / "started"

    victim = SPAWN.Process(target=_hang, args=(url, "heartbeat", str(started)))
    victim.start()
    deadline = time.monotonic() + DEADLINE
    while not started.exists() and victim.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not started.exists():
        victim.kill()
        victim.join()
        pytest.fail(f"the worker never started its trial (exit code {victim.exitcode})")
    (running,) = study.get_trials(states=(TrialState.RUNNING,))
    assert running.user_attrs["run_id"] == "r0" and running.number == int(started.read_text())
    os.kill(victim.pid, signal.SIGKILL)  # mid-trial, no chance to tell the storage anything
    victim.join(timeout=DEADLINE)
    assert victim.exitcode == -signal.SIGKILL
    # nobody has noticed yet: the trial stays RUNNING until someone looks for stale trials
    assert [t.number for t in study.get_trials(states=(TrialState.RUNNING,))] == [running.number]

    _run_all([SPAWN.Process(target=_reap, args=(url, "heartbeat"))])
    failed = study.get_trials()[running.number]
    assert failed.state == TrialState.FAIL
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.user_attrs["run_id"] == "r0"
    assert retry.system_attrs["fixed_params"] == {"run_id": "r0"}
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == running.number

    # the next worker takes the copy: the run completes once, nothing is lost
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    _run_all([SPAWN.Process(target=_worker, args=(url, "heartbeat", str(log_dir)))])
    states = Counter(t.state for t in study.get_trials())
    assert states == {TrialState.FAIL: 1, TrialState.COMPLETE: 1}
    assert _logged(log_dir) == {"r0": 1}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite:///file:x?mode=memory&uri=true"])
def test_an_in_memory_sqlite_storage_is_refused_in_one_line(url):
    with pytest.raises(K49Error, match="in-memory database") as e:
        storage_url(url, None)
    assert "\n" not in str(e.value)


def test_a_read_only_study_db_is_refused_in_one_line(tmp_path, monkeypatch):
    """Root ignores file modes, so the check's own question (os.access) answers "no"."""
    db = tmp_path / EMBEDDED_DB
    open_storage(f"sqlite:///{db}")
    monkeypatch.setattr(storage_module.os, "access", lambda path, mode: Path(path) != db)
    with pytest.raises(K49Error, match=f"{re.escape(str(db))} is read-only") as e:
        open_storage(f"sqlite:///{db}")
    assert "\n" not in str(e.value)
