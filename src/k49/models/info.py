"""Size and cost of a model: trainable parameters and forward FLOPs per image."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from k49.models.registry import create_model, get_entry


def count_params(module: nn.Module) -> int:
    """Trainable parameters (BatchNorm's gamma and beta count; running statistics do not)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_flops(module: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> int:
    """Forward FLOPs per image, as counted by `torch.utils.flop_counter.FlopCounterMode`.

    That counts matrix multiplications and convolutions (2 FLOPs per multiply-accumulate) and
    ignores element-wise ops, BatchNorm and pooling. The total for a batch of
    `input_shape[0]` images is divided by that batch size. Runs in eval mode without
    gradients, on the module's device, and restores the module's training mode.
    """
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros(input_shape, device=device, dtype=dtype)
    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            module(x)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops()) // max(1, input_shape[0])


def model_info(name: str, num_classes: int = 49, **model_args: Any) -> dict[str, Any]:
    """What `k49 models` shows about one registered model (builds it; caches nothing).

    Keys: name, family, params, flops, description, optimizer, lr, loss, tags, plus
    optimizer_kwargs and aliases. For the kNN baseline params is 0 and flops None: its cost
    (a distance to every training image per query) depends on the data it is fitted on.
    """
    entry = get_entry(name)
    params: int = 0
    flops: int | None = None
    if entry.is_torch:
        model = create_model(entry.name, num_classes=num_classes, **model_args)
        params = count_params(model)
        flops = count_flops(model)
    return {
        "name": entry.name,
        "family": entry.family,
        "params": params,
        "flops": flops,
        "description": entry.description,
        "optimizer": entry.optimizer,
        "lr": entry.lr,
        "loss": entry.loss,
        "tags": list(entry.tags),
        "optimizer_kwargs": dict(entry.optimizer_kwargs),
        "aliases": list(entry.aliases),
    }
