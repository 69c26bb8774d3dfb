"""The CUDA-graph step (k49.training.graph) as far as a CPU can check it: its captured body,
run eagerly here, trains exactly as the eager loop does; its totals add up as the tally's;
and runs that cannot be captured say why. The capture itself is tested in tests/test_cuda.py."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from k49.models.optimizers import build_optimizer
from k49.runs.checkpoint import load_checkpoint, save_checkpoint
from k49.runs.config import TrainConfig
from k49.runs.records import TrainingProgress
from k49.training.components import GRAPH_SWITCH, build_training, eager_because, step_kwargs
from k49.training.graph import StepGraph, graph_blocker
from k49.training.recipe import build_schedule
from k49.training.steps import batch_order, train_one_epoch
from k49.training.tally import DeviceTotals, Tally

CPU = torch.device("cpu")


def _data(n=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 28, 28, generator=g) * 255).to(torch.uint8)
    labels = torch.randint(0, 49, (n,), generator=g)
    return images, labels


def _train(config: TrainConfig, images, labels, *, graphed: bool, epochs=2):
    """`epochs` epochs of the loop, through a StepGraph or without; the model and tallies."""
    t = build_training(config, 49, np.bincount(labels.numpy(), minlength=49), CPU)
    steps = -(-len(images) // config.batch_size)
    t.schedule = build_schedule(t.optimizer, config, epochs * steps, 0)
    graph = StepGraph(t, config, images, labels, 49, t.schedule is not None) if graphed \
        else None
    tallies = []
    for epoch in range(epochs):
        tally = Tally(49, device_totals=graph.totals if graph else None)
        order = batch_order(len(images), config.seed, epoch, CPU)
        train_one_epoch(t, config, images, labels, order, epoch, range(steps), tally,
                        graph=graph)
        tally.summary()  # read before the next epoch's tally zeroes the totals, as the loop does
        tallies.append(tally)
    return t, tallies


@pytest.mark.parametrize("model", ["NN_2_adam", "NN_1_sgd", "CNN_1_adam",
                                   "NN_dense_batch_norm"])
def test_the_graph_body_trains_bit_for_bit_as_the_eager_loop(model):
    """Full batches from the graph's body (gathered by its device step number), the short last
    batch eager: the same weights and the same tallies as the eager loop."""
    images, labels = _data()
    config = TrainConfig(model=model, batch_size=32).resolved()  # 4 full batches and 22
    eager, eager_tallies = _train(config, images, labels, graphed=False)
    graphed, graph_tallies = _train(config, images, labels, graphed=True)
    for (name, a), b in zip(eager.model.state_dict().items(),
                            graphed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(eager_tallies, graph_tallies, strict=True):
        assert a.seen == b.seen == len(images)
        assert torch.equal(a.hits, b.hits) and torch.equal(a.counts, b.counts)
        assert a.loss_sum == pytest.approx(b.loss_sum, rel=1e-12)


def test_a_schedule_and_an_ema_beside_the_graph_follow_the_eager_run():
    """The one-cycle schedule writes into the tensor learning rate the graph reads; the EMA
    is updated after each replay."""
    images, labels = _data()
    config = TrainConfig(model="NN_2_adam", batch_size=32, schedule="onecycle",
                         ema=0.9).resolved()
    eager, _ = _train(config, images, labels, graphed=False)
    graphed, _ = _train(config, images, labels, graphed=True)
    assert isinstance(graphed.optimizer.param_groups[0]["lr"], torch.Tensor)
    assert float(graphed.optimizer.param_groups[0]["lr"]) == pytest.approx(
        eager.optimizer.param_groups[0]["lr"])
    for a, b in zip(eager.scored_model.state_dict().values(),
                    graphed.scored_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_of_a_tensor_learning_rate_resumes_as_a_number(tmp_path):
    images, labels = _data()
    config = TrainConfig(model="NN_1_adam", batch_size=32, schedule="onecycle").resolved()
    t, _ = _train(config, images, labels, graphed=True, epochs=1)
    lr = float(t.optimizer.param_groups[0]["lr"])
    save_checkpoint(tmp_path / "c.safetensors", t.model, t.optimizer, TrainingProgress(1))
    fresh = build_training(config, 49, np.ones(49), CPU)
    load_checkpoint(tmp_path / "c.safetensors", fresh.model, fresh.optimizer)
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(lr)


def test_device_totals_add_up_as_the_tally_does():
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand((), generator=g), torch.randn(9, 5, generator=g),
                torch.randint(0, 4, (9,), generator=g)) for _ in range(20)]
    plain, totals = Tally(5), DeviceTotals(5, CPU)
    on_device = Tally(5, device_totals=totals)
    for loss, logits, y in batches:
        plain.add(loss, logits, y)
        totals.add(loss, logits, y)
        on_device.add_counted(len(y))
    assert on_device.summary() == pytest.approx(plain.summary(), rel=1e-12)
    assert torch.equal(on_device.hits, plain.hits) and on_device.seen == plain.seen
    assert totals.loss_sum.item() == 0 and totals.counts.sum() == 0  # taken once read
    Tally(5, device_totals=totals)  # a new epoch's tally starts the totals from zero
    totals.add(*batches[0])
    assert Tally(5, device_totals=totals).counts.sum() == 0


@pytest.mark.parametrize(("change", "why"), [
    ({}, None),
    ({"mixup": "input"}, "mixup"),
    ({"augment": "affine"}, "augmentation"),
])
def test_runs_with_host_randomness_are_not_captured(change, why):
    config = TrainConfig(model="resnet_small", **change).resolved()
    assert eager_because(config, CPU, None) == "not on CUDA"
    blocker = eager_because(config, torch.device("cuda"), torch.bfloat16)
    assert blocker is None if why is None else why in blocker


def test_float16_scaling_and_the_environment_switch_keep_the_step_eager(monkeypatch):
    config = TrainConfig(model="NN_1_adam").resolved()
    cuda = torch.device("cuda")  # only compared, never used
    assert "float16" in eager_because(config, cuda, torch.float16)
    monkeypatch.setenv(GRAPH_SWITCH, "0")
    assert eager_because(config, cuda, torch.bfloat16) == f"{GRAPH_SWITCH}=0"


def test_an_optimizer_that_cannot_be_captured_keeps_the_step_eager():
    config = TrainConfig(model="NN_1_adam").resolved()
    t = build_training(config, 49, np.ones(49), CPU)
    assert graph_blocker(t) == "not on CUDA" and t.optimizer.defaults["capturable"] is False
    ready = dataclasses.replace(t, eager_because=None)  # as build_training does on CUDA
    assert "not capturable" in graph_blocker(ready)
    for group in ready.optimizer.param_groups:
        group["capturable"] = True
    assert graph_blocker(ready) is None
    sgd = build_training(TrainConfig(model="NN_1_sgd").resolved(), 49, np.ones(49), CPU)
    sgd = dataclasses.replace(sgd, eager_because=None)
    assert graph_blocker(sgd) is None  # fused, and it keeps no step count
    for group in sgd.optimizer.param_groups:
        group["fused"] = False
    assert "neither fused nor capturable" in graph_blocker(sgd)


def test_only_a_graphed_run_asks_for_a_capturable_optimizer():
    assert step_kwargs("adam", CPU) == {"fused": True}
    assert step_kwargs("adam", CPU, capturable=True) == {"fused": True, "capturable": True}
    assert step_kwargs("sgd", CPU, capturable=True) == {"fused": True}
    assert step_kwargs("adadelta", CPU, capturable=True) == {"foreach": True,
                                                             "capturable": True}


@pytest.mark.parametrize("model", ["NN_2_adam", "NN_1_sgd", "CNN_dense_batch_norm"])
def test_the_graph_body_never_reads_a_value_back_to_the_host(model, monkeypatch):
    """On the meta device tensors have shapes but no values, so an `.item()`, a bincount or
    anything sized by the data raises: what a CUDA capture would refuse as a host sync."""
    meta = torch.device("meta")
    # autocast knows no meta device; the body's arithmetic is the same without it
    monkeypatch.setattr(torch, "autocast", lambda *args, **kwargs: contextlib.nullcontext())
    config = TrainConfig(model=model, batch_size=32).resolved()
    t = build_training(config, 49, np.ones(49), meta)
    # fused kernels have no meta implementation: the same update, one tensor at a time
    t = dataclasses.replace(t, optimizer=build_optimizer(
        config.optimizer, t.model.parameters(), config.lr, foreach=False))
    images = torch.empty(100, 28, 28, dtype=torch.uint8, device=meta)
    labels = torch.empty(100, dtype=torch.long, device=meta)
    graph = StepGraph(t, config, images, labels, 49, schedule_changes_lr=False)
    for _ in range(2):  # the second step finds the optimizer's state made
        graph._body()
    assert graph.totals.hits.device == meta and graph.totals.hits.shape == (49,)


def test_a_refused_capture_trains_on_eagerly_and_says_why(monkeypatch):
    """Should a torch or GPU refuse the capture, the run goes on with the same steps, eager."""
    images, labels = _data()
    config = TrainConfig(model="NN_2_adam", batch_size=32).resolved()
    eager, _ = _train(config, images, labels, graphed=False, epochs=1)
    t = build_training(config, 49, np.ones(49), CPU)
    graph = StepGraph(t, config, images, labels, 49, schedule_changes_lr=False)
    graph.on_cuda, graph.warm_steps = True, 10**6  # as if on CUDA, warmed up

    def refuse():
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", refuse)
    tally = Tally(49, device_totals=graph.totals)
    with pytest.warns(UserWarning, match="the capture failed: operation not permitted"):
        train_one_epoch(t, config, images, labels, batch_order(len(images), config.seed, 0, CPU),
                        0, range(5), tally, graph=graph)
    assert graph.graph is None and graph.eager_because == (
        "the capture failed: operation not permitted when stream is capturing")
    assert tally.seen == len(images)
    for a, b in zip(eager.model.state_dict().values(), t.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
