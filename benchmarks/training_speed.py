"""Training speed: k49's loop against a plain PyTorch DataLoader loop, and this machine's peak.

For each model, the same number of optimizer steps (batch 128) is timed, after a warm-up, on
20,000 random uint8 images of K49's shape held in memory:

- **ours**: `k49.training.steps.train_one_epoch`, the trainer's own hot loop (uint8 tensor,
  batches by `index_select` of a permutation, normalised per batch, channels_last for conv
  nets on the CPU, running accuracy tally), set up by `k49.training.components.build_training`;
- **baseline**: the textbook loop, `DataLoader(TensorDataset(float images in [0, 1], labels),
  batch_size=128, shuffle=True)` (num_workers=0, per-sample `__getitem__` plus
  `default_collate`), NCHW, the same model, optimizer and loss, `loss.item()` per step.

The two loops alternate `repeats` times and the best time of each counts (other processes on
the machine only ever slow a run down). Achieved GFLOP/s = images/s x training FLOPs per image
/ 1e9, where training FLOPs = 3 x the forward FLOPs of `k49.models.count_flops` (the usual
estimate: the backward pass costs about twice the forward). `matmul_gflops` is the fp32
`torch.mm` rate of 2048 x 2048 matrices with the same thread count: the ceiling to compare with.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from k49.errors import K49Error
from k49.models import count_flops, create_model, get_entry
from k49.models.inference import to_input
from k49.models.losses import build_loss
from k49.models.optimizers import build_optimizer
from k49.runs.config import TrainConfig
from k49.training.components import build_training
from k49.training.graph import step_graph
from k49.training.steps import batch_order, train_one_epoch
from k49.training.tally import Tally

BATCH_SIZE = 128
N_IMAGES = 20_000
N_CLASSES = 49

#: Goal the report is compared against (never asserted by the tests).
SPEEDUP_GOAL = 1.2

FLOPS_NOTE = ("GFLOP/s = images/s x 3 x forward FLOPs per image / 1e9 (forward FLOPs from "
              "count_flops: matmuls and convolutions; backward estimated as 2x forward)")
BASELINE_NOTE = ("DataLoader(TensorDataset(float32 images / 255, labels), batch_size=128, "
                 "shuffle=True, num_workers=0), NCHW, same model, optimizer and loss, "
                 "zero_grad/backward/step/loss.item() per step")


def env_int(name: str) -> int | None:
    """The positive integer in environment variable `name`, None when unset or empty."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise K49Error(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise K49Error(f"{name} must be a positive integer, got {value!r}")
    return number


def say(quiet: bool, text: str) -> None:
    """A progress line on stderr, unless `quiet`."""
    if not quiet:
        print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The machine's ceiling


def matmul_gflops(size: int = 2048, seconds: float = 1.0, min_reps: int = 3) -> float:
    """Best fp32 `torch.mm` rate (GFLOP/s) of size x size matrices, with torch's current threads.

    Repeats for at least `seconds` (and `min_reps` calls) after one warm-up call; the best call
    counts.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g)
    b = torch.randn(size, size, generator=g)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best, reps, start = math.inf, 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return 2.0 * size**3 / best / 1e9


# ---------------------------------------------------------------------------------------------
# The two loops


def random_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random uint8 images (n, 28, 28) and int64 labels in 0..48 (timing does not depend on
    what the pixels are)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, N_CLASSES, size=n).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def build_baseline(name: str, device: torch.device, class_counts: np.ndarray):
    """Model, optimizer and loss of `name` with its registry defaults, the textbook way:
    NCHW, torch's default optimizer implementation (initialisation seeded as in ours)."""
    entry = get_entry(name)
    torch.manual_seed(0)
    model = create_model(entry.name, num_classes=N_CLASSES).to(device)
    optimizer = build_optimizer(entry.optimizer, model.parameters(), entry.lr,
                                **dict(entry.optimizer_kwargs))
    loss_fn = build_loss(entry.loss, class_counts=class_counts).to(device)
    return model, optimizer, loss_fn


class OurLoop:
    """`train_one_epoch` over in-memory uint8 data, epoch after epoch (a new batch order and a
    new tally each epoch, as in the trainer); `run(n)` does n steps. With `graphed` (CUDA),
    full batches are replayed from the trainer's CUDA graph, as `train` does there;
    `config` adds TrainConfig fields (compile, precision)."""

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                 class_counts: np.ndarray, batch_size: int = BATCH_SIZE, *,
                 graphed: bool = False, **config: Any):
        self.config = TrainConfig(model=name, seed=0, batch_size=batch_size,
                                  **config).resolved()
        self.training = build_training(self.config, N_CLASSES, class_counts, device)
        self.graph = None
        if graphed:
            self.graph, why = step_graph(self.training, self.config, x, y, N_CLASSES)
            if self.graph is None:
                raise K49Error(f"{name}: no CUDA graph ({why})")
        self.x, self.y, self.device, self.batch_size = x, y, device, batch_size
        self.steps_per_epoch = (len(x) + batch_size - 1) // batch_size
        self.epoch, self.step = 0, self.steps_per_epoch  # a new epoch starts on the first run

    @property
    def channels_last(self) -> bool:
        return self.training.channels_last

    def run(self, n: int) -> int:
        """n training steps; returns the number of images trained on."""
        images = 0
        while n > 0:
            if self.step >= self.steps_per_epoch:
                self.epoch += 1
                self.step = 0
                self.order = batch_order(len(self.x), self.config.seed, self.epoch, self.x.device)
                self.tally = Tally(N_CLASSES, device_totals=self.graph and self.graph.totals)
            stop = min(self.step + n, self.steps_per_epoch)
            seen = self.tally.seen
            train_one_epoch(self.training, self.config, self.x, self.y, self.order, self.epoch,
                            range(self.step, stop), self.tally, graph=self.graph)
            self.tally.summary()  # the per-epoch history row folds the tally in
            images += self.tally.seen - seen
            n -= stop - self.step
            self.step = stop
        return images

    def data_seconds(self, n: int) -> float:
        """Time of n batches' data preparation alone (the first lines of `train_one_epoch`)."""
        perm = torch.randperm(len(self.x))
        start = time.perf_counter()
        for step in range(n):
            idx = perm[(step % self.steps_per_epoch) * self.batch_size:][:self.batch_size]
            to_input(self.x.index_select(0, idx), self.device, self.channels_last)
            self.y.index_select(0, idx).to(self.device)
        return time.perf_counter() - start


