"""What a run trains with: the model initialised from its seed, its optimizer, loss, weights
average and precision, gathered in one typed `Training`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel

from k49.errors import K49Error
from k49.models import create_model, get_entry
from k49.models.losses import build_loss
from k49.models.optimizers import build_optimizer
from k49.runs.config import TrainConfig
from k49.training.recipe import build_ema


@dataclass
class Training:
    """Everything the training loop steps: built by `build_training` from a resolved config."""

    model: torch.nn.Module
    #: What validation and test score: the weights' moving average when the run keeps one.
    scored_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: torch.nn.Module
    ema: AveragedModel | None
    #: Loss scaling for float16 autocast (disabled otherwise).
    scaler: torch.amp.GradScaler
    device: torch.device
    #: Convolutional models take channels_last batches on the CPU (use_channels_last).
    channels_last: bool
    #: Autocast precision on CUDA (bfloat16 where supported); None: full float32.
    amp_dtype: torch.dtype | None
    #: The one-cycle schedule; set by the loop once it knows where a resumed run stands.
    schedule: LRScheduler | None = None


def build_training(config: TrainConfig, n_classes: int, class_counts: np.ndarray,
                   device: torch.device) -> Training:
    """The `Training` of a resolved `config` on `device`, its model initialised from the seed."""
    torch.manual_seed(config.seed)  # fixes the initialisation
    model = create_model(config.model, num_classes=n_classes, **config.model_args)
    channels_last = use_channels_last(model, device)
    model = model.to(device, memory_format=torch.channels_last if channels_last else None)
    params = list(model.parameters())
    try:
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config),
                                    **step_kwargs(config.optimizer, device))
    except (RuntimeError, K49Error):  # a torch or device without the fused kernels
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config), foreach=True)
    loss_fn = build_loss(config.loss, class_counts=class_counts).to(device)
    ema = build_ema(model, config.ema)
    if config.compile:
        # In place and after the EMA's copy, so the state dict keeps its names: checkpoints
        # and resumes are those of the plain model.
        model.compile()
    amp_dtype = None
    if device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Training(
        model=model, scored_model=ema.module if ema is not None else model,
        optimizer=optimizer, loss_fn=loss_fn, ema=ema,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        device=device, channels_last=channels_last, amp_dtype=amp_dtype)


def step_kwargs(optimizer: str, device: torch.device) -> dict[str, bool]:
    """How the optimizer step runs: `fused` (one kernel per parameter) for Adam, AdamW and SGD,
    `foreach` (multi-tensor) for the others, instead of torch's per-parameter Python loop,
    its CPU default, which cost a third of an MLP's step. foreach gives the same weights bit
    for bit; fused the same update up to float rounding (Adam: ~1e-6 relative)."""
    if optimizer.lower() in ("adam", "adamw", "sgd") and device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {"foreach": True}


def use_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Convolutional models train in channels_last memory format on the CPU (faster oneDNN
    convolutions); MLPs and other devices keep the default layout."""
    return device.type == "cpu" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def _optimizer_kwargs(config: TrainConfig) -> dict[str, Any]:
    entry = get_entry(config.model)
    # A model's own optimizer settings (momentum, rho, ...) apply only to its own optimizer.
    kwargs = dict(entry.optimizer_kwargs) if config.optimizer == entry.optimizer else {}
    if config.weight_decay:
        kwargs["weight_decay"] = config.weight_decay
    return kwargs
