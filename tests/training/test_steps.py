"""The pieces of the training loop, one at a time: the running tally, the named random streams,
one epoch of steps, and the optimizer's fused-kernel fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from k49.runs.config import TrainConfig
from k49.training import components
from k49.training.components import build_training
from k49.training.steps import batch_order, rng, train_one_epoch
from k49.training.tally import Tally


def _batches(n_batches=150, batch=7, n_classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_batches):
        logits = torch.randn(batch, n_classes, generator=g)
        y = torch.randint(0, n_classes - 1, (batch,), generator=g)  # one class never seen
        yield torch.rand((), generator=g), logits, y


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_tally_agrees_with_sklearn_across_flushes_and_a_saved_state():
    batches = list(_batches())
    tally = Tally(5)
    for loss, logits, y in batches[:100]:
        tally.add(loss, logits, y)
    resumed = Tally(5, tally.state())  # as a checkpoint mid-epoch restores it
    for loss, logits, y in batches[100:]:
        resumed.add(loss, logits, y)
    y_all = torch.cat([y for _, _, y in batches]).numpy()
    pred = torch.cat([lg.argmax(1) for _, lg, _ in batches]).numpy()
    mean_loss = sum(float(loss) * len(y) for loss, _, y in batches) / len(y_all)
    loss, acc, bal = resumed.summary()
    assert resumed.seen == len(y_all) and loss == pytest.approx(mean_loss, rel=1e-12)
    assert acc == pytest.approx(accuracy_score(y_all, pred))
    assert bal == pytest.approx(balanced_accuracy_score(y_all, pred))  # over classes present
    assert all(math.isnan(v) for v in Tally(5).summary())


def test_random_streams_are_named_and_fixed_by_seed_epoch_and_step():
    def draw(*key):
        return torch.rand(4, generator=rng(*key)).tolist()

    assert draw("augment", 0, 1, 2) == draw("augment", 0, 1, 2)
    assert draw("augment", 0, 1, 2) != draw("mix", 0, 1, 2)  # same step, other stream
    assert draw("mix", 0, 1, 2) != draw("mix", 0, 1, 3) != draw("mix", 1, 1, 2)
    order = batch_order(10, seed=3, epoch=2, device=torch.device("cpu"))
    assert sorted(order.tolist()) == list(range(10))
    assert torch.equal(order, batch_order(10, 3, 2, torch.device("cpu")))
    assert not torch.equal(order, batch_order(10, 3, 3, torch.device("cpu")))


def _setup(n=100, batch=16):
    config = TrainConfig(model="NN_1_sgd", batch_size=batch, seed=0).resolved()
    labels = torch.arange(n) % 49
    images = (torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(
        torch.uint8)
    counts = np.bincount(labels.numpy(), minlength=49)
    return config, build_training(config, 49, counts, torch.device("cpu")), images, labels


def test_one_epoch_takes_the_steps_asked_and_tallies_each_image_once():
    config, t, images, labels = _setup()
    order = batch_order(len(images), config.seed, 0, torch.device("cpu"))
    before = [p.detach().clone() for p in t.model.parameters()]
    tally = Tally(49)
    seen = []

    def record(steps_done: int, running: Tally) -> bool:
        seen.append((steps_done, running.seen))
        return False  # never ask to stop

    next_step = train_one_epoch(t, config, images, labels, order, 0, range(0, 7), tally, record)
    assert next_step == 7 and tally.seen == 100  # 6 batches of 16, then 4
    assert seen == [(s, min(16 * s, 100)) for s in range(1, 8)]
    assert any(not torch.equal(a, b) for a, b in zip(before, t.model.parameters(), strict=True))
    # A stop asked for after step 3 ends the epoch there; the next call resumes from it.
    tally = Tally(49)
    stopped = train_one_epoch(t, config, images, labels, order, 1, range(0, 7), tally,
                              on_step=lambda s, tl: s == 3)
    assert stopped == 3 and tally.seen == 48


def test_the_optimizer_falls_back_to_foreach_without_fused_kernels(monkeypatch):
    real = components.build_optimizer

    def no_fused(name, params, lr, **kwargs):
        if kwargs.get("fused"):
            raise RuntimeError("fused kernels are not supported on this device")
        return real(name, params, lr, **kwargs)

    monkeypatch.setattr(components, "build_optimizer", no_fused)
    config = TrainConfig(model="NN_1_adam").resolved()
    t = build_training(config, 49, np.ones(49), torch.device("cpu"))
    assert t.optimizer.defaults.get("foreach") and not t.optimizer.defaults.get("fused")
    assert components.step_kwargs("adam", torch.device("cpu")) == {"fused": True}
    assert components.step_kwargs("adadelta", torch.device("cpu")) == {"foreach": True}
