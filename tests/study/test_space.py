"""A search space is checked whole before anything is written: every value a trial may draw is
one the model family and TrainConfig accept, and the largest model fits in memory."""

from __future__ import annotations

import re

import optuna
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k49.errors import K49Error
from k49.models import create_model
from k49.runs.config import TrainConfig
from k49.study import space as space_module
from k49.study.space import load_space, suggest


def _load(tmp_path, params: str, fixed: str = "limit_train = 400"):
    path = tmp_path / "space.toml"
    path.write_text(f'name = "s"\n[fixed]\n{fixed}\n[params]\n{params}\n', encoding="utf-8")
    return load_space(path)


@pytest.mark.parametrize("params, fixed, needle", [
    ('family = ["mlp"]\nlayers = { low = -5, high = -1 }', "", "-5 is outside mlp's range 1..6"),
    ('family = ["mlp"]\nunits = { low = 0, high = 1 }', "", "0 is outside mlp's range 16..4096"),
    ('family = ["mlp"]\nunits = { low = 1000000000, high = 2000000000 }', "",
     "outside mlp's range"),
    ('family = ["mlp"]\nlayers = { low = 1, high = 3, step = 0 }', "", "step must be above 0"),
    ('family = ["mlp"]\nlayers = { low = 1, high = 3, step = -4 }', "", "step must be above 0"),
    ('family = ["mlp"]\nlayers = { low = 1, high = 3, step = 0.5 }', "", "whole-number step"),
    ('family = ["mlp"]\nlayers = { low = 1, high = 3, step = 5 }', "", "wider than the range"),
    ('family = ["mlp"]\nlr = { low = 1e-4, high = 0.1, log = true, step = 0.01 }', "",
     "a log range cannot have a step"),
    ('family = ["mlp"]\nunits = [16, "wide", true]', "", "mix number and text and true/false"),
    ('family = ["mlp", "cnn"]\ndropout = { low = 0.5, high = 2.0 }', "",
     "2.0 is outside mlp's range 0.0..0.9"),
    ('family = ["mlp"]\nunits = { low = 16.0, high = 64.0 }', "", "mlp takes whole numbers"),
    ('family = ["mlp"]\nepochs = { low = 1.0, high = 4.0 }', "", "params.epochs: 2.125"),
    ('family = ["mlp"]\nbatch_norm = [1, 0]', "", "give true or false"),
    ('family = ["mlp"]\nfilters = [8, 16]', "", "no model searched takes it (mlp takes"),
    ('family = { low = 1, high = 2 }', "", "give a list of families"),
    ('family = ["mlp"]', 'model = "NN_2_adam"', "fixed.model and params.family both"),
    ('units = [16, 32]', 'model = "NN_2_adam"', "NN_2_adam is a fixed architecture"),
    ('lr = [0.1]', 'model = "gpt"', "fixed.model: 'gpt' is not a model"),
])
def test_a_space_a_trial_could_not_run_is_refused_naming_the_key(tmp_path, params, fixed,
                                                                 needle):
    with pytest.raises(K49Error, match=re.escape(needle)) as e:
        _load(tmp_path, params, fixed)
    assert "\n" not in str(e.value)


def test_a_fixed_parametric_model_takes_its_own_arguments(tmp_path):
    space = _load(tmp_path, "units = [16, 32]", 'model = "mlp"')
    trial = optuna.create_study().ask()
    model, model_args, _ = suggest(trial, space)
    assert model == "mlp" and model_args["units"] in (16, 32)


def test_a_space_whose_largest_model_cannot_fit_is_refused(tmp_path, monkeypatch):
    """6 layers of 4096 units are 87 M parameters, 1.3 GB with gradients and Adam: more than a
    machine of 1 GB."""
    real = space_module.os.sysconf
    pages = 2**30 // real("SC_PAGE_SIZE")
    monkeypatch.setattr(space_module.os, "sysconf",
                        lambda name: pages if name == "SC_PHYS_PAGES" else real(name))
    with pytest.raises(K49Error, match=r"largest mlp \(layers=6, units=4096\) has 87,322,673 "
                                       r"parameters, 1.3 GB .* 1.0 GB: narrow its range"):
        _load(tmp_path, 'family = ["mlp"]\nlayers = [6]\nunits = { low = 1024, high = 4096 }')
    _load(tmp_path, 'family = ["mlp"]\nlayers = [2]\nunits = { low = 16, high = 256 }')


_FAMILIES = st.lists(st.sampled_from(["mlp", "cnn", "resnet"]), min_size=1, max_size=3,
                     unique=True)
_NUMBER = st.one_of(st.integers(-2, 20), st.integers(-10, 5000),
                    st.floats(-2, 5000, allow_nan=False))


@st.composite
def _range(draw):
    low, high = draw(_NUMBER), draw(_NUMBER)
    step = draw(st.one_of(st.none(), _NUMBER))
    parts = [f"low = {low!r}", f"high = {high!r}"]
    if step is not None:
        parts.append(f"step = {step!r}")
    if draw(st.booleans()):
        parts.append("log = true")
    return "{ " + ", ".join(parts) + " }"


_VALUE = st.one_of(st.none(), _range(), st.lists(st.one_of(_NUMBER, st.booleans(), st.just('"x"')),
                                      min_size=1, max_size=3).map(
    lambda vs: "[" + ", ".join(str(v).lower() if isinstance(v, bool) else repr(v)
                               if not isinstance(v, str) else v for v in vs) + "]"))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(families=_FAMILIES, layers=_VALUE, width=_VALUE, dropout=_VALUE, epochs=_VALUE)
def test_every_trial_of_an_accepted_space_builds_and_validates(tmp_path, families, layers, width,
                                                               dropout, epochs):
    """Arbitrary ranges and choices: either the space is refused in one line, or every trial
    drawn from it builds its model (on the meta device: nothing allocated) and its config."""
    values = {"layers": layers, "units": width, "filters": width, "dropout": dropout,
              "epochs": epochs}
    params = f"family = {families!r}\n".replace("'", '"') + "".join(
        f"{name} = {value}\n" for name, value in values.items() if value is not None)
    try:
        space = _load(tmp_path, params)
    except K49Error as e:
        assert "\n" not in str(e)
        return
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        model, model_args, train = suggest(study.ask(), space)
        with torch.device("meta"):
            create_model(model, **model_args)
        TrainConfig(model=model, model_args=model_args, limit_train=400, **train)
