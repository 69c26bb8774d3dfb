"""The training loop: one model x seed into one run directory, resumable, readable top to bottom.

Data stays in memory as one uint8 tensor and is batched by slicing a seeded `randperm`, so there
is no per-sample Python in the hot loop. Each epoch's batch order comes from a generator seeded
by (seed, epoch), and the global torch RNG (dropout) is saved in every checkpoint: a run resumed
after a crash ends with exactly the weights of an uninterrupted one (on the CPU).

Everything that can fail on bad input (config, data, split, device, model, optimizer, loss) is
set up before the run directory is touched; the files themselves are written by `RunDir`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from k49.console import styled, terminal
from k49.data.load import Dataset, load_dataset
from k49.errors import K49Error
from k49.io import default_threads, remove_stale_parts, torch_threads
from k49.models import get_entry
from k49.models.inference import predict_logits, resolve_device
from k49.runs.config import TrainConfig
from k49.runs.provenance import provenance
from k49.runs.records import Timings, TrainingProgress, history_row
from k49.runs.rundir import RunDir
from k49.training.components import Training, build_training
from k49.training.fit_knn import fit_knn
from k49.training.graph import StepGraph, step_graph
from k49.training.monitor import TrainingMonitor
from k49.training.recipe import build_schedule
from k49.training.split import Split, classes_without_images, split_indices
from k49.training.steps import batch_order, train_one_epoch
from k49.training.tally import Tally, evaluate_split


@dataclass
class RunResult:
    """What `train` did: the run's folder, its resolved config, its per-epoch history and
    timings; `skipped` when the run was complete already."""

    run_dir: Path
    config: TrainConfig
    history: list[dict[str, float]]
    timings: dict[str, float]
    skipped: bool = False


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike | RunDir,
    *,
    dataset: Dataset | None = None,
    quiet: bool = False,
    max_steps: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    test: bool = True,
    events: Callable[[dict], None] | None = None,
) -> RunResult:
    """Train `config` into `run_dir`; resume if a checkpoint is there, skip if it is complete.

    `max_steps` ends training after that many optimizer steps in all (for benchmarks); the run
    is then finished as usual. `on_epoch(row)` is called with each epoch's history row once it
    is saved (a sweep reports it to its pruner, which may stop the run by raising). With
    `test=False` the test set is never touched: no test predictions, so the run is not
    "complete" for a report (sweeps). Given `events`, the run draws nothing itself and sends
    its progress there instead (see `TrainingMonitor`), for a display of many runs.
    """
    config = config.resolved()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    run.check_config(config)
    if run.is_complete():
        return RunResult(run.path, config, run.read_history(), run.read_timings(), skipped=True)
    t_start = time.perf_counter()
    quiet = quiet or events is not None
    ds = dataset or load_dataset(config.dataset, config.data_dir, progress=not quiet,
                                 verify=config.verify)
    if ds.name != config.dataset:
        raise K49Error(f"config names dataset {config.dataset!r} but {ds.name!r} was given")
    _warn_once(classes_without_images(ds.train_labels, ds.chars, ds.name))
    split = split_indices(ds.train_labels, config)
    with torch_threads(config.threads or default_threads()):
        if not get_entry(config.model).is_torch:
            run.create().write_config(provenance(config, ds, extra=split.record))
            history, timings = fit_knn(config, run, ds, split, quiet=quiet, t_start=t_start)
            return RunResult(run.path, config, history, timings.as_dict())
        counts = np.bincount(ds.train_labels[split.train], minlength=ds.n_classes)
        training = build_training(config, ds.n_classes, counts, resolve_device(config.device))
        run.create().write_config(provenance(config, ds, extra=split.record))
        remove_stale_parts(run.path)  # left by a run killed midway
        return _train_torch(config, run, ds, split, training, quiet=quiet, t_start=t_start,
                            max_steps=max_steps, on_epoch=on_epoch, test=test, events=events)


_warned: set[str] = set()


def _warn_once(warning: str | None) -> None:
    """Print `warning` on stderr once per process (a sweep trains the same data many times)."""
    if warning and warning not in _warned:
        _warned.add(warning)
        terminal(stderr=True).print(styled(("warning:", "yellow"), " " + warning))


def _train_torch(config: TrainConfig, run: RunDir, ds: Dataset, split: Split, t: Training, *,
                 quiet: bool, t_start: float, max_steps: int | None, on_epoch,
                 test: bool, events) -> RunResult:
    # One contiguous uint8 copy of each split; batches are slices of a permutation of it. The
    # training set fits on any GPU (all of K49's is 182 MB): there it is sliced in place.
    x_train = torch.from_numpy(ds.train_images[split.train]).to(t.device)
    y_train = torch.from_numpy(ds.train_labels[split.train]).to(t.device)
    x_val = torch.from_numpy(ds.train_images[split.val])
    y_val = torch.from_numpy(ds.train_labels[split.val])
    if t.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(t.device)
    resumed = run.has_checkpoint
    done = run.load_checkpoint(t.model, t.optimizer, t.ema) if resumed else TrainingProgress()
    history = run.read_history()[:done.epoch] if resumed else []
    train_seconds = done.train_seconds
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    steps_left = max_steps if max_steps is not None else math.inf
    t.schedule = build_schedule(t.optimizer, config, config.epochs * steps_per_epoch,
                                done.epoch * steps_per_epoch + done.step)
    graph, blocker = step_graph(t, config, x_train, y_train, ds.n_classes)

    with TrainingMonitor(config.model, config.epochs, steps_per_epoch, quiet,
                         events) as monitor:
        for epoch in range(done.epoch, config.epochs):
            if steps_left <= 0:
                break
            first = done.step if epoch == done.epoch else 0
            last = int(min(steps_per_epoch, first + steps_left))
            tally = Tally(ds.n_classes, done.tally if epoch == done.epoch else None,
                          graph and graph.totals)
            seen_before = tally.seen
            order = batch_order(len(x_train), config.seed, epoch, x_train.device)
            monitor.start_epoch(epoch, first, tally)
            t0 = time.perf_counter()
            step = train_one_epoch(t, config, x_train, y_train, order, epoch,
                                   range(first, last), tally, monitor.on_step, graph)
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            if monitor.stop_requested:  # Ctrl-C: save where it stopped, to resume there
                run.save_checkpoint(t.model, t.optimizer, TrainingProgress(
                    epoch, step, tally.state(), train_seconds), t.ema)
                monitor.interrupted(epoch, step, run.path)
                raise KeyboardInterrupt
            steps_left -= last - first

            val = evaluate_split(t.scored_model, t.loss_fn, x_val, y_val, ds.n_classes,
                                 batch_size=config.eval_batch_size, device=t.device,
                                 channels_last=t.channels_last, amp_dtype=t.amp_dtype)
            history.append(history_row(epoch + 1, tally.summary(), val.summary(), seconds,
                                       tally.seen - seen_before,
                                       float(t.optimizer.param_groups[0]["lr"])))
            run.write_history(history)
            if not math.isfinite(history[-1]["train_loss"]):
                _fail(run, f"{config.model}: the training loss became "
                           f"{history[-1]['train_loss']} in epoch {epoch + 1}, so the run is "
                           f"marked failed: lower --lr and delete {run.path} to train again")
            run.save_checkpoint(t.model, t.optimizer,
                                TrainingProgress(epoch + 1, 0, None, train_seconds), t.ema)
            monitor.end_epoch(epoch, history[-1])
            if on_epoch is not None:
                on_epoch(history[-1])

    t_eval = time.perf_counter()
    if test:
        logits = predict_logits(t.scored_model, ds.test_images,
                                batch_size=config.eval_batch_size, device=t.device,
                                channels_last=t.channels_last, amp_dtype=t.amp_dtype)
        probs = torch.softmax(logits, dim=1).numpy()
    eval_seconds = time.perf_counter() - t_eval
    run.save_weights(t.scored_model, {"model": config.model, "num_classes": ds.n_classes})
    if test:
        run.write_predictions(probs, ds.test_labels)
    timings = Timings(train_seconds=train_seconds, eval_seconds=eval_seconds,
                      total_seconds=time.perf_counter() - t_start, epochs=config.epochs,
                      train_images=len(x_train),
                      resumed_from_epoch=done.epoch if resumed else None,
                      **_device_record(t, graph, blocker))
    run.write_timings(timings)
    run.remove_checkpoint()
    return RunResult(run.path, config, history, timings.as_dict())


def _device_record(t: Training, graph: StepGraph | None, blocker: str | None) -> dict:
    """What a CUDA run records of how it ran: peak memory, graph, precision, warm-up."""
    if t.device.type != "cuda":
        return {}
    return {"peak_device_memory_mib": torch.cuda.max_memory_allocated(t.device) / 2**20,
            "cuda_graph": graph is not None and graph.graph is not None,
            "eager_because": blocker or (graph.eager_because if graph is not None else None),
            "autocast": str(t.amp_dtype).removeprefix("torch.") if t.amp_dtype else None,
            "tf32": t.tf32,
            "warmup_seconds": graph.warmup_seconds if graph is not None else None}


def _fail(run: RunDir, message: str) -> None:
    """Mark the run failed for good (a rerun will not retry it) and stop with `message`."""
    run.write_failure(message)
    raise K49Error(message)
