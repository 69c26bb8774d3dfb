"""The MLP family: flatten, then fully connected hidden layers, then the class logits.

Each hidden layer is a `DenseUnit`: Linear -> [BatchNorm1d] -> ReLU -> [Dropout]. The sub-module
names do not depend on the options (BatchNorm and Dropout are `nn.Identity` when off), so two
MLPs that differ only in BatchNorm have the same Linear parameter names and shapes; the BN
model only adds `*.norm.*` entries. The CNN family reuses `MLP` as its dense head.

`init="keras"` initialises like Keras (Glorot-uniform weights, zero biases), the seed study's
framework; `init="torch"` keeps PyTorch's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

INITS = ("torch", "keras")


def keras_init_(module: nn.Module) -> nn.Module:
    """Initialise every Linear and Conv layer of `module` like Keras: Glorot-uniform, zero bias.

    BatchNorm layers keep gamma = 1, beta = 0, as in both frameworks.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def apply_init_(module: nn.Module, init: str) -> nn.Module:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return keras_init_(module) if init == "keras" else module


class DenseUnit(nn.Module):
    """Linear -> [BatchNorm1d] -> ReLU -> [Dropout]."""

    def __init__(self, in_features: int, out_features: int, *, batch_norm: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.norm = nn.BatchNorm1d(out_features) if batch_norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.norm(self.linear(x))))


class MLP(nn.Module):
    """Flatten -> hidden DenseUnits -> Linear(num_classes).

    Args:
        num_classes: number of output logits.
        hidden: widths of the hidden layers, e.g. (256, 256); () is multinomial logistic
            regression.
        in_features: size of the flattened input (784 for 1x28x28 images).
        batch_norm: BatchNorm1d after each hidden Linear, before the ReLU.
        dropout: dropout after each hidden layer's ReLU (0 = none).
        init: "torch" (PyTorch defaults) or "keras" (Glorot-uniform, zero biases).
    """

    def __init__(self, num_classes: int = 49, hidden: Sequence[int] = (256,), *,
                 in_features: int = 28 * 28, batch_norm: bool = False, dropout: float = 0.0,
                 init: str = "torch"):
        super().__init__()
        widths = [in_features, *hidden]
        self.hidden = nn.Sequential(*(
            DenseUnit(a, b, batch_norm=batch_norm, dropout=dropout)
            for a, b in pairwise(widths)
        ))
        self.out = nn.Linear(widths[-1], num_classes)
        apply_init_(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x.flatten(1)))
