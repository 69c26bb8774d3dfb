"""What a run trains with: the model initialised from its seed, its optimizer, loss, weights
average and precision, gathered in one typed `Training`."""

from __future__ import annotations

import os
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

#: Set to 0 in the environment to train eagerly on CUDA too (to compare, or to rule the
#: CUDA graph out).
GRAPH_SWITCH = "K49_CUDA_GRAPHS"


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
    #: Convolutional models take channels_last batches (use_channels_last).
    channels_last: bool
    #: Autocast precision on CUDA (bfloat16 where supported); None: full float32.
    amp_dtype: torch.dtype | None
    #: Float32 matrix products and convolutions left outside autocast may use TF32 (CUDA).
    tf32: bool = False
    #: Why the step cannot be captured as a CUDA graph (`eager_because`); None when it can.
    eager_because: str | None = "not on CUDA"
    #: What the training step calls: `model`, or with --compile its torch.compile'd wrapper
    #: (the same parameters; evaluation and checkpoints use the plain `model`).
    forward: torch.nn.Module | None = None
    #: The one-cycle schedule; set by the loop once it knows where a resumed run stands.
    schedule: LRScheduler | None = None

    def __post_init__(self) -> None:
        if self.forward is None:
            self.forward = self.model


def build_training(config: TrainConfig, n_classes: int, class_counts: np.ndarray,
                   device: torch.device) -> Training:
    """The `Training` of a resolved `config` on `device`, its model initialised from the seed."""
    torch.manual_seed(config.seed)  # fixes the initialisation
    model = create_model(config.model, num_classes=n_classes, **config.model_args)
    channels_last = use_channels_last(model, device)
    model = model.to(device, memory_format=torch.channels_last if channels_last else None)
    amp_dtype, tf32 = None, False
    if device.type == "cuda":
        tf32 = config.precision == "auto"
        if tf32:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        set_cuda_arithmetic(tf32)
    eager = eager_because(config, device, amp_dtype)
    params = list(model.parameters())
    try:
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config),
                                    **step_kwargs(config.optimizer, device,
                                                  capturable=eager is None))
    except (RuntimeError, K49Error):  # a torch or device without the fused kernels
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config), foreach=True)
    loss_fn = build_loss(config.loss, class_counts=class_counts).to(device)
    ema = build_ema(model, config.ema)
    # Only the training step is compiled: evaluation's other batch sizes and modes would
    # each compile again. The state dict keeps the plain model's names.
    forward = torch.compile(model) if config.compile else model
    return Training(
        model=model, scored_model=ema.module if ema is not None else model,
        optimizer=optimizer, loss_fn=loss_fn, ema=ema,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        device=device, channels_last=channels_last, amp_dtype=amp_dtype, tf32=tf32,
        eager_because=eager, forward=forward)


def eager_because(config: TrainConfig, device: torch.device,
                  amp_dtype: torch.dtype | None) -> str | None:
    """Why a run's training step cannot be captured as a CUDA graph (k49.training.graph);
    None when it can. Set GRAPH_SWITCH=0 in the environment to keep every step eager."""
    if device.type != "cuda":
        return "not on CUDA"
    if os.environ.get(GRAPH_SWITCH, "1") == "0":
        return f"{GRAPH_SWITCH}=0"
    if config.mixup != "none":
        return "mixup draws on the host every step"
    if config.augment != "none":
        return "augmentation draws on the host every step"
    if amp_dtype == torch.float16:
        return "float16 loss scaling checks for overflow on the host"
    return None


def set_cuda_arithmetic(tf32: bool) -> None:
    """cuDNN picks the fastest convolution for each shape (a run's shapes never change, so it
    measures once); TF32 for float32 matrix products and convolutions when `tf32`. These are
    process-wide torch settings: a process trains one precision at a time."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def step_kwargs(optimizer: str, device: torch.device, *,
                capturable: bool = False) -> dict[str, bool]:
    """How the optimizer step runs: `fused` (one kernel per parameter) for Adam, AdamW and SGD,
    `foreach` (multi-tensor) for the others, instead of torch's per-parameter Python loop,
    its CPU default, which cost a third of an MLP's step. foreach gives the same weights bit
    for bit; fused the same update up to float rounding (Adam: ~1e-6 relative). With
    `capturable` (a run whose step is a CUDA graph), the optimizers that count steps keep the
    count on the device, so their step can be captured; SGD keeps no count."""
    key = optimizer.lower()
    kwargs = {"fused": True} if key in ("adam", "adamw", "sgd") and device.type in (
        "cpu", "cuda") else {"foreach": True}
    if capturable and key in ("adam", "adamw", "adadelta"):
        kwargs["capturable"] = True
    return kwargs


def use_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Convolutional models train in channels_last memory format on the CPU (faster oneDNN
    convolutions) and on CUDA (cuDNN's tensor-core kernels are NHWC); MLPs and other devices
    keep the default layout."""
    return device.type in ("cpu", "cuda") and any(
        isinstance(m, torch.nn.Conv2d) for m in model.modules())


def _optimizer_kwargs(config: TrainConfig) -> dict[str, Any]:
    entry = get_entry(config.model)
    # A model's own optimizer settings (momentum, rho, ...) apply only to its own optimizer.
    kwargs = dict(entry.optimizer_kwargs) if config.optimizer == entry.optimizer else {}
    if config.weight_decay:
        kwargs["weight_decay"] = config.weight_decay
    return kwargs
