"""A sweep's search space, from TOML, validated like a suite file; and sampling a trial from it.

```toml
name = "seed-factors"
objectives = ["val_balanced_accuracy"]      # add "train_seconds" for the cost Pareto front
pruner = "median"                           # median, hyperband or none
[fixed]                                     # TrainConfig fields every trial shares
limit_train = 6000
[params]
family = ["mlp", "cnn"]                     # a list: categorical
lr = {low = 1e-4, high = 0.1, log = true}   # a table: a range (int if both ends are ints)
```

Every parameter is sampled in every trial (a family ignores the arguments it has not, e.g. an
MLP ignores `filters`), so the importance of each can be measured over all trials.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from k49.errors import K49Error
from k49.models import create_model, list_models
from k49.models.parametric import FAMILY_ARGS
from k49.runs.config import TrainConfig
from k49.study.suites import read_toml, toml_location

OBJECTIVES = {"val_balanced_accuracy": "maximize", "train_seconds": "minimize"}
#: TrainConfig fields a sweep may vary.
TRAIN_PARAMS = ("optimizer", "lr", "batch_size", "weight_decay", "loss", "epochs")
MODEL_PARAMS = ("layers", "units", "filters", "batch_norm", "dropout")

Scalar = bool | int | float | str


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None

    def check(self, name: str) -> None:
        if self.low >= self.high:
            raise ValueError(f"{name}: low must be below high")
        if self.log and self.low <= 0:
            raise ValueError(f"{name}: a log range needs low > 0")


#: A table is a range, anything else a list of choices (a tagged union: clearer errors).
Param = Annotated[
    Annotated[list[Scalar], Tag("choices")] | Annotated[Range, Tag("range")],
    Discriminator(lambda v: "range" if isinstance(v, dict | Range) else "choices"),
]


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    objectives: list[Literal["val_balanced_accuracy", "train_seconds"]] = Field(
        default_factory=lambda: ["val_balanced_accuracy"], min_length=1, max_length=2)
    pruner: Literal["median", "hyperband", "none"] = "median"
    fixed: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Param] = Field(min_length=1)

    @field_validator("objectives")
    @classmethod
    def _accuracy_first(cls, value: list[str]) -> list[str]:
        if value[0] != "val_balanced_accuracy" or len(set(value)) != len(value):
            raise ValueError("the first objective is val_balanced_accuracy; the second, if "
                             "any, train_seconds")
        return value

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    def spec_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _validate(space: SearchSpace) -> None:
    """The whole space, before anything is written: every parameter names something a trial
    can set, every value is one TrainConfig and every family searched accept, and the largest
    model the space allows fits in this machine's memory."""
    known = {"family", *TRAIN_PARAMS, *MODEL_PARAMS}
    for name, spec in space.params.items():
        if name not in known:
            raise ValueError(f"params.{name}: unknown parameter (use {', '.join(sorted(known))})")
        if isinstance(spec, Range):
            _check_range(f"params.{name}", spec)
        else:
            _check_choices(f"params.{name}", spec)
        if name in TRAIN_PARAMS:
            for value in _probes(spec):
                try:
                    TrainConfig(model="mlp", **{name: value})
                except ValidationError as e:
                    raise ValueError(f"params.{name}: {value!r}: "
                                     f"{e.errors()[0]['msg'].removeprefix('Value error, ')}"
                                     ) from None
    families = _families(space)
    for name in MODEL_PARAMS:
        if name in space.params:
            _check_model_param(name, space.params[name], families)
    TrainConfig(model="mlp", **{k: v for k, v in space.fixed.items() if k != "model"})
    if space.fixed.get("val_fraction", 0.3) == 0:
        raise ValueError("fixed.val_fraction: a sweep scores trials on a validation split; "
                         "it cannot be 0")
    _check_memory(space, families)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(where: str, r: Range) -> None:
    if any(isinstance(v, bool) for v in (r.low, r.high, r.step)):
        raise ValueError(f"{where}: a range takes numbers, not true/false: give a list instead")
    if r.low >= r.high:
        raise ValueError(f"{where}: low must be below high")
    if r.log and r.low <= 0:
        raise ValueError(f"{where}: a log range needs low > 0")
    if r.step is None:
        return
    if r.log:
        raise ValueError(f"{where}: a log range cannot have a step: drop log or step")
    if r.step <= 0:
        raise ValueError(f"{where}: step must be above 0, got {r.step}")
    if _is_int(r.low) and _is_int(r.high) and not _is_int(r.step):
        raise ValueError(f"{where}: a range of whole numbers needs a whole-number step, got "
                         f"{r.step}")
    if r.step > r.high - r.low:
        raise ValueError(f"{where}: step {r.step} is wider than the range {r.low}..{r.high}")


def _check_choices(where: str, values: list[Scalar]) -> None:
    if not values:
        raise ValueError(f"{where}: give at least one value")
    kinds = {"true/false" if isinstance(v, bool) else "text" if isinstance(v, str) else "number"
             for v in values}
    if len(kinds) > 1:
        raise ValueError(f"{where}: the choices mix {' and '.join(sorted(kinds))}: give values "
                         "of one kind")