class BaselineLoop:
    """The textbook loop: a DataLoader over a float TensorDataset, shuffled each epoch."""

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                 class_counts: np.ndarray, batch_size: int = BATCH_SIZE):
        self.model, self.optimizer, self.loss_fn = build_baseline(name, device, class_counts)
        self.model.train()
        dataset = TensorDataset(x.unsqueeze(1).float().div(255.0), y)
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        self.device = device
        self.batches = iter(self.loader)
        self.running_loss = 0.0

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def run(self, n: int) -> int:
        """n training steps; returns the number of images trained on."""
        images = 0
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        for _ in range(n):
            x, y = self.next_batch()
            x, y = x.to(self.device), y.to(self.device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            self.running_loss += loss.item()
            images += len(y)
        return images

    def data_seconds(self, n: int) -> float:
        """Time of n batches from the DataLoader alone (per-sample indexing plus collate)."""
        start = time.perf_counter()
        for _ in range(n):
            self.next_batch()
        return time.perf_counter() - start


def step_impl(optimizer: torch.optim.Optimizer) -> str:
    """How the optimizer's step runs: fused, foreach or torch's per-parameter loop."""
    defaults = optimizer.defaults
    return "fused" if defaults.get("fused") else "foreach" if defaults.get("foreach") else "loop"


def timed(loop: OurLoop | BaselineLoop, n: int) -> tuple[float, int]:
    start = time.perf_counter()
    images = loop.run(n)
    return time.perf_counter() - start, images


def bench_model(name: str, x: torch.Tensor, y: torch.Tensor, *, steps: int | None = None,
                warmup: int = 3, repeats: int = 3, seconds: float = 2.0, min_steps: int = 3,
                max_steps: int = 300, matmul: float | None = None,
                device: torch.device | None = None) -> dict[str, Any]:
    """One row of the report: our loop and the DataLoader loop of `name` on images `x`.

    `steps` timed steps per loop and repeat; None picks, from the warm-up, enough steps for
    about `seconds` per timed run (between `min_steps` and `max_steps`).
    """
    entry = get_entry(name)
    if not entry.is_torch:
        raise K49Error(f"{name} is not a torch model: the training bench times gradient steps")
    device = device or torch.device("cpu")
    counts = np.bincount(y.numpy(), minlength=N_CLASSES)
    train_flops = 3 * count_flops(create_model(entry.name, num_classes=N_CLASSES))
    ours = OurLoop(entry.name, x, y, device, counts)
    base = BaselineLoop(entry.name, x, y, device, counts)

    t_ours, _ = timed(ours, warmup)
    t_base, _ = timed(base, warmup)
    if steps is None:
        per_step = max(t_ours, t_base) / max(warmup, 1)
        steps = int(min(max_steps, max(min_steps, round(seconds / max(per_step, 1e-6)))))
    best_ours = best_base = (math.inf, 1)
    for _ in range(repeats):
        t, n = timed(ours, steps)
        best_ours = min(best_ours, (t, n), key=lambda r: r[0] / r[1])
        t, n = timed(base, steps)
        best_base = min(best_base, (t, n), key=lambda r: r[0] / r[1])
    data_batches = max(1, min(steps, 50))
    data_ours = ours.data_seconds(data_batches) / data_batches
    data_base = base.data_seconds(data_batches) / data_batches

    ips = best_ours[1] / best_ours[0]
    base_ips = best_base[1] / best_base[0]
    row = {
        "model": entry.name,
        "images_per_s": ips,
        "baseline_images_per_s": base_ips,
        "speedup": ips / base_ips,
        "gflops": ips * train_flops / 1e9,
        "baseline_gflops": base_ips * train_flops / 1e9,
        "matmul_gflops": matmul if matmul is not None else float("nan"),
        "train_flops_per_image": train_flops,
        "steps": steps,
        "batch_size": BATCH_SIZE,
        "step_ms": 1e3 * best_ours[0] / steps,
        "baseline_step_ms": 1e3 * best_base[0] / steps,
        "data_ms": 1e3 * data_ours,
        "baseline_data_ms": 1e3 * data_base,
        "channels_last": ours.channels_last,
        "optimizer_step": step_impl(ours.training.optimizer),
        "optimizer": entry.optimizer,
        "loss": entry.loss,
    }
    if matmul:
        row["fraction_of_matmul"] = row["gflops"] / matmul
    return row
