"""The CUDA training step as one captured graph, replayed step after step.

A step of a seed MLP is a few dozen small kernels: launched one by one from Python they cost
about 2 ms, a hundred times the arithmetic. Captured once as a CUDA graph (torch.cuda.graphs),
the whole step is one launch: the batch gathered from the images on the device by the step
number (a device tensor the graph advances), the forward and backward passes under autocast,
the fused optimizer step and the running totals (`DeviceTotals`). Nothing in it waits on
the host, so the CPU queues steps ahead of the GPU.

What stays outside the graph, eager: the first `WARMUP` steps (cuDNN's autotuning and the
optimizer's lazily made state, which a capture must not see for the first time), a last
short batch, the learning-rate schedule (it writes into the tensor learning rate the graph
reads) and the EMA's update. Runs with per-step host randomness (mixup, affine augmentation)
or float16 loss scaling are not captured (`components.eager_because`); `graph_blocker` says
why, and they run eagerly.

Off CUDA a StepGraph runs its step eagerly, so the CPU tests check the captured body (the
gather by device step number, the totals) against the eager loop, bit for bit.
"""

from __future__ import annotations

import time
import warnings

import torch

from k49.models.inference import to_input
from k49.runs.config import TrainConfig
from k49.training.components import Training
from k49.training.tally import DeviceTotals

#: Eager steps before the capture: cuDNN's autotuning, Adam's state and the allocator's
#: pools settle in them (torch's documentation warms up with 3).
WARMUP = 3


def graph_blocker(t: Training) -> str | None:
    """Why this run's step cannot be captured as a CUDA graph; None when it can."""
    if t.eager_because is not None:
        return t.eager_because
    for group in t.optimizer.param_groups:
        if "capturable" in t.optimizer.defaults and not group.get("capturable"):
            return f"the {type(t.optimizer).__name__} optimizer here is not capturable"
        if not (group.get("fused") or group.get("capturable")):
            return f"the {type(t.optimizer).__name__} optimizer here is neither fused nor " \
                   "capturable"
    return None


def step_graph(t: Training, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
               n_classes: int) -> tuple[StepGraph | None, str | None]:
    """The run's StepGraph, or None and why its steps stay eager (call after the schedule
    is built and a checkpoint loaded)."""
    blocker = graph_blocker(t)
    if blocker is not None:
        return None, blocker
    return StepGraph(t, config, images, labels, n_classes, t.schedule is not None), None


class StepGraph:
    """Full-batch training steps of one run, captured once and replayed.

    `start_epoch(order, first)` loads the epoch's batch order and step number into the
    graph's own tensors; each `step(tally)` then trains on the next full batch and counts it
    in `tally` (a `Tally` made with `device_totals=self.totals`).
    """

    def __init__(self, t: Training, config: TrainConfig, images: torch.Tensor,
                 labels: torch.Tensor, n_classes: int, schedule_changes_lr: bool):
        self.t, self.config = t, config
        self.images, self.labels = images, labels
        self.batch_size = config.batch_size
        device = images.device
        self.order = torch.empty(len(images), dtype=torch.long, device=device)
        self.step_number = torch.zeros((), dtype=torch.long, device=device)
        self.offsets = torch.arange(self.batch_size, device=device)
        self.totals = DeviceTotals(n_classes, device)
        self.graph: torch.cuda.CUDAGraph | None = None
        #: Set when the capture failed: the steps then stay eager, and the run records why.
        self.eager_because: str | None = None
        self.warm_steps = 0
        #: Wall time from the first warm-up step to the end of the capture.
        self.warmup_seconds: float | None = None
        self._warmup_start = 0.0
        self.on_cuda = device.type == "cuda"
        if schedule_changes_lr:
            _tensor_learning_rates(t.optimizer, device)

    def start_epoch(self, order: torch.Tensor, first_step: int) -> None:
        self.order.copy_(order)
        self.step_number.fill_(first_step)

    def step(self, tally) -> None:
        """One optimizer step on the next full batch: eager while warming up, then replayed."""
        if self.on_cuda and self.graph is None and self.eager_because is None:
            if self.warm_steps < WARMUP:
                self._warm_up()
                tally.add_counted(self.batch_size)
                return
            self._capture()
        if self.graph is not None:
            self.graph.replay()
        else:
            self._body()
        tally.add_counted(self.batch_size)

    def _warm_up(self) -> None:
        """An eager step on a side stream, as torch asks before a capture."""
        if self.warm_steps == 0:
            self._warmup_start = time.perf_counter()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.warm_steps += 1

    def _capture(self) -> None:
        """Capture the body (which runs nothing: the replay that follows takes the step). If
        this torch or GPU refuses, say so once and go on eagerly rather than lose the run."""
        self.t.optimizer.zero_grad(set_to_none=True)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body()
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.eager_because = f"the capture failed: {reason}"
            warnings.warn(f"CUDA graph: {self.eager_because}; training on eagerly",
                          stacklevel=2)
            return
        self.graph = graph
        torch.cuda.synchronize(self.t.device)
        self.warmup_seconds = time.perf_counter() - self._warmup_start

    def _body(self) -> None:
        """What the graph holds: gather the batch at `step_number`, forward, backward, step."""
        t, batch = self.t, self.batch_size
        idx = self.order.index_select(0, self.step_number * batch + self.offsets)
        x = to_input(self.images.index_select(0, idx), t.device, t.channels_last)
        y = self.labels.index_select(0, idx)
        # cache_enabled=False: autocast's cache of cast weights would outlive the capture.
        with torch.autocast(t.device.type, dtype=t.amp_dtype or torch.bfloat16,
                            enabled=t.amp_dtype is not None, cache_enabled=False):
            logits = t.forward(x)
            loss = t.loss_fn(logits.float(), y)
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        self.totals.add(loss, logits, y)
        self.step_number.add_(1)


def _tensor_learning_rates(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Learning rates as device tensors, which the schedule fills in place and a graph reads
    on every replay (a float would be baked into the capture)."""
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
