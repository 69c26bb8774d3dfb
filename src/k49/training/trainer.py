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
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from k49.data.load import Dataset, load_dataset
from k49.errors import K49Error
from k49.io import remove_stale_parts
from k49.models import get_entry
from k49.models.inference import predict_logits, resolve_device
from k49.runs.config import TrainConfig
from k49.runs.provenance import provenance
from k49.runs.rundir import RunDir
from k49.training.fit_knn import fit_knn
from k49.training.recipe import build_ema, build_schedule
from k49.training.setup import build_training
from k49.training.split import Split, split_indices
from k49.training.steps import epoch_generator, train_steps
from k49.training.tally import Tally, evaluate_split


@dataclass
class RunResult:
    run_dir: Path
    config: TrainConfig
    history: list[dict[str, float]]
    timings: dict[str, float]
    skipped: bool = False


class _StopFlag:
    """Turns Ctrl-C into a request honoured between steps, so a checkpoint is never torn."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[ips]:>7.0f} img/s"), TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        disable=quiet, transient=True,
    )


def _setup_threads(config: TrainConfig) -> None:
    threads = config.threads or os.cpu_count() or 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike | RunDir,
    *,
    dataset: Dataset | None = None,
    quiet: bool = False,
    max_steps: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    test: bool = True,
) -> RunResult:
    """Train `config` into `run_dir`; resume if a checkpoint is there, skip if it is complete.

    `max_steps` ends training after that many optimizer steps in all (for benchmarks); the run
    is then finished as usual. `on_epoch(row)` is called with each epoch's history row once it
    is saved (a sweep reports it to its pruner, which may stop the run by raising). With
    `test=False` the test set is never touched: no test predictions, so the run is not
    "complete" for a report (sweeps).
    """
    config = config.resolved()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    run.check_config(config)
    if run.is_complete():
        return RunResult(run.path, config, run.read_history(), run.read_timings(), skipped=True)
    t_start = time.perf_counter()
    ds = dataset or load_dataset(config.dataset, config.data_dir, progress=not quiet,
                                 verify=config.verify)
    if ds.name != config.dataset:
        raise K49Error(f"config names dataset {config.dataset!r} but {ds.name!r} was given")
    split = split_indices(ds.train_labels, config)
    _setup_threads(config)
    if not get_entry(config.model).is_torch:
        record = provenance(config, ds, extra=split.record)
        run.create().write_config(record)
        history, timings = fit_knn(config, run, ds, split, quiet=quiet, t_start=t_start)
        return RunResult(run.path, config, history, timings)
    counts = np.bincount(ds.train_labels[split.train], minlength=ds.n_classes)
    device = resolve_device(config.device)
    setup = build_training(config, ds.n_classes, counts, device)
    record = provenance(config, ds, extra=split.record)
    run.create().write_config(record)
    remove_stale_parts(run.path)  # left by a run killed midway
    return _train_torch(config, run, ds, split, setup, device, quiet=quiet, t_start=t_start,
                        max_steps=max_steps, on_epoch=on_epoch, test=test)


def _train_torch(config: TrainConfig, run: RunDir, ds: Dataset, split: Split, setup,
                 device: torch.device, *, quiet: bool, t_start: float,
                 max_steps: int | None, on_epoch, test: bool) -> RunResult:
    model, channels_last, optimizer, loss_fn = setup
    ema = build_ema(model, config.ema)
    evaluated = ema.module if ema is not None else model  # what validation and test score
    if config.compile:
        # In place (after the EMA's copy), so the state dict keeps its names: checkpoints and
        # resumes are those of the plain model.
        model.compile()
    n_classes = ds.n_classes
    # One contiguous uint8 copy of each split; batches are slices of a permutation of it.
    x_train = torch.from_numpy(ds.train_images[split.train])
    y_train = torch.from_numpy(ds.train_labels[split.train])
    x_val = torch.from_numpy(ds.train_images[split.val])
    y_val = torch.from_numpy(ds.train_labels[split.val])
    if device.type == "cuda":
        # The uint8 training set fits on any GPU (all of K49's is 182 MB), so batches are
        # sliced there instead of copied from host memory every step.
        x_train, y_train = x_train.to(device), y_train.to(device)
    amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

    # Resume where a checkpoint left off.
    history: list[dict[str, float]] = []
    start_epoch, start_step, tally_state, train_seconds = 0, 0, None, 0.0
    if run.has_checkpoint:
        progress = run.load_checkpoint(model, optimizer, ema)
        start_epoch, start_step = progress["epoch"], progress["step"]
        tally_state, train_seconds = progress["tally"], progress["train_seconds"]
        history = run.read_history()[:start_epoch]
    resumed_from = start_epoch if run.has_checkpoint else None

    batch = config.batch_size
    steps_per_epoch = (len(x_train) + batch - 1) // batch
    steps_left = max_steps if max_steps is not None else math.inf
    schedule = build_schedule(optimizer, config, config.epochs * steps_per_epoch,
                              start_epoch * steps_per_epoch + start_step)
    with _progress(quiet) as bar, _StopFlag() as stop:
        for epoch in range(start_epoch, config.epochs):
            if steps_left <= 0:
                break
            task = bar.add_task(f"{config.model} epoch {epoch + 1}/{config.epochs}",
                                total=steps_per_epoch, completed=start_step, ips=0.0, loss=0.0)
            perm = torch.randperm(len(x_train), generator=epoch_generator(config.seed, epoch))
            perm = perm.to(x_train.device)  # where the images are: once an epoch
            tally = Tally(n_classes, tally_state)
            model.train()
            t0, seen0 = time.perf_counter(), tally.seen
            last_update = t0
            stop_step = int(min(steps_per_epoch, start_step + steps_left))
            for step in train_steps(
                model, optimizer, loss_fn, x_train, y_train, perm, batch_size=batch,
                device=device, channels_last=channels_last, tally=tally, start_step=start_step,
                stop_step=stop_step, mixup=config.mixup, mixup_alpha=config.mixup_alpha,
                mix_key=(config.seed, epoch), amp=amp, amp_dtype=amp_dtype, scaler=scaler,
                scheduler=schedule, ema=ema, augment=config.augment == "affine",
            ):
                # A few bar updates a second: reading the running loss folds the tally in.
                if not quiet and ((now := time.perf_counter()) - last_update > 0.25
                                  or step + 1 == steps_per_epoch):
                    last_update = now
                    ips = (tally.seen - seen0) / max(now - t0, 1e-9)
                    bar.update(task, completed=step + 1, ips=ips,
                               loss=tally.loss_sum / tally.seen)
                if stop.requested:
                    train_seconds += time.perf_counter() - t0
                    run.save_checkpoint(model, optimizer, {
                        "epoch": epoch, "step": step + 1, "tally": tally.state(),
                        "train_seconds": train_seconds}, ema)
                    bar.stop()
                    print(f"interrupted at epoch {epoch + 1}, step {step + 1}: checkpoint "
                          f"saved in {run.path}; rerun the same command to resume")
                    raise KeyboardInterrupt
            steps_left -= stop_step - start_step
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            val = evaluate_split(evaluated, loss_fn, x_val, y_val, n_classes,
                                 batch_size=config.eval_batch_size, device=device,
                                 channels_last=channels_last)
            history.append(_history_row(epoch, tally, val, seconds, seen0,
                                        optimizer.param_groups[0]["lr"]))
            run.write_history(history)
            if not math.isfinite(history[-1]["train_loss"]):
                message = (f"{config.model}: the training loss became "
                           f"{history[-1]['train_loss']} in epoch {epoch + 1}, so the run is "
                           f"marked failed: lower --lr and delete {run.path} to train again")
                run.write_failure(message)
                raise K49Error(message)
            run.save_checkpoint(model, optimizer, {
                "epoch": epoch + 1, "step": 0, "tally": None, "train_seconds": train_seconds},
                ema)
            start_step, tally_state = 0, None
            bar.remove_task(task)
            if on_epoch is not None:
                on_epoch(history[-1])
            if not quiet:
                h = history[-1]
                bar.console.print(
                    f"{config.model} epoch {epoch + 1}/{config.epochs}: "
                    f"loss {h['train_loss']:.4f}  val loss {h['val_loss']:.4f}  "
                    f"val acc {h['val_accuracy']:.4f}  val bal acc "
                    f"{h['val_balanced_accuracy']:.4f}  ({h['images_per_s']:.0f} img/s)",
                    highlight=False)

    t_eval = time.perf_counter()
    if test:
        logits = predict_logits(evaluated, ds.test_images, batch_size=config.eval_batch_size,
                                device=device, channels_last=channels_last)
        probs = torch.softmax(logits, dim=1).numpy()
    eval_seconds = time.perf_counter() - t_eval
    run.save_weights(evaluated, {"model": config.model, "num_classes": n_classes})
    if test:
        run.write_predictions(probs, ds.test_labels)
    timings = {"train_seconds": train_seconds, "eval_seconds": eval_seconds,
               "total_seconds": time.perf_counter() - t_start,
               "epochs": config.epochs, "train_images": len(x_train),
               "resumed_from_epoch": resumed_from}
    run.write_timings(timings)
    run.remove_checkpoint()
    return RunResult(run.path, config, history, timings)


def _history_row(epoch, tally: Tally, val: Tally, seconds: float, seen0: int, lr: float):
    train_loss, train_acc, train_bal = tally.summary()
    val_loss, val_acc, val_bal = val.summary()
    return {
        "epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
        "train_balanced_accuracy": train_bal, "val_loss": val_loss, "val_accuracy": val_acc,
        "val_balanced_accuracy": val_bal, "seconds": seconds,
        "images_per_s": (tally.seen - seen0) / max(seconds, 1e-9), "lr": lr,
    }
