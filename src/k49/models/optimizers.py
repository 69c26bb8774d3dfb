"""Optimizers by name: `build_optimizer("sgd", model.parameters(), 0.01, momentum=0.9)`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from k49.errors import K49Error

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adadelta": torch.optim.Adadelta,
}


def build_optimizer(name: str, params: Iterable[Any], lr: float,
                    **kwargs: Any) -> torch.optim.Optimizer:
    """The optimizer `name` (sgd, adam, adamw, adadelta) over `params` with learning rate `lr`.

    Keyword arguments go to the torch optimizer (momentum, weight_decay, rho, eps, betas...).
    """
    key = name.lower()
    if key not in OPTIMIZERS:
        raise K49Error(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[key](params, lr=lr, **kwargs)
    except TypeError as exc:
        raise K49Error(f"optimizer {key!r} does not accept {sorted(kwargs)}: {exc}") from exc
