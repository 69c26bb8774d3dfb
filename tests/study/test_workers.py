"""Workers sharing one study: a worker killed with kill -9 mid-trial loses nothing. Its trial is
failed after the grace period, retried by another worker, resumed from the run's checkpoint,
and every run completes exactly once. On the embedded storage (4 processes) and on a real
PostgreSQL (3 processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from k49.runs import RunDir
from k49.study.queue import RESUME_FILES, enqueue, open_study, status
from k49.study.storage import storage_url
from k49.study.suites import Suite, SuiteModel, plan

pytestmark = pytest.mark.slow

#: Heartbeat every 2 s, a trial without a beat for 8 s is failed (the defaults are 20 and 90).
HEARTBEAT = "2,8"
SEEDS = range(4)


def _start_worker(url: str, out: Path, log: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "K49_HEARTBEAT": HEARTBEAT}
    return subprocess.Popen(
        [sys.executable, "-m", "k49", "worker", "--storage", url, "--study", "faults",
         "--out", str(out), "--quiet", *extra],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _epoch_saved(study, rid: str, folder: Path, shared: bool) -> bool:
    """Mid-trial with an epoch saved: in the run folder, or (without a shared folder) in the
    artifact store."""
    if shared:
        return RunDir(folder / rid).file(RunDir.CHECKPOINT).exists()
    # Every resume file uploaded: a kill between the checkpoint's upload and the history's
    # leaves nothing a retry can resume from.
    keys = [f"artifact:{name}" for name in RESUME_FILES]
    return any(t.user_attrs.get("run_id") == rid and all(k in t.user_attrs for k in keys)
               and t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))


def _runs(study) -> dict[str, list]:
    runs: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        if "run_id" in t.user_attrs:
            runs.setdefault(t.user_attrs["run_id"], []).append(t)
    return runs


@pytest.mark.parametrize("backend, workers, shared", [
    ("sqlite", 4, True), ("postgresql", 3, True), ("sqlite", 3, False)],
    ids=["sqlite-4-shared-folder", "postgresql-3-shared-folder", "sqlite-3-artifact-store"])
def test_kill_9_mid_trial_then_retry_resumes_and_completes_each_run_once(
        backend, workers, shared, synth_dir, tmp_path, request):
    """With `shared`, every worker trains into one folder; without, the victim has a folder of
    its own and the retry resumes from the checkpoint kept in an Optuna artifact store."""
    out = tmp_path / "study"
    url = (storage_url(None, out) if backend == "sqlite"
           else storage_url(request.getfixturevalue("postgres_url"), out))
    suite = Suite(name="faults", models=[SuiteModel(name="CNN_1_adam")])
    specs = plan(suite, list(SEEDS), out, epochs=3, limit_train=1200, data_dir=str(synth_dir))
    os.environ["K49_HEARTBEAT"] = HEARTBEAT  # this process reads the study with the same beat
    study = open_study(url, "faults", out, create=True)
    assert enqueue(study, specs) == len(SEEDS)

    extra = [] if shared else ["--artifacts", str(tmp_path / "artifacts")]
    folders = [out if shared or i else tmp_path / "victim" for i in range(workers)]
    procs = [_start_worker(url, folders[i], tmp_path / f"worker{i}.log", *extra)
             for i in range(workers)]
    victim, timeline, t0 = procs[0], [], time.monotonic()
    deadline = t0 + 240
    killed = None
    while killed is None and time.monotonic() < deadline:
        assert victim.poll() is None, (tmp_path / "worker0.log").read_text()
        for run in status(study)["running"]:
            if not run["worker"]:  # just taken: its worker has not signed it yet
                continue
            pid = int(run["worker"].rsplit(":", 1)[1])
            if pid == victim.pid and _epoch_saved(study, run["run"], folders[0], shared):
                os.kill(victim.pid, signal.SIGKILL)
                killed = run["run"]
                timeline.append((time.monotonic() - t0, f"kill -9 worker {pid} on {killed}"))
                break
        time.sleep(0.2)
    assert killed, "the victim never held a trial with a checkpoint"
    for p in procs[1:]:
        p.wait(timeout=max(1, deadline - time.monotonic()))
        assert p.returncode == 0, (tmp_path / "worker1.log").read_text()
    victim.wait()
    timeline.append((time.monotonic() - t0, "all workers finished"))

    runs = _runs(open_study(url, "faults"))
    assert sorted(runs) == sorted(f"CNN_1_adam/seed-{s}" for s in SEEDS)
    for rid, trials in runs.items():
        states = Counter(t.state for t in trials)
        assert states[TrialState.COMPLETE] == 1, (rid, states)
        assert RunDir(out / rid).is_complete()
    killed_trials = sorted(runs[killed], key=lambda t: t.number)
    assert [t.state for t in killed_trials] == [TrialState.FAIL, TrialState.COMPLETE]
    timings = json.loads(RunDir(out / killed).file(RunDir.TIMINGS).read_text())
    assert timings["resumed_from_epoch"] >= 1, timings  # resumed, not restarted
    print(f"{backend} timeline:", timeline)