def _probes(spec: Range | list[Scalar]) -> list[Scalar]:
    """Values that stand for what a trial may draw: both ends of a range, and for a range of
    floats one value between them with a fraction (so a float range of an integer is caught);
    every choice of a list."""
    if not isinstance(spec, Range):
        return list(spec)
    if _is_int(spec.low) and _is_int(spec.high):
        return [spec.low, spec.high]
    return [spec.low, spec.high, spec.low + 0.375 * (spec.high - spec.low)]


def _families(space: SearchSpace) -> list[str]:
    """The models a trial may build: the `family` choices, or the fixed model."""
    model = space.fixed.get("model")
    spec = space.params.get("family")
    if spec is not None and model is not None:
        raise ValueError("fixed.model and params.family both choose the model: keep one")
    if spec is None and model is None:
        raise ValueError("params.family: say which families to search (mlp, cnn, resnet)")
    if isinstance(spec, Range):
        raise ValueError(f"params.family: give a list of families ({', '.join(FAMILY_ARGS)})")
    if spec is not None:
        for v in spec:
            if v not in FAMILY_ARGS:
                raise ValueError(f"params.family: {v!r} is not one of {', '.join(FAMILY_ARGS)}")
        return list(spec)
    if model not in list_models():
        raise ValueError(f"fixed.model: {model!r} is not a model: see `k49 models`")
    return [model]


def _check_model_param(name: str, spec: Range | list[Scalar], families: list[str]) -> None:
    """`name` is taken by at least one family searched, within that family's range."""
    takers = [f for f in families if name in FAMILY_ARGS.get(f, {})]
    if not takers:
        takes = "; ".join(f"{f} takes {', '.join(FAMILY_ARGS[f]) or 'none'}"
                          if f in FAMILY_ARGS else f"{f} is a fixed architecture"
                          for f in families)
        raise ValueError(f"params.{name}: no model searched takes it ({takes}): remove it")
    for family in takers:
        bounds = FAMILY_ARGS[family][name]
        for value in _probes(spec):
            if bounds is None:
                if not isinstance(value, bool):
                    raise ValueError(f"params.{name}: {value!r}: give true or false")
            elif _is_int(bounds[0]) and not _is_int(value):
                raise ValueError(f"params.{name}: {value!r}: {family} takes whole numbers "
                                 f"from {bounds[0]} to {bounds[1]}")
            elif isinstance(value, bool | str) or not bounds[0] <= value <= bounds[1]:
                raise ValueError(f"params.{name}: {value!r} is outside {family}'s range "
                                 f"{bounds[0]}..{bounds[1]}")


#: Bytes a trial holds per trainable parameter: float32 weights, gradients, two Adam moments.
BYTES_PER_PARAM = 4 * 4


def _check_memory(space: SearchSpace, families: list[str]) -> None:
    """Refuse a space whose largest model's parameters (with gradients and optimizer state)
    would not fit in this machine's memory; counted on torch's meta device, which allocates
    nothing."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for family in families:
        if family not in FAMILY_ARGS:
            continue
        largest = {name: max(_probes(space.params[name]))
                   for name in FAMILY_ARGS[family]
                   if name in space.params and FAMILY_ARGS[family][name] is not None}
        with torch.device("meta"):
            n_params = sum(p.numel() for p in create_model(family, **largest).parameters())
        if n_params * BYTES_PER_PARAM > memory:
            raise ValueError(
                f"params: the largest {family} ({', '.join(f'{k}={v}' for k, v in largest.items())}"
                f") has {n_params:,} parameters, {n_params * BYTES_PER_PARAM / 2**30:.1f} GB "
                f"with gradients and optimizer state, more than this machine's "
                f"{memory / 2**30:.1f} GB: narrow its range")


def load_space(path: str | Path) -> SearchSpace:
    """The search space in TOML file `path`, validated; an error names the key and its line."""
    path = Path(path)
    text, raw = read_toml(path, "search space")
    try:
        space = SearchSpace.model_validate(raw)
        _validate(space)
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        raise K49Error(f"{path}: {toml_location(err, text)}: {msg}: fix that key and run "
                       "again") from None
    except ValueError as e:
        raise K49Error(f"{path}: {e}: fix that key and run again") from None
    return space


def suggest(trial: optuna.Trial, space: SearchSpace) -> tuple[str, dict, dict]:
    """(model, model_args, TrainConfig overrides) of one trial."""
    values = {}
    for name, spec in space.params.items():
        if isinstance(spec, Range):
            if isinstance(spec.low, int) and isinstance(spec.high, int) and not isinstance(
                    spec.low, bool):
                values[name] = trial.suggest_int(name, spec.low, spec.high, log=spec.log,
                                                 step=int(spec.step or 1))
            else:
                values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log,
                                                   step=spec.step)
        else:
            values[name] = trial.suggest_categorical(name, spec)
    model = values.pop("family", space.fixed.get("model"))
    allowed = FAMILY_ARGS.get(model, {})
    model_args = {k: values[k] for k in MODEL_PARAMS if k in values and k in allowed}
    train = {k: values[k] for k in TRAIN_PARAMS if k in values}
    return model, model_args, train
