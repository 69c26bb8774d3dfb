"""The hot loop: optimizer steps over uint8 images held in memory, batched by slices of a
seeded permutation, so there is no per-sample Python and no DataLoader."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from k49.models.inference import to_input
from k49.models.resnet import mix_targets, sample_mix
from k49.training.recipe import affine_augment
from k49.training.tally import Tally


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: torch.nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    perm: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    channels_last: bool,
    tally: Tally,
    start_step: int = 0,
    stop_step: int | None = None,
    mixup: str = "none",
    mixup_alpha: float = 1.0,
    mix_key: tuple[int, int] = (0, 0),
    amp: bool = False,
    amp_dtype: torch.dtype = torch.bfloat16,
    scaler: torch.amp.GradScaler | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ema: torch.optim.swa_utils.AveragedModel | None = None,
    augment: bool = False,
) -> Iterator[int]:
    """The hot loop: one optimizer step per batch `perm[step * batch_size:(step + 1) *
    batch_size]` of the uint8 images `x_train` (`perm`, `x_train` and `y_train` on one device),
    for steps start_step .. stop_step - 1 (default: to the end of `perm`). Yields each step's
    index once its update and its tally are done, so the caller can show progress or stop
    between steps. `mix_key` is (seed, epoch): each step's mixing (and affine augmentation) is
    drawn from a generator seeded by (seed, epoch, step). The `scheduler` steps and the `ema`
    is updated after every optimizer step.
    """
    n_classes = tally.n_classes
    use_mix = mixup != "none"
    if stop_step is None:
        stop_step = (len(perm) + batch_size - 1) // batch_size
    for step in range(start_step, stop_step):
        idx = perm[step * batch_size:(step + 1) * batch_size]
        # index_select copies whole rows; x[idx] would gather byte by byte.
        x = to_input(x_train.index_select(0, idx), device, channels_last)
        y = y_train.index_select(0, idx).to(device)
        if augment:
            x = affine_augment(x, epoch_generator(*mix_key, step, 1))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            if use_mix:
                mix = sample_mix(len(idx), mixup, mixup_alpha, epoch_generator(*mix_key, step))
                logits = model(x, mix=mix)
                target = mix_targets(y, mix, n_classes)
            else:
                logits, target = model(x), y
            loss = loss_fn(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        tally.add(loss.detach(), logits.detach(), y)
        yield step


def epoch_generator(*key: int) -> torch.Generator:
    """A generator seeded by (seed, epoch[, step]): batch order and mixing never depend on
    how many steps ran before a resume."""
    seed = 0
    for k in key:
        seed = seed * 1_000_003 + int(k)
    return torch.Generator().manual_seed(seed % (2**63))
