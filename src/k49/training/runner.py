"""Suites: many model x seed runs, each trained into DIR/<model>/seed-<n>/.

One run directory is the unit of work. A `RunQueue` hands out runs to workers; the local queue
claims a run by creating a lock file in its directory, so several `k49 run` processes (or
machines sharing a file system) can work through one study. A shared-database queue (Optuna's
storage) is another `RunQueue`, not a rewrite.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from k49.errors import K49Error
from k49.training.config import TrainConfig
from k49.training.trainer import is_complete

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Overrides(BaseModel):
    """Training settings a suite may set for all its models or for one."""

    model_config = ConfigDict(extra="forbid")

    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    optimizer: str | None = None
    loss: str | None = None
    val_fraction: float | None = Field(None, ge=0, lt=1)
    limit_train: int | None = Field(None, ge=49)
    mixup: str | None = Field(None, pattern="^(none|input|manifold)$")
    mixup_alpha: float | None = Field(None, gt=0)

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SuiteModel(Overrides):
    name: str
    #: Directory name of the run, when one model appears twice (e.g. with and without mixup).
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$")


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    dataset: str | None = None
    seeds: list[int] | None = None
    defaults: Overrides = Overrides()
    models: list[SuiteModel] = Field(min_length=1)


@dataclass(frozen=True)
class RunSpec:
    """One model x seed run: what to train and where."""

    label: str
    config: TrainConfig
    run_dir: Path


def builtin_suite(name: str) -> Suite:
    from k49.models import list_models

    models = {
        "seed": list_models(tag="seed"),
        "paper": list_models(tag="paper"),
        "all": list_models(tag="seed") + list_models(tag="paper"),
    }
    if name not in models:
        raise K49Error(f"unknown suite {name!r}: use seed, paper, all or a .toml file")
    entries = [SuiteModel(name=m) for m in models[name]]
    if name in ("paper", "all") and "preact_resnet18" in models[name]:
        entries += [SuiteModel(name="preact_resnet18", mixup=mode,
                               label=f"preact_resnet18_{mode}_mixup")
                    for mode in ("input", "manifold")]
    return Suite(name=name, models=entries)


def _location(err: dict, text: str) -> str:
    """`models[2].lr` plus the TOML line where that key sits, when it can be found."""
    loc = err["loc"]
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    last = next((p for p in reversed(loc) if isinstance(p, str)), None)
    if last:
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip().startswith(f"{last} ") or line.strip().startswith(f"{last}="):
                return f"{key} (line {i})"
    return key


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a TOML suite file, validated."""
    if not name_or_path.endswith(".toml"):
        return builtin_suite(name_or_path)
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise K49Error(f"cannot read suite file {path}: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise K49Error(f"{path} is not valid TOML: {e}") from None
    raw.setdefault("name", path.stem)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise K49Error(
            f"{path}: {_location(err, text)}: {err['msg']}{more}: fix that key and run again"
        ) from None
    from k49.models import get_entry

    for m in suite.models:
        get_entry(m.name)  # unknown names fail now, naming the close ones
    return suite


def plan(suite: Suite, seeds: Iterable[int], out: Path, **overrides: Any) -> list[RunSpec]:
    """Every model x seed run of `suite`; command-line `overrides` win over the suite's."""
    specs = []
    given = {k: v for k, v in overrides.items() if v is not None}
    for m in suite.models:
        for seed in seeds:
            values = {**suite.defaults.values(), **m.model_dump(exclude_none=True,
                                                                exclude={"name", "label"})}
            values.update(given)
            if suite.dataset and "dataset" not in given:
                values["dataset"] = suite.dataset
            try:
                config = TrainConfig(model=m.name, seed=seed, **values)
            except ValidationError as e:
                err = e.errors()[0]
                raise K49Error(f"model {m.name}: {'.'.join(map(str, err['loc']))}: "
                               f"{err['msg']}") from None
            label = m.label or m.name
            specs.append(RunSpec(label, config, out / label / f"seed-{seed}"))
    return specs


class RunQueue(Protocol):
    """Hands out runs that are neither complete nor claimed by another worker."""

    def claim(self) -> RunSpec | None: ...

    def release(self, spec: RunSpec) -> None: ...


class LocalQueue:
    """A queue over run directories; a lock file (created exclusively) claims a run."""

    LOCK = ".lock"

    def __init__(self, specs: list[RunSpec]):
        self.pending = [s for s in specs if not is_complete(s.run_dir)]
        self.skipped = [s for s in specs if is_complete(s.run_dir)]

    def claim(self) -> RunSpec | None:
        while self.pending:
            spec = self.pending.pop(0)
            spec.run_dir.mkdir(parents=True, exist_ok=True)
            lock = spec.run_dir / self.LOCK
            if _stale(lock):
                lock.unlink(missing_ok=True)
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue  # another worker has it
            os.write(fd, f"{os.getpid()} {os.uname().nodename}\n".encode())
            os.close(fd)
            return spec
        return None

    def release(self, spec: RunSpec) -> None:
        (spec.run_dir / self.LOCK).unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    """A lock left by a dead process on this host (after kill -9) does not block a resume."""
    try:
        pid, host = lock.read_text().split()
    except (OSError, ValueError):
        return lock.exists()
    if host != os.uname().nodename:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _run_one(spec: RunSpec, threads: int, quiet: bool) -> dict[str, Any]:
    from k49.training.trainer import train

    config = spec.config.model_copy(update={"threads": threads})
    t0 = time.perf_counter()
    try:
        result = train(config, spec.run_dir, quiet=quiet)
        status = "skipped" if result.skipped else "done"
        error = None
    except K49Error as e:
        status, error = "failed", str(e)
    return {"label": spec.label, "seed": spec.config.seed, "run_dir": str(spec.run_dir),
            "status": status, "error": error, "seconds": time.perf_counter() - t0}


def run_suite(specs: list[RunSpec], *, jobs: int = 1, quiet: bool = False,
              queue: RunQueue | None = None) -> list[dict[str, Any]]:
    """Train every pending run, `jobs` at a time, each with cpu_count // jobs threads."""
    if jobs < 1:
        raise K49Error(f"--jobs must be at least 1, got {jobs}")
    local = queue or LocalQueue(specs)
    results = [{"label": s.label, "seed": s.config.seed, "run_dir": str(s.run_dir),
                "status": "skipped", "error": None, "seconds": 0.0}
               for s in getattr(local, "skipped", [])]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        while spec := local.claim():
            try:
                results.append(_run_one(spec, threads, quiet))
            finally:
                local.release(spec)
        return results
    ctx = _worker_context()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        running: dict[Any, RunSpec] = {}
        try:
            while True:
                while len(running) < jobs and (spec := local.claim()):
                    running[pool.submit(_run_one, spec, threads, True)] = spec
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    spec = running.pop(future)
                    local.release(spec)
                    results.append(future.result())
                    if not quiet:
                        r = results[-1]
                        print(f"{r['label']} seed {r['seed']}: {r['status']} "
                              f"({r['seconds']:.0f} s){': ' + r['error'] if r['error'] else ''}")
        finally:
            for spec in running.values():
                local.release(spec)
    return results


def _worker_context():
    """Workers forked from a server that has imported torch and k49 once (where the platform
    has forkserver), so a worker starts in milliseconds instead of re-importing for seconds."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([
            "k49.training.runner", "k49.training.trainer", "k49.models", "k49.models.seed",
            "k49.training.losses", "k49.training.optim", "k49.training.provenance",
            "k49.data.load", "sklearn.model_selection", "safetensors.torch", "rich.progress",
        ])
        return ctx
    return multiprocessing.get_context("spawn")
