"""Weights and resumable checkpoints, stored only as safetensors (never pickle).

A checkpoint holds the model's state, the optimizer's tensors (its other values go in the
safetensors metadata as JSON), the torch RNG state and where in training it was taken.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from k49.errors import K49Error
from k49.io import atomic_path
from k49.runs.records import TrainingProgress

_MODEL, _OPTIM, _RNG, _EMA = "model.", "optim.", "rng.torch", "ema."
#: The CUDA generator's state (dropout on the device), kept when the model trains on CUDA.
_CUDA_RNG = "rng.cuda"


def _state_to_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str]) -> None:
    """Write `tensors` to `path` as safetensors, atomically; a failed write (disk full, file
    size limit) is a one-line K49Error and leaves no file behind."""
    with atomic_path(path) as tmp:
        try:
            save_file(_state_to_cpu(tensors), str(tmp), metadata=metadata)
        except SafetensorError as e:
            raise K49Error(f"cannot write {path} ({str(e).splitlines()[0]}): free space or "
                           "choose another --out") from None


def save_weights(path: str | os.PathLike, model: torch.nn.Module, metadata: dict | None = None):
    """Write `model`'s state dict to `path` as safetensors, atomically."""
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    write_safetensors(path, model.state_dict(), meta)


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON metadata of a safetensors file; anything else is refused."""
    path = Path(path)
    if not path.exists():
        raise K49Error(f"{path} does not exist: train the model first or give the right path")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise K49Error(
            f"{path} is not a safetensors file ({str(e).splitlines()[0]}): k49 loads weights "
            "only from safetensors, never pickles; retrain or convert the weights"
        ) from None
    meta = {}
    for key, value in raw_meta.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return tensors, meta


def load_weights(path: str | os.PathLike, model: torch.nn.Module) -> dict[str, Any]:
    """Load safetensors weights into `model`; returns the file's metadata."""
    tensors, meta = read_safetensors(path)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise K49Error(
            f"{path} does not fit this model ({str(e).splitlines()[0]}): "
            "load it into the model it was trained as"
        ) from None
    return meta


def _split_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    # A learning rate held as a tensor (a CUDA graph's, k49.training.graph) is saved as a number.
    groups = [{k: v.item() if isinstance(v, torch.Tensor) else v for k, v in group.items()}
              for group in state["param_groups"]]
    tensors, rest = {}, {"param_groups": groups, "state": {}}
    for pid, pstate in state["state"].items():
        rest["state"][str(pid)] = {}
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIM}{pid}.{key}"] = value
            else:
                rest["state"][str(pid)][key] = value
    return tensors, rest


def _join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in rest["state"].items()}
    for name, value in tensors.items():
        pid, key = name[len(_OPTIM):].split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each state tensor (Adam's moments, momentum) its parameter's memory layout.
    safetensors stores tensors contiguous, while a convolution's weight may be channels-last;
    fused optimizer kernels walk the parameter and its state in step, so a state tensor in
    another layout would be updated against the wrong elements."""
    for p, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape \
                    and value.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: TrainingProgress,
    ema: torch.nn.Module | None = None,
) -> None:
    """Atomically save everything needed to resume: weights, optimizer, RNG and `progress`
    (and the weights' moving average, when the run keeps one)."""
    optim_tensors, optim_rest = _split_optimizer_state(optimizer.state_dict())
    tensors = {f"{_MODEL}{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"{_EMA}{k}": v for k, v in ema.state_dict().items()})
    tensors.update(optim_tensors)
    tensors[_RNG] = torch.get_rng_state()
    device = next(model.parameters()).device
    if device.type == "cuda":
        tensors[_CUDA_RNG] = torch.cuda.get_rng_state(device)
    meta = {"optimizer": json.dumps(optim_rest), "progress": json.dumps(progress.as_dict())}
    write_safetensors(path, tensors, meta)


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
    ema: torch.nn.Module | None = None,
) -> TrainingProgress:
    """Restore a checkpoint into `model`, `optimizer` (and `ema`), and the torch RNG (the
    CUDA generator's too, on CUDA); returns progress."""
    tensors, meta = read_safetensors(path)
    try:
        model.load_state_dict(
            {k[len(_MODEL):]: v for k, v in tensors.items() if k.startswith(_MODEL)}
        )
        if ema is not None:
            ema.load_state_dict(
                {k[len(_EMA):]: v for k, v in tensors.items() if k.startswith(_EMA)})
        device = next(model.parameters()).device
        optim_tensors = {k: v.to(device) for k, v in tensors.items() if k.startswith(_OPTIM)}
        # Adam's `step` must stay on the CPU unless the optimizer is capturable/fused.
        for k in optim_tensors:
            if k.endswith(".step"):
                optim_tensors[k] = optim_tensors[k].cpu()
        optimizer.load_state_dict(_join_optimizer_state(optim_tensors, meta["optimizer"]))
        _match_layouts(optimizer)
        torch.set_rng_state(tensors[_RNG])
        if device.type == "cuda" and _CUDA_RNG in tensors:
            torch.cuda.set_rng_state(tensors[_CUDA_RNG], device)
        progress = TrainingProgress.from_dict(meta["progress"])
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        raise K49Error(f"{path} does not fit this run ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else e!r}): delete it to restart "
                       "the run from its first epoch") from None
    return progress
