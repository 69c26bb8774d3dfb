"""Devices and batched inference over uint8 images held in memory."""

from __future__ import annotations

import numpy as np
import torch

from k49.errors import K49Error


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else the CPU; a device this torch cannot use is a
    K49Error naming the fix."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise K49Error(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise K49Error(f"--device {device}: this torch build has no usable CUDA device; "
                           "use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise K49Error(f"--device {device}: only {torch.cuda.device_count()} CUDA "
                           "device(s); use cuda:0")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise K49Error(f"--device {device}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise K49Error(f"unsupported device {device!r}: use auto, cpu, cuda or cuda:N")
    return dev


def to_input(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1] on `device`."""
    x = images.to(device, non_blocking=True).unsqueeze(1).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    images: torch.Tensor | np.ndarray,
    *,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Logits (N, C) as float32 on the CPU, computed in eval mode in slices of `batch_size`;
    on CUDA under autocast to `amp_dtype` when given (a run evaluates as it trained)."""
    device = torch.device(device)
    images = torch.as_tensor(images)
    was_training = model.training
    model.eval()
    out = None
    try:
        for start in range(0, len(images), batch_size):
            x = to_input(images[start:start + batch_size], device, channels_last)
            with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16,
                                enabled=amp_dtype is not None and device.type == "cuda"):
                logits = model(x).float().cpu()
            # One preallocated output: a list of small tensors kept alive across oneDNN's large
            # temporary buffers fragments the heap and grows RSS by gigabytes on 140k images.
            if out is None:
                out = torch.empty(len(images), logits.shape[1])
            out[start:start + len(logits)] = logits
    finally:
        model.train(was_training)
    return out if out is not None else torch.empty(0, 0)


def predict_proba(model: torch.nn.Module, images, **kwargs) -> np.ndarray:
    """Softmax probabilities (N, C), float32."""
    return torch.softmax(predict_logits(model, images, **kwargs), dim=1).numpy().astype(np.float32)
