"""Suites: named lists of models with shared settings, planned into model x seed runs, each
trained into DIR/<label>/seed-<n>/. A suite file's keys are TrainConfig's own fields."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from k49.errors import K49Error
from k49.io import read_user_file
from k49.models import get_entry, list_models
from k49.runs.config import Overrides, TrainConfig
from k49.runs.rundir import RunDir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class SuiteModel(Overrides):
    """One model of a suite: its registered name, its overrides, and optionally its own run
    label and seeds."""

    name: str
    #: Directory name of the run, when one model appears twice (e.g. with and without mixup).
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$")
    #: This model's seeds, replacing the study's (the suite's `seeds` or `--seeds`): e.g. more
    #: seeds for the models that are cheap to train.
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)

    @field_validator("label")
    @classmethod
    def _plain_name(cls, label: str | None) -> str | None:
        if label is not None and set(label) <= {"."}:
            raise ValueError("a label must name a folder inside the study, not . or ..")
        return label

    def values(self) -> dict[str, Any]:
        """The training settings this entry sets."""
        return self.model_dump(exclude_none=True, exclude={"name", "label", "seeds"})


class Suite(BaseModel):
    """A suite: the models to train (each with its overrides and seeds), the study's seeds and
    dataset, and the overrides every model shares; read from TOML by `load_suite`."""

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
    run: RunDir

    @property
    def run_dir(self) -> Path:
        return self.run.path


def builtin_suite(name: str) -> Suite:
    """`seed`: the original study's 12 models; `paper`: the K49 paper's baselines and the
    ResNets; `all`: both."""
    models = {
        "seed": list_models(tag="original"),
        "paper": list_models(tag="paper"),
        "all": list_models(tag="original") + list_models(tag="paper"),
    }
    if name not in models:
        raise K49Error(f"unknown suite {name!r}: use seed, paper, all or a .toml file")
    entries = [SuiteModel(name=m) for m in models[name]]
    if name in ("paper", "all") and "preact_resnet18" in models[name]:
        entries += [SuiteModel(name="preact_resnet18", mixup=mode,
                               label=f"preact_resnet18_{mode}_mixup")
                    for mode in ("input", "manifold")]
    return Suite(name=name, models=entries)


def toml_location(err: dict, text: str) -> str:
    """`models[2].lr` plus the TOML line where that key sits, when it can be found."""
    loc = err["loc"]
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    for name in (p for p in reversed(loc) if isinstance(p, str)):  # innermost key first
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip().startswith((f"{name} ", f"{name}=")):
                return f"{key} (line {i})"
    return key


#: The largest suite or search-space file read (a real one is a few kB).
TOML_LIMIT = 1 << 20


def read_toml(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """(text, table) of TOML file `path`, its `name` defaulting to the file's stem; a file that
    cannot be read, is not UTF-8 or not TOML is a one-line K49Error naming `what` it is."""
    data = read_user_file(path, limit=TOML_LIMIT, name=f"{what} {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise K49Error(f"{what} {path} is not UTF-8 text: save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise K49Error(f"{path} is not valid TOML: {e}") from None
    raw.setdefault("name", path.stem)
    return text, raw


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a TOML suite file, validated."""
    if not name_or_path.endswith(".toml"):
        return builtin_suite(name_or_path)
    path = Path(name_or_path)
    text, raw = read_toml(path, "suite file")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise K49Error(
            f"{path}: {toml_location(err, text)}: {err['msg']}{more}: fix that key and run again"
        ) from None
    for m in suite.models:
        get_entry(m.name)  # unknown names fail now, naming the close ones
    return suite


def plan(suite: Suite, seeds: Iterable[int], out: Path, **overrides: Any) -> list[RunSpec]:
    """Every model x seed run of `suite`; command-line `overrides` win over the suite's."""
    specs = []
    given = {k: v for k, v in overrides.items() if v is not None}
    seeds = list(seeds)
    for m in suite.models:
        for seed in m.seeds or seeds:
            values = {**suite.defaults.model_dump(exclude_none=True), **m.values()}
            values.update(given)
            if suite.dataset and "dataset" not in given:
                values["dataset"] = suite.dataset
            try:
                config = TrainConfig(model=m.name, seed=seed, **values)
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(map(str, err["loc"])) or "config"
                raise K49Error(f"model {m.name}: {where}: "
                               f"{err['msg'].removeprefix('Value error, ')}") from None
            label = m.label or m.name
            specs.append(RunSpec(label, config, RunDir.in_study_root(out, label, seed)))
    return specs


