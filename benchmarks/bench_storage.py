"""How many trials per second each study storage sustains with 1, 4 and 16 client processes.

Each client is a separate process that loads the study and runs `--trials` empty trials (ask,
then tell with a constant), all clients starting together behind a barrier. Storages:

- sqlite:   k49's embedded storage, `open_storage(storage_url(None, tmpdir))` (RDBStorage on
            SQLite, every transaction BEGIN IMMEDIATE, heartbeats on);
- journal:  Optuna's `JournalStorage(JournalFileBackend(path))`, for comparison (no heartbeats);
- postgres: k49's `open_storage` on a private PostgreSQL cluster in a temporary folder
            (tests/postgres.py: fsync=off, 127.0.0.1), skipped when its binaries are missing.

Per storage and client count it reports trials/s overall (all trials / the wall time from the
barrier to the last client's end), the p50 and p99 seconds of one ask+tell, errors (exceptions
in ask or tell) and duplicates (a trial number or id handed to two clients, or a COMPLETE count
that disagrees with the tells that succeeded). Usage:

    python benchmarks/bench_storage.py [--trials 50] [--clients 1,4,16]
        [--storages sqlite,journal,postgres] [--out benchmarks/results/storage.json] [--json]

The JSON goes to --out; --json also prints it to stdout instead of the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import postgres  # noqa: E402  (tests/postgres.py: the private cluster the tests use too)
from k49.study.storage import open_storage, storage_url  # noqa: E402

STORAGES = ("sqlite", "journal", "postgres")
RESULTS = Path(__file__).resolve().parent / "results" / "storage.json"
SPAWN = multiprocessing.get_context("spawn")
#: A client that has not finished after this many seconds is counted as hung.
DEADLINE = 900


def _open(kind: str, where: str):
    if kind == "journal":
        return JournalStorage(JournalFileBackend(where))
    return open_storage(where)


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")  # experimental features; heartbeats without optimize()


def client(kind: str, where: str, name: str, trials: int, barrier, results) -> None:
    """One client process: `trials` empty trials, timed; puts its record on `results`."""
    _quiet()
    record = {"latencies": [], "numbers": [], "ids": [], "errors": 0, "error": None}
    try:
        study = optuna.load_study(study_name=name, storage=_open(kind, where))
        study.get_trials(deepcopy=False)  # connect before the clock starts
    except Exception as e:  # noqa: BLE001 - reported, not raised: the bench goes on
        record.update(errors=trials, error=f"{type(e).__name__}: {e}"[:300])
        barrier.wait(timeout=DEADLINE)
        record["start"] = record["end"] = time.monotonic()
        results.put(record)
        return
    barrier.wait(timeout=DEADLINE)
    record["start"] = time.monotonic()
    for _ in range(trials):
        t0 = time.monotonic()
        try:
            trial = study.ask()
            study.tell(trial, 1.0)
        except Exception as e:  # noqa: BLE001 - counted
            record["errors"] += 1
            record["error"] = record["error"] or f"{type(e).__name__}: {e}"[:300]
            continue
        record["latencies"].append(time.monotonic() - t0)
        record["numbers"].append(trial.number)
        record["ids"].append(trial._trial_id)
    record["end"] = time.monotonic()
    results.put(record)


def measure(kind: str, where: str, name: str, clients: int, trials: int) -> dict:
    """Run `clients` processes on a new study `name`; one result row."""
    optuna.create_study(study_name=name, storage=_open(kind, where))
    barrier, results = SPAWN.Barrier(clients), SPAWN.Queue()
    procs = [SPAWN.Process(target=client, args=(kind, where, name, trials, barrier, results))
             for _ in range(clients)]
    for p in procs:
        p.start()
    records = []
    for _ in procs:
        try:
            records.append(results.get(timeout=DEADLINE))
        except Exception:  # noqa: BLE001 - queue.Empty: a client hung or died
            break
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    lost = clients - len(records)
    latencies = [x for r in records for x in r["latencies"]]
    done = len(latencies)
    wall = (max(r["end"] for r in records) - min(r["start"] for r in records)) if records else 0
    numbers = Counter(n for r in records for n in r["numbers"])
    ids = Counter(i for r in records for i in r["ids"])
    complete = len(optuna.load_study(study_name=name, storage=_open(kind, where))
                   .get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    duplicates = (sum(c - 1 for c in numbers.values()) + sum(c - 1 for c in ids.values())
                  + abs(complete - done))
    return {
        "storage": kind, "clients": clients, "trials": done, "wall_s": round(wall, 3),
        "trials_per_s": round(done / wall, 1) if wall > 0 else None,
        "p50_s": round(float(np.percentile(latencies, 50)), 4) if latencies else None,
        "p99_s": round(float(np.percentile(latencies, 99)), 4) if latencies else None,
        "errors": sum(r["errors"] for r in records) + lost * trials,
        "duplicates": duplicates, "complete": complete, "lost_clients": lost,
        "first_error": next((r["error"] for r in records if r["error"]), None),
    }


def run_bench(storages: list[str], clients: list[int], trials: int, quiet: bool) -> dict:
    report = {"trials_per_client": trials, "clients": clients, "cpus": os.cpu_count(),
              "python": platform.python_version(), "optuna": optuna.__version__,
              "rows": [], "skipped": {}}
    with tempfile.TemporaryDirectory(prefix="k49-bench-storage-") as tmp:
        cluster = None
        try:
            for kind in storages:
                if kind == "postgres":
                    reason = postgres.missing()
                    if reason:
                        report["skipped"]["postgres"] = reason
                        continue
                    cluster = postgres.Cluster().start()
                    report["postgres_bin"] = str(cluster.bin)
                for n in clients:
                    name = f"{kind}-{n}"
                    if kind == "sqlite":
                        where = storage_url(None, Path(tmp) / name)
                    elif kind == "journal":
                        where = str(Path(tmp) / f"{name}.journal")
                    else:
                        where = storage_url(cluster.url, None)
                    row = measure(kind, where, name, n, trials)
                    report["rows"].append(row)
                    if not quiet:
                        print(f"  {kind:>8} x{n:<3} {row['trials_per_s']} trials/s", flush=True,
                              file=sys.stderr)
        finally:
            if cluster is not None:
                cluster.stop()
    return report


def table(report: dict) -> str:
    head = (f"{'storage':>9} {'clients':>7} {'trials':>6} {'trials/s':>9} {'p50 s':>8} "
            f"{'p99 s':>8} {'errors':>6} {'dups':>5}")
    lines = [head, "-" * len(head)]
    for r in report["rows"]:
        lines.append(f"{r['storage']:>9} {r['clients']:>7} {r['trials']:>6} "
                     f"{r['trials_per_s'] or 0:>9.1f} {r['p50_s'] or 0:>8.4f} "
                     f"{r['p99_s'] or 0:>8.4f} {r['errors']:>6} {r['duplicates']:>5}")
    lines += [f"{k}: skipped ({v})" for k, v in report["skipped"].items()]
    lines.append(f"{report['trials_per_client']} empty trials per client process, "
                 f"{report['cpus']} CPUs, optuna {report['optuna']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per client (50)")
    parser.add_argument("--clients", default="1,4,16", help="client counts (1,4,16)")
    parser.add_argument("--storages", default=",".join(STORAGES), help=",".join(STORAGES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    args = parser.parse_args()
    storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    unknown = set(storages) - set(STORAGES)
    if unknown or args.trials < 1:
        parser.error(f"unknown storage {sorted(unknown)}" if unknown else "--trials >= 1")
    clients = [int(c) for c in args.clients.split(",")]
    report = run_bench(storages, clients, args.trials, quiet=args.json)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report) if args.json else table(report))


if __name__ == "__main__":
    main()
