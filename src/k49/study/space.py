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
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
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
    """Every parameter names something a trial can set, with values TrainConfig accepts."""
    known = {"family", *TRAIN_PARAMS, *MODEL_PARAMS}
    for name, values in space.params.items():
        if name not in known:
            raise ValueError(f"params.{name}: unknown parameter (use {', '.join(sorted(known))})")
        if isinstance(values, Range):
            values.check(f"params.{name}")
            samples = [values.low, values.high]
        else:
            if not values:
                raise ValueError(f"params.{name}: give at least one value")
            samples = values
        for v in samples:
            if name == "family":
                if v not in FAMILY_ARGS:
                    raise ValueError(f"params.family: {v!r} is not one of "
                                     f"{', '.join(FAMILY_ARGS)}")
            elif name in TRAIN_PARAMS:
                TrainConfig(model="mlp", **{name: v})
    if "family" not in space.params and "model" not in space.fixed:
        raise ValueError("params.family: say which families to search (mlp, cnn, resnet)")
    TrainConfig(model="mlp", **{k: v for k, v in space.fixed.items() if k != "model"})
    if space.fixed.get("val_fraction", 0.3) == 0:
        raise ValueError("fixed.val_fraction: a sweep scores trials on a validation split; "
                         "it cannot be 0")


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
