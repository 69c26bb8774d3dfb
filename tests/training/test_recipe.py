"""The recipe's levers: a model's registered recipe, the one-cycle schedule, the weights' EMA and
affine augmentation."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from k49.models import create_model, get_entry, list_models
from k49.models.fast import FAST_RECIPE
from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir
from k49.training.recipe import affine_augment, build_ema, build_schedule
from k49.training.steps import rng
from k49.training.trainer import train


def test_a_models_recipe_fills_only_what_the_caller_left_unset():
    c = TrainConfig(model="resnet_fast").resolved()
    assert {k: getattr(c, k) for k in FAST_RECIPE} == FAST_RECIPE
    assert (c.optimizer, c.loss) == ("adamw", "label_smoothing")
    mine = TrainConfig(model="resnet_fast", epochs=7, schedule="constant").resolved()
    assert (mine.epochs, mine.schedule, mine.batch_size) == (7, "constant", 256)
    # Models without a recipe keep the original protocol.
    assert TrainConfig(model="CNN_1_adam").resolved().schedule == "constant"


@pytest.mark.parametrize("name", [n for n in list_models() if get_entry(n).recipe])
def test_every_registered_recipe_is_a_valid_config(name):
    TrainConfig(model=name, **get_entry(name).recipe)  # validated like a user's options


def test_one_cycle_warms_up_to_the_peak_then_decays_and_resumes_in_place():
    config = TrainConfig(model="NN_1_adam", lr=0.01, schedule="onecycle", warmup=0.3)

    def lrs(done):
        """The rate of each of the 100 steps after the first `done`."""
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
        sched = build_schedule(opt, config, 100, done)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(99 - done):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
        return out

    full = lrs(0)
    peak = max(range(100), key=full.__getitem__)
    assert full[peak] == pytest.approx(0.01) and 25 <= peak <= 35
    assert full[0] < 0.001 and full[-1] < 1e-4
    with warnings.catch_warnings():  # fast-forwarding is not torch's "step before optimizer"
        warnings.simplefilter("error")
        resumed = lrs(40)
    assert resumed == pytest.approx(full[40:])  # a resumed run continues the same curve
    assert build_schedule(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1),
                          TrainConfig(model="NN_1_adam"), 100, 0) is None


def test_ema_averages_the_weights():
    model = torch.nn.Linear(2, 1)
    ema = build_ema(model, 0.5)
    start = model.weight.detach().clone()
    ema.update_parameters(model)  # the first update copies
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update_parameters(model)
    assert torch.allclose(ema.module.weight, start + 1.0)
    assert build_ema(model, 0.0) is None


def test_affine_augmentation_is_seeded_small_and_keeps_the_shape():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 8:20, 10:18] = 1.0
    a = affine_augment(x, rng("augment", 0, 1, 2))
    b = affine_augment(x, rng("augment", 0, 1, 2))
    c = affine_augment(x, rng("augment", 0, 1, 3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().mean() < 0.1  # a small move: most pixels stay
    assert a.sum(dim=(1, 2, 3)).sub(x.sum(dim=(1, 2, 3))).abs().max() < 0.25 * x[0].sum()


@pytest.mark.slow
def test_the_recipe_trains_with_its_levers_and_records_them(tiny, tmp_path):
    result = train(TrainConfig(model="resnet_fast", epochs=2, batch_size=32, ema=0.9,
                               augment="affine"), tmp_path / "run", dataset=tiny, quiet=True)
    assert result.config.schedule == "onecycle" and result.config.loss == "label_smoothing"
    lrs = [h["lr"] for h in result.history]
    assert lrs[-1] < lrs[0] < result.config.lr  # the end of the cycle


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None,
                    reason="torch.compile on a CPU needs a C++ compiler")
def test_compile_changes_the_speed_not_the_run(tiny, tmp_path):
    config = TrainConfig(model="NN_1_adam", epochs=1, batch_size=64, threads=1)
    compiled = config.model_copy(update={"compile": True})
    assert compiled.config_hash() == config.config_hash()  # the same run, resumable either way
    plain = train(config, tmp_path / "plain", dataset=tiny, quiet=True)
    fast = train(compiled, tmp_path / "compiled", dataset=tiny, quiet=True)
    assert fast.history[-1]["train_loss"] == pytest.approx(plain.history[-1]["train_loss"],
                                                           rel=1e-4)
    a, b = (create_model("NN_1_adam") for _ in range(2))
    RunDir(tmp_path / "plain").load_weights(a)
    RunDir(tmp_path / "compiled").load_weights(b)  # the plain model's names
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)
