"""The plain CNN family: conv blocks, then an MLP head.

A block is one or more 3x3 `ConvUnit`s (Conv -> [BatchNorm2d] -> ReLU) followed by a 2x2 max
pool and optional dropout; the head is the MLP family (`k49.models.mlp.MLP`) on the flattened
features. As in the MLP family, BatchNorm and Dropout are `nn.Identity` when off, so parameter
names do not depend on them.

Also registers the K49 paper's Keras baseline, `keras_simple_cnn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from k49.models.mlp import MLP, apply_init_
from k49.models.registry import register_model

PADDINGS = ("same", "valid")


class ConvUnit(nn.Module):
    """Conv2d(k x k) -> [BatchNorm2d] -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3,
                 padding: str = "same", batch_norm: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              padding=kernel_size // 2 if padding == "same" else 0)
        self.norm = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class ConvBlock(nn.Module):
    """ConvUnits -> MaxPool2d(2) -> [Dropout] (the last unit's ReLU applied after the pool)."""

    def __init__(self, in_channels: int, widths: Sequence[int], *, kernel_size: int = 3,
                 padding: str = "same", batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        chans = [in_channels, *widths]
        self.convs = nn.Sequential(*(
            ConvUnit(a, b, kernel_size=kernel_size, padding=padding, batch_norm=batch_norm)
            for a, b in pairwise(chans)
        ))
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *first, last = self.convs
        for unit in first:
            x = unit(x)
        # The pool before the last ReLU: ReLU commutes with max, so values and gradients are
        # the same, but the ReLU and its backward see a quarter of the pixels (CNN_1's step
        # 1.5x faster on the CPU, where channels_last max-pool backward is the slow part).
        x = last.act(self.pool(last.norm(last.conv(x))))
        return self.drop(x)


class CNN(nn.Module):
    """Conv blocks -> flatten -> MLP head -> num_classes logits.

    Args:
        num_classes: number of output logits.
        blocks: conv widths per block, e.g. ((32,), (64, 64)): each block is its convs then a
            2x2 max pool.
        dense: hidden widths of the head, e.g. (128,).
        kernel_size: conv kernel size (odd).
        padding: "same" (size kept) or "valid" (each conv shrinks the map by kernel_size - 1).
        batch_norm: BatchNorm after every conv and every hidden dense layer, before the ReLU.
        conv_dropout: dropout after each block's pool; dense_dropout: after each hidden dense.
        image_size: input height = width.
        init: "torch" or "keras" (Glorot-uniform, zero biases), see `k49.models.mlp`.
    """

    def __init__(self, num_classes: int = 49, blocks: Sequence[Sequence[int]] = ((32,),),
                 dense: Sequence[int] = (32,), *, kernel_size: int = 3, padding: str = "same",
                 batch_norm: bool = False, conv_dropout: float = 0.0,
                 dense_dropout: float = 0.0, image_size: int = 28, in_channels: int = 1,
                 init: str = "torch"):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if not blocks or not all(blocks):
            raise ValueError("blocks must be a non-empty sequence of non-empty width tuples")
        layers, chans, size = [], in_channels, image_size
        for widths in blocks:
            layers.append(ConvBlock(chans, widths, kernel_size=kernel_size, padding=padding,
                                    batch_norm=batch_norm, dropout=conv_dropout))
            if padding == "valid":
                size -= len(widths) * (kernel_size - 1)
            size //= 2
            chans = widths[-1]
        if size < 1:
            raise ValueError(f"blocks {blocks} shrink a {image_size}px image to nothing")
        self.features = nn.Sequential(*layers)
        self.flat_features = chans * size * size
        self.head = MLP(num_classes, tuple(dense), in_features=self.flat_features,
                        batch_norm=batch_norm, dropout=dense_dropout)
        apply_init_(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(
    "keras_simple_cnn", family="cnn", optimizer="adadelta", lr=1.0,
    optimizer_kwargs={"rho": 0.95, "eps": 1e-7},
    description=(
        "K49 paper's Keras baseline: conv32-conv64 (3x3 valid, ReLU)-maxpool-dropout0.25-"
        "dense128-dropout0.5; Keras Adadelta lr 1.0, rho 0.95, eps 1e-7"
    ),
    tags=("paper",),
)
def keras_simple_cnn(num_classes: int = 49, **kwargs) -> CNN:
    """The Keras `mnist_cnn.py` example the K49 paper used as its simple CNN."""
    spec = dict(blocks=((32, 64),), dense=(128,), padding="valid", conv_dropout=0.25,
                dense_dropout=0.5, init="keras")
    return CNN(num_classes, **{**spec, **kwargs})
