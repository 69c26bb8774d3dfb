"""The ResNet family: pre-activation ResNets for 28x28 images, with input and manifold mixup.

`PreActResNet` (He et al. 2016, "Identity Mappings in Deep Residual Networks") adapted to
28x28 inputs as in the mixup papers' CIFAR code: a 3x3 stride-1 stem, stages of pre-activation
basic blocks, a final BatchNorm-ReLU, global average pooling and a linear classifier.

Mixup: `forward(x, mix)` takes a mix spec `(lam, perm, layer)` (a `MixSpec`, any 3-tuple or any
object with `lam`, `perm`, `layer` attributes) and replaces the hidden state h at position
`layer` by `lam * h + (1 - lam) * h[perm]`. Position 0 is the input (input mixup, Zhang et al.
2018); position k >= 1 is the output of stage k (manifold mixup, Verma et al. 2019, who draw k
from {0, 1, 2}). `sample_mix` draws a spec; `mix_targets` mixes the labels the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from k49.errors import K49Error
from k49.models.registry import register_model

MIX_MODES = ("input", "manifold")
#: Positions manifold mixup draws from by default: the input and the outputs of stages 1, 2.
MANIFOLD_LAYERS = 3


class MixSpec(NamedTuple):
    """Mix position `layer` (0 = input) of each example i with example perm[i], by lam."""

    lam: float
    perm: torch.Tensor
    layer: int = 0

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        return mix_tensor(h, self.lam, self.perm)


def mix_tensor(h: torch.Tensor, lam: float, perm: torch.Tensor) -> torch.Tensor:
    """lam * h + (1 - lam) * h[perm] (perm moved to h's device)."""
    return lam * h + (1.0 - lam) * h[perm.to(h.device)]


def _unpack_mix(mix: Any) -> tuple[float, torch.Tensor, int]:
    if isinstance(mix, tuple):
        lam, perm, layer = mix
    else:
        lam, perm, layer = mix.lam, mix.perm, mix.layer
    return float(lam), torch.as_tensor(perm, dtype=torch.long), int(layer)


def sample_mix(batch_size: int, mode: str = "input", alpha: float = 1.0,
               generator: torch.Generator | np.random.Generator | None = None,
               n_layers: int = MANIFOLD_LAYERS) -> MixSpec:
    """Draw a mix spec: lam ~ Beta(alpha, alpha), a random pairing permutation and the layer.

    mode "input" mixes at layer 0; "manifold" draws the layer uniformly from 0..n_layers-1
    (n_layers=3, the default, is Verma et al.'s {input, stage 1, stage 2}; a model's
    `num_mix_layers` is the most it accepts). alpha <= 0 gives lam = 1 (no mixing).
    `generator` (torch or NumPy) makes the draw reproducible; None uses torch's global RNG.
    """
    if mode not in MIX_MODES:
        raise K49Error(f"unknown mixup mode {mode!r}: use one of {', '.join(MIX_MODES)}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    if isinstance(generator, np.random.Generator):
        rng = generator
        perm = torch.from_numpy(rng.permutation(batch_size)).long()
    else:
        # torch has no seeded Beta sampler: seed a NumPy generator from the torch one.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
        perm = torch.randperm(batch_size, generator=generator)
    lam = float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0
    layer = 0 if mode == "input" else int(rng.integers(0, n_layers))
    return MixSpec(lam, perm, layer)


def mix_targets(targets: torch.Tensor, spec: Any, num_classes: int) -> torch.Tensor:
    """Soft targets (B, num_classes) mixed like the hidden states: class indices or soft
    targets in, lam * t + (1 - lam) * t[perm] out."""
    lam, perm, _ = _unpack_mix(spec)
    if not targets.is_floating_point():
        targets = F.one_hot(targets.long(), num_classes).float()
    return mix_tensor(targets, lam, perm)


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus the identity (or a 1x1 conv when the shape
    changes, applied to the pre-activated input)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
            if stride != 1 or in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Stem conv3x3 -> stages of PreActBlocks -> BN-ReLU -> average pool -> Linear.

    Args:
        num_classes: number of output logits.
        widths: channels of each stage, e.g. (64, 128, 256, 512).
        depths: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        strides: stride of each stage's first block, e.g. (1, 2, 2, 2): 28 -> 28, 14, 7, 4.
        stem_width: channels of the stem conv (default: widths[0]).
        grid: side of the grid the classifier reads from the last stage: 1 (the default) is
            global average pooling; e.g. 7 keeps each position of a 7x7 last stage, so the
            classifier also sees where strokes are (average-pooled to grid x grid first).
    """

    def __init__(self, num_classes: int = 49, widths: Sequence[int] = (64, 128, 256, 512),
                 depths: Sequence[int] = (2, 2, 2, 2), strides: Sequence[int] = (1, 2, 2, 2),
                 *, stem_width: int | None = None, in_channels: int = 1, grid: int = 1):
        super().__init__()
        if not len(widths) == len(depths) == len(strides):
            raise ValueError("widths, depths and strides must have the same length")
        if grid < 1:
            raise ValueError(f"grid must be >= 1, got {grid}")
        stem_width = stem_width or widths[0]
        self.stem = nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False)
        stages, chans = [], stem_width
        for width, depth, stride in zip(widths, depths, strides, strict=True):
            blocks = [PreActBlock(chans, width, stride)]
            blocks += [PreActBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            chans = width
        self.stages = nn.ModuleList(stages)
        self.norm = nn.BatchNorm2d(chans)
        self.grid = grid
        self.fc = nn.Linear(chans * grid * grid, num_classes)
        #: Valid mix positions: 0 (input) .. len(stages) (output of the last stage).
        self.num_mix_layers = len(stages) + 1

    def _classify(self, h: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(h))
        return self.fc(F.adaptive_avg_pool2d(h, self.grid).flatten(1))

    def forward(self, x: torch.Tensor, mix: Any = None) -> torch.Tensor:
        if mix is None:
            h = self.stem(x)
            for stage in self.stages:
                h = stage(h)
            return self._classify(h)
        lam, perm, layer = _unpack_mix(mix)
        if not 0 <= layer < self.num_mix_layers:
            raise ValueError(f"mix layer must be in 0..{self.num_mix_layers - 1}, got {layer}")
        h = mix_tensor(x, lam, perm) if layer == 0 else x
        h = self.stem(h)
        for k, stage in enumerate(self.stages, start=1):
            h = stage(h)
            if k == layer:
                h = mix_tensor(h, lam, perm)
        return self._classify(h)


# Zhang et al. (mixup) and Verma et al. (manifold mixup) trained PreActResNet-18 with SGD,
# momentum 0.9, lr 0.1 (step decay), weight decay 1e-4 / 5e-4 (kuangliu's CIFAR recipe: 5e-4).
_MIXUP_PAPERS_SGD = {"momentum": 0.9, "weight_decay": 5e-4}


@register_model(
    "preact_resnet18", family="resnet", optimizer="sgd", lr=0.1,
    optimizer_kwargs=_MIXUP_PAPERS_SGD, mixup=True,
    description=(
        "PreActResNet-18 for 28x28: 3x3 stem, stages 64/128/256/512 x2 blocks, strides "
        "1/2/2/2, GAP; SGD lr 0.1 momentum 0.9 wd 5e-4; forward(x, mix) for input/manifold mixup"
    ),
    tags=("paper",),
)
def preact_resnet18(num_classes: int = 49, **kwargs) -> PreActResNet:
    """PreActResNet-18, the K49 paper's ResNet (with and without mixup)."""
    spec = dict(widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), strides=(1, 2, 2, 2))
    return PreActResNet(num_classes, **{**spec, **kwargs})


@register_model(
    "resnet_small", family="resnet", optimizer="sgd", lr=0.1,
    optimizer_kwargs=_MIXUP_PAPERS_SGD, mixup=True,
    description=(
        "PreActResNet-8 for 28x28: 3x3 stem, stages 32/64/128 x1 block, strides 1/2/2 "
        "(28->14->7), GAP; 74 MFLOPs = 8% of preact_resnet18's 912, 0.31M params vs "
        "11.2M; same optimizer; forward(x, mix) for mixup"
    ),
    tags=("paper",),
)
def resnet_small(num_classes: int = 49, **kwargs) -> PreActResNet:
    """A small pre-activation ResNet aiming at PreActResNet-18's accuracy for far fewer FLOPs."""
    spec = dict(widths=(32, 64, 128), depths=(1, 1, 1), strides=(1, 2, 2))
    return PreActResNet(num_classes, **{**spec, **kwargs})
