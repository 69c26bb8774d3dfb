"""One epoch of optimizer steps over uint8 images held in memory, batched by slices of a seeded
permutation, so there is no per-sample Python and no DataLoader; and the run's named random
streams, which depend only on (seed, epoch, step), so a resumed run draws what an
uninterrupted one would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from k49.models.inference import to_input
from k49.models.resnet import mix_targets, sample_mix
from k49.runs.config import TrainConfig
from k49.training.components import Training
from k49.training.graph import StepGraph
from k49.training.recipe import affine_augment
from k49.training.tally import Tally

Stream = Literal["order", "mix", "augment"]
#: Each stream's key after (seed, epoch, step): the values runs were recorded with, so they
#: stay bit for bit the same (`order` is drawn once an epoch, without a step).
_STREAM_KEYS: dict[str, tuple[int, ...]] = {"order": (), "mix": (), "augment": (1,)}


def rng(stream: Stream, seed: int, epoch: int, step: int | None = None) -> torch.Generator:
    """The generator of one random stream of a run: the epoch's batch `order`, or a step's
    `mix` (mixup) or `augment` (affine augmentation) draws."""
    key = (seed, epoch) if step is None else (seed, epoch, step, *_STREAM_KEYS[stream])
    value = 0
    for k in key:
        value = value * 1_000_003 + int(k)
    return torch.Generator().manual_seed(value % (2**63))


def batch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The permutation that batches epoch `epoch`, on `device` (where the images are). On
    CUDA it is drawn there, from a CUDA generator seeded alike: the same order on every run
    of that seed and device, though not the CPU's."""
    if device.type == "cuda":
        generator = torch.Generator(device).manual_seed(rng("order", seed, epoch).initial_seed())
        return torch.randperm(n, generator=generator, device=device)
    return torch.randperm(n, generator=rng("order", seed, epoch)).to(device)


def train_one_epoch(t: Training, config: TrainConfig, images: torch.Tensor,
                    labels: torch.Tensor, order: torch.Tensor, epoch: int, steps: range,
                    tally: Tally, on_step: Callable[[int, Tally], bool] | None = None,
                    graph: StepGraph | None = None) -> int:
    """Take optimizer steps `steps` of epoch `epoch`: step s trains on the images
    `order[s * batch_size:(s + 1) * batch_size]` (uint8 `images`, `labels` and `order` on one
    device), adds its loss and predictions to `tally`, then steps the schedule and the EMA.
    Given a `graph` (CUDA), its full batches are replayed from it.

    After each step `on_step(steps done, tally)` is called; when it returns True the epoch
    stops there. Returns the number of the next step to take.
    """
    batch = config.batch_size
    t.model.train()
    # Beside a graph only a short last batch is eager: the plain model spares a compiled
    # one a second compilation for its shape.
    forward = t.forward if graph is None else t.model
    if graph is not None:
        graph.start_epoch(order, steps.start)
    for step in steps:
        if graph is not None and (step + 1) * batch <= len(order):
            graph.step(tally)
        else:
            eager_step(t, forward, config, images, labels,
                       order[step * batch:(step + 1) * batch], epoch, step, tally)
        if t.schedule is not None:
            t.schedule.step()
        if t.ema is not None:
            t.ema.update_parameters(t.model)
        if on_step is not None and on_step(step + 1, tally):
            return step + 1
    return steps.stop


def eager_step(t: Training, forward: torch.nn.Module, config: TrainConfig,
               images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, epoch: int,
               step: int, tally: Tally) -> None:
    """One optimizer step on the images `idx` through `forward` (t.model or t.forward),
    kernel by kernel, added to `tally`."""
    # index_select copies whole rows; images[idx] would gather byte by byte.
    x = to_input(images.index_select(0, idx), t.device, t.channels_last)
    y = labels.index_select(0, idx).to(t.device)
    if config.augment == "affine":
        x = affine_augment(x, rng("augment", config.seed, epoch, step))
        if t.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(t.device.type, dtype=t.amp_dtype or torch.bfloat16,
                        enabled=t.amp_dtype is not None):
        if config.mixup != "none":
            mix = sample_mix(len(idx), config.mixup, config.mixup_alpha,
                             rng("mix", config.seed, epoch, step))
            logits, target = forward(x, mix=mix), mix_targets(y, mix, tally.n_classes)
        else:
            logits, target = forward(x), y
        loss = t.loss_fn(logits.float(), target)
    t.optimizer.zero_grad(set_to_none=True)
    if t.scaler.is_enabled():
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
    else:
        loss.backward()
        t.optimizer.step()
    tally.add(loss.detach(), logits.detach(), y)
