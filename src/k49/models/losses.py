"""Losses by name, for hard targets (class indices) and soft targets (mixup).

Every loss is a module called as `loss(logits, targets)`: `targets` is either class indices
(B,) of an integer dtype or probabilities (B, C) of a float dtype. A one-hot soft target gives
exactly the hard-target loss. Logits are upcast to float32 (safe under autocast).

- cross_entropy: mean over the batch of -sum_c t_c log p_c.
- weighted_cross_entropy: class c weighted by w_c, the inverse of its training count,
  normalised to mean 1 over the classes; the batch mean is weighted like PyTorch's
  `F.cross_entropy(weight=w)`: sum_i sum_c w_c t_ic (-log p_ic) / sum_i sum_c w_c t_ic.
- focal: Lin et al. (2017), -sum_c t_c (1 - p_c)^gamma log p_c; gamma = 0 is cross_entropy.
- label_smoothing: cross-entropy against (1 - s) t + s / C, as `F.cross_entropy(
  label_smoothing=s)`.
"""

from __future__ import annotations

import difflib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from k49.errors import K49Error

LOSSES = ("cross_entropy", "weighted_cross_entropy", "focal", "label_smoothing")


def _soft_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, C) float targets from class indices or from soft targets, checked against logits."""
    if logits.dim() != 2:
        raise ValueError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
    n, c = logits.shape
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(f"soft targets must have the logits' shape {(n, c)}, "
                             f"got {tuple(targets.shape)}")
        return targets.float()
    if targets.shape != (n,):
        raise ValueError(f"class-index targets must have shape ({n},), "
                         f"got {tuple(targets.shape)}")
    return F.one_hot(targets.long(), c).float()


def inverse_frequency_weights(class_counts: np.ndarray | torch.Tensor) -> torch.Tensor:
    """w_c proportional to 1 / count_c, normalised to mean 1 over the classes (float32)."""
    counts = torch.as_tensor(np.asarray(class_counts), dtype=torch.float64).flatten()
    if counts.numel() == 0:
        raise K49Error("class_counts is empty: pass the training count of every class")
    if (counts <= 0).any():
        missing = torch.nonzero(counts <= 0).flatten().tolist()
        raise K49Error(f"weighted_cross_entropy needs every class in the training data; "
                       f"classes {missing} have no images: use another --loss or more data")
    inv = 1.0 / counts
    return (inv / inv.mean()).float()


class SoftCrossEntropy(nn.Module):
    """Cross-entropy for hard or soft targets, with optional class weights and smoothing."""

    def __init__(self, weight: torch.Tensor | None = None, smoothing: float = 0.0,
                 reduction: str = "mean"):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be mean, sum or none, got {reduction!r}")
        self.register_buffer("weight", None if weight is None else weight.float())
        self.smoothing = smoothing
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = _soft_targets(logits, targets)
        if self.smoothing:
            t = (1.0 - self.smoothing) * t + self.smoothing / t.shape[1]
        logp = F.log_softmax(logits.float(), dim=1)
        if self.weight is None:
            per_sample = -(t * logp).sum(1)
            # A number, not a new tensor: a host-to-device copy cannot be in a CUDA graph.
            norm = float(len(t))
        else:
            w = self.weight.to(device=logits.device, dtype=torch.float32)
            if w.numel() != t.shape[1]:
                raise K49Error(f"class weights are for {w.numel()} classes but the model "
                               f"predicts {t.shape[1]}: pass class_counts for every class")
            wt = t * w
            per_sample = -(wt * logp).sum(1)
            norm = wt.sum()
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return per_sample.sum()
        return per_sample.sum() / norm


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): -sum_c t_c (1 - p_c)^gamma log p_c, batch mean."""

    def __init__(self, gamma: float = 2.0, reduction: str = "mean"):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be mean, sum or none, got {reduction!r}")
        self.gamma = gamma
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = _soft_targets(logits, targets)
        logp = F.log_softmax(logits.float(), dim=1)
        if self.gamma == 0:
            per_sample = -(t * logp).sum(1)
        else:
            # 1 - p = -expm1(log p), accurate when p is close to 1; the floor keeps the
            # gradient of x**gamma finite at x = 0 for gamma < 1.
            focus = (-torch.expm1(logp)).clamp_min(1e-12).pow(self.gamma)
            per_sample = -(t * focus * logp).sum(1)
        if self.reduction == "none":
            return per_sample
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()


def build_loss(name: str, class_counts: np.ndarray | None = None, *, smoothing: float = 0.1,
               gamma: float = 2.0) -> nn.Module:
    """The loss `name` (one of LOSSES) as a module called with (logits, targets).

    `class_counts` (training images per class) is needed by weighted_cross_entropy and
    ignored by the others; `smoothing` is label_smoothing's, `gamma` focal's.
    """
    if name == "cross_entropy":
        return SoftCrossEntropy()
    if name == "weighted_cross_entropy":
        if class_counts is None:
            raise K49Error("weighted_cross_entropy needs the training class counts "
                           "(class_counts): pass them, or use --loss cross_entropy")
        return SoftCrossEntropy(weight=inverse_frequency_weights(class_counts))
    if name == "focal":
        return FocalLoss(gamma=gamma)
    if name == "label_smoothing":
        return SoftCrossEntropy(smoothing=smoothing)
    close = difflib.get_close_matches(str(name), LOSSES, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise K49Error(f"unknown loss {name!r}: {hint}use one of {', '.join(LOSSES)}")
