"""The training recipe's levers beyond the original study: a one-cycle learning-rate schedule,
an exponential moving average (EMA) of the weights, and small random affine augmentation.

Each is off by default (TrainConfig: schedule="constant", ema=0, augment="none"), so runs of
the original protocol are unchanged. Each is deterministic given (seed, epoch, step), so a
resumed run ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from k49.runs.config import TrainConfig

#: Affine augmentation: at most this rotation (degrees), relative scale change and shift
#: (share of the image side) per image.
ROTATE, SCALE, SHIFT = 8.0, 0.08, 0.06


def build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int,
                   done_steps: int) -> OneCycleLR | None:
    """torch's OneCycleLR (warm-up to `lr` over `warmup` of the steps, cosine decay), moved on
    by the `done_steps` a resumed run has already taken; None for a constant rate."""
    if config.schedule == "constant":
        return None
    schedule = OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(total_steps, 1),
                          pct_start=config.warmup, anneal_strategy="cos",
                          cycle_momentum=False, div_factor=25.0, final_div_factor=1e3)
    with warnings.catch_warnings():
        # Replaying the steps already taken, before this process's first optimizer step: not
        # the misuse torch warns about (the curve is not shifted; tests/training/test_recipe).
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        for _ in range(min(done_steps, total_steps - 1)):
            schedule.step()
    return schedule


def build_ema(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An EMA of `model`'s weights and BatchNorm statistics (None when `decay` is 0)."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def affine_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random small rotation, scale and shift of each image of the float batch `x`
    (B, 1, H, W), drawn from `generator`; pixels moved in from outside are background (0)."""
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(ROTATE)
    scale = 1 + u[:, 1] * SCALE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 2 * SHIFT], 1),
                         torch.stack([sin, cos, u[:, 3] * 2 * SHIFT], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
