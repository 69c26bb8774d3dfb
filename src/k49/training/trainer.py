"""The training loop: one model x seed into one run directory, resumable, readable top to bottom.

Data stays in memory as one uint8 tensor and is batched by slicing a seeded `randperm`, so there
is no per-sample Python in the hot loop. Each epoch's batch order comes from a generator seeded
by (seed, epoch), and the global torch RNG (dropout) is saved in every checkpoint: a run resumed
after a crash ends with exactly the weights of an uninterrupted one (on the CPU).

A run directory holds config.json, history.csv, model.safetensors, test_predictions.npz and,
written last as the mark of a complete run, timings.json.
"""

from __future__ import annotations

import csv
import inspect
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from k49.data.load import Dataset, load_dataset
from k49.errors import K49Error
from k49.evaluation.predict import predict_logits, resolve_device, to_input
from k49.io import atomic_path, read_json, write_json, write_text
from k49.models.resnet import mix_targets, sample_mix
from k49.training.checkpoint import load_checkpoint, save_checkpoint, save_weights
from k49.training.config import TrainConfig
from k49.training.provenance import provenance

HISTORY_FIELDS = (
    "epoch", "train_loss", "train_accuracy", "train_balanced_accuracy", "val_loss",
    "val_accuracy", "val_balanced_accuracy", "seconds", "images_per_s", "lr",
)
CHECKPOINT = "checkpoint.safetensors"
DONE_MARK = "timings.json"


@dataclass
class RunResult:
    run_dir: Path
    config: TrainConfig
    history: list[dict[str, float]]
    timings: dict[str, float]
    skipped: bool = False


# ---------------------------------------------------------------------------------------------
# Run directories


def is_complete(run_dir: Path) -> bool:
    return (run_dir / DONE_MARK).exists() and (run_dir / "test_predictions.npz").exists()


def _check_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to mix two different configs in one directory."""
    path = run_dir / "config.json"
    if path.exists():
        old = read_json(path).get("config_hash")
        if old != config.config_hash():
            raise K49Error(
                f"{run_dir} holds a run with another config (hash {old}, now "
                f"{config.config_hash()}): use another --out or delete that directory"
            )


def read_history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _write_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(run_dir / "history.csv", buf.getvalue())


def _write_predictions(run_dir: Path, probs: np.ndarray, labels: np.ndarray) -> None:
    with atomic_path(run_dir / "test_predictions.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, probs=probs.astype(np.float32), labels=labels.astype(np.int64))


# ---------------------------------------------------------------------------------------------
# Data split


def split_indices(labels: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices: an optional stratified subset, then a stratified split.

    Both depend only on the seed, so every epoch sees the same validation set (as in the seed).
    """
    idx = np.arange(len(labels))
    n_classes = len(np.unique(labels))
    if config.val_fraction:
        least = int(np.ceil(n_classes / min(config.val_fraction, 1 - config.val_fraction)))
        if config.limit_train is not None and config.limit_train < least:
            raise K49Error(
                f"--limit-train {config.limit_train} is too small for a stratified "
                f"{config.val_fraction:.0%} validation split of {n_classes} classes: "
                f"use at least {least}"
            )
    try:
        if config.limit_train is not None and config.limit_train < len(idx):
            idx, _ = train_test_split(
                idx, train_size=config.limit_train, stratify=labels, random_state=config.seed
            )
        if config.val_fraction == 0:
            return np.sort(idx), np.array([], dtype=np.int64)
        train, val = train_test_split(
            idx, test_size=config.val_fraction, stratify=labels[idx], random_state=config.seed
        )
    except ValueError as e:
        raise K49Error(f"cannot split the training set by class ({e}): use more training "
                       "images or --val-fraction 0") from None
    return np.sort(train), np.sort(val)


# ---------------------------------------------------------------------------------------------
# Metrics accumulated on the fly


class _Tally:
    """Running loss, accuracy and per-class recall, cheap enough for the hot loop.

    `add` only takes the batch's argmax and keeps references (no `.item()`, no bincount, so no
    device sync per step); the pending batches are folded in every `FLUSH_EVERY` steps or when a
    total is read. The loss sum is accumulated in float64 in step order, as one `.item()` per
    step would.
    """

    FLUSH_EVERY = 64

    def __init__(self, n_classes: int, state: dict | None = None):
        self.n_classes = n_classes
        self._loss_sum, self.seen = 0.0, 0
        self._hits = torch.zeros(n_classes, dtype=torch.long)
        self._counts = torch.zeros(n_classes, dtype=torch.long)
        self._pending: list[tuple[Any, torch.Tensor, torch.Tensor]] = []
        if state:
            self._loss_sum, self.seen = state["loss_sum"], state["seen"]
            self._hits, self._counts = torch.tensor(state["hits"]), torch.tensor(state["counts"])

    def add(self, loss: float | torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: its mean loss (a float or a 0-d tensor), its logits and labels."""
        self.seen += len(y)
        self._pending.append((loss, logits.argmax(1), y))
        if len(self._pending) >= self.FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        losses, preds, ys = zip(*self._pending, strict=True)
        self._pending = []
        if all(isinstance(v, torch.Tensor) for v in losses):
            values = torch.stack([v.detach().reshape(()) for v in losses]).double().cpu().tolist()
        else:
            values = [float(v) for v in losses]
        for value, y in zip(values, ys, strict=True):
            self._loss_sum += value * len(y)
        y = torch.cat(ys).cpu()
        correct = torch.cat(preds).cpu() == y
        self._hits += torch.bincount(y[correct], minlength=self.n_classes)
        self._counts += torch.bincount(y, minlength=self.n_classes)

    @property
    def loss_sum(self) -> float:
        self._flush()
        return self._loss_sum

    @property
    def hits(self) -> torch.Tensor:
        self._flush()
        return self._hits

    @property
    def counts(self) -> torch.Tensor:
        self._flush()
        return self._counts

    def state(self) -> dict:
        return {"loss_sum": self.loss_sum, "seen": self.seen, "hits": self.hits.tolist(),
                "counts": self.counts.tolist()}

    def summary(self) -> tuple[float, float, float]:
        """(mean loss, accuracy, balanced accuracy over the classes present)."""
        if self.seen == 0:
            return float("nan"), float("nan"), float("nan")
        present = self.counts > 0
        recall = self.hits[present].double() / self.counts[present].double()
        return (self.loss_sum / self.seen, self.hits.sum().item() / self.seen,
                recall.mean().item())


def evaluate_split(model, loss_fn, images, labels, n_classes: int, *, batch_size: int,
                   device, channels_last: bool) -> _Tally:
    """Loss, accuracy and balanced accuracy of `model` on a held-out split."""
    tally = _Tally(n_classes)
    if len(labels):
        logits = predict_logits(model, images, batch_size=batch_size, device=device,
                                channels_last=channels_last)
        with torch.no_grad():
            tally.add(loss_fn(logits.to(device), labels.to(device)).item(), logits, labels)
    return tally


class _StopFlag:
    """Turns Ctrl-C into a request honoured between steps, so a checkpoint is never torn."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ---------------------------------------------------------------------------------------------
# The loop


def _progress(quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
    run_dir: str | os.PathLike,
    *,
    dataset: Dataset | None = None,
    quiet: bool = False,
) -> RunResult:
    """Train `config` into `run_dir`; resume if a checkpoint is there, skip if it is complete."""
    config = config.resolved()
    run_dir = Path(run_dir)
    _check_run_dir(run_dir, config)
    if is_complete(run_dir):
        return RunResult(run_dir, config, read_history(run_dir), read_json(run_dir / DONE_MARK),
                         skipped=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    ds = dataset or load_dataset(config.dataset, config.data_dir, progress=not quiet)
    if ds.name != config.dataset:
        raise K49Error(f"config names dataset {config.dataset!r} but {ds.name!r} was given")
    _setup_threads(config)
    write_json(run_dir / "config.json", provenance(config, ds))

    from k49.models import get_entry

    if not get_entry(config.model).is_torch:
        from k49.training.knn import train_knn

        return train_knn(config, run_dir, ds, quiet=quiet, t_start=t_start)
    return _train_torch(config, run_dir, ds, quiet=quiet, t_start=t_start)


def build_training(config: TrainConfig, n_classes: int, class_counts: np.ndarray,
                   device: torch.device):
    """(model, channels_last, optimizer, loss_fn) of a resolved `config`, initialised from
    its seed, on `device`."""
    from k49.models import create_model
    from k49.training.losses import build_loss
    from k49.training.optim import build_optimizer

    torch.manual_seed(config.seed)  # fixes the initialisation
    model = create_model(config.model, num_classes=n_classes)
    channels_last = use_channels_last(model, device)
    model = model.to(device, memory_format=torch.channels_last if channels_last else None)
    params = list(model.parameters())
    try:
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config),
                                    **step_kwargs(config.optimizer, device))
    except (RuntimeError, K49Error):  # a torch or device without the fused kernels
        optimizer = build_optimizer(config.optimizer, params, config.lr,
                                    **_optimizer_kwargs(config), foreach=True)
    loss_fn = build_loss(config.loss, class_counts=class_counts).to(device)
    return model, channels_last, optimizer, loss_fn


def step_kwargs(optimizer: str, device: torch.device) -> dict[str, bool]:
    """How the optimizer step runs: `fused` (one kernel per parameter) for Adam, AdamW and SGD,
    `foreach` (multi-tensor) for the others, instead of torch's per-parameter Python loop,
    its CPU default, which cost a third of an MLP's step. foreach gives the same weights bit
    for bit; fused the same update up to float rounding (Adam: ~1e-6 relative)."""
    if optimizer.lower() in ("adam", "adamw", "sgd") and device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {"foreach": True}


def _train_torch(config: TrainConfig, run_dir: Path, ds: Dataset, *, quiet: bool,
                 t_start: float) -> RunResult:
    device = resolve_device(config.device)
    n_classes = ds.n_classes
    train_idx, val_idx = split_indices(ds.train_labels, config)
    # One contiguous uint8 copy of each split; batches are slices of a permutation of it.
    x_train = torch.from_numpy(ds.train_images[train_idx])
    y_train = torch.from_numpy(ds.train_labels[train_idx])
    x_val = torch.from_numpy(ds.train_images[val_idx])
    y_val = torch.from_numpy(ds.train_labels[val_idx])

    counts = np.bincount(ds.train_labels[train_idx], minlength=n_classes)
    model, channels_last, optimizer, loss_fn = build_training(config, n_classes, counts, device)
    use_mix = config.mixup != "none"
    if use_mix and "mix" not in inspect.signature(model.forward).parameters:
        raise K49Error(f"--mixup {config.mixup} needs a model that supports it "
                       "(preact_resnet18 or resnet_small); drop --mixup for this model")
    amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

    # Resume where a checkpoint left off.
    history: list[dict[str, float]] = []
    start_epoch, start_step, tally_state, train_seconds = 0, 0, None, 0.0
    ckpt = run_dir / CHECKPOINT
    if ckpt.exists():
        progress = load_checkpoint(ckpt, model, optimizer)
        start_epoch, start_step = progress["epoch"], progress["step"]
        tally_state, train_seconds = progress["tally"], progress["train_seconds"]
        history = read_history(run_dir)[:start_epoch]

    batch = config.batch_size
    steps_per_epoch = (len(x_train) + batch - 1) // batch
    with _progress(quiet) as bar, _StopFlag() as stop:
        for epoch in range(start_epoch, config.epochs):
            task = bar.add_task(f"{config.model} epoch {epoch + 1}/{config.epochs}",
                                total=steps_per_epoch, completed=start_step, ips=0.0, loss=0.0)
            perm = torch.randperm(len(x_train), generator=_generator(config.seed, epoch))
            tally = _Tally(n_classes, tally_state)
            model.train()
            t0, seen0 = time.perf_counter(), tally.seen
            last_update = t0
            for step in train_steps(
                model, optimizer, loss_fn, x_train, y_train, perm, batch_size=batch,
                device=device, channels_last=channels_last, tally=tally, start_step=start_step,
                mixup=config.mixup, mixup_alpha=config.mixup_alpha,
                mix_key=(config.seed, epoch), amp=amp, amp_dtype=amp_dtype, scaler=scaler,
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
                    save_checkpoint(ckpt, model, optimizer, {
                        "epoch": epoch, "step": step + 1, "tally": tally.state(),
                        "train_seconds": train_seconds})
                    bar.stop()
                    print(f"interrupted at epoch {epoch + 1}, step {step + 1}: checkpoint "
                          f"saved in {run_dir}; rerun the same command to resume")
                    raise KeyboardInterrupt
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            val = evaluate_split(model, loss_fn, x_val, y_val, n_classes,
                                 batch_size=config.eval_batch_size, device=device,
                                 channels_last=channels_last)
            history.append(_history_row(epoch, tally, val, seconds, seen0,
                                        optimizer.param_groups[0]["lr"]))
            _write_history(run_dir, history)
            save_checkpoint(ckpt, model, optimizer, {
                "epoch": epoch + 1, "step": 0, "tally": None, "train_seconds": train_seconds})
            start_step, tally_state = 0, None
            bar.remove_task(task)
            if not quiet:
                h = history[-1]
                bar.console.print(
                    f"{config.model} epoch {epoch + 1}/{config.epochs}: "
                    f"loss {h['train_loss']:.4f}  val loss {h['val_loss']:.4f}  "
                    f"val acc {h['val_accuracy']:.4f}  val bal acc "
                    f"{h['val_balanced_accuracy']:.4f}  ({h['images_per_s']:.0f} img/s)",
                    highlight=False)

    t_eval = time.perf_counter()
    logits = predict_logits(model, ds.test_images, batch_size=config.eval_batch_size,
                            device=device, channels_last=channels_last)
    probs = torch.softmax(logits, dim=1).numpy()
    eval_seconds = time.perf_counter() - t_eval
    save_weights(run_dir / "model.safetensors", model,
                 {"model": config.model, "num_classes": n_classes})
    _write_predictions(run_dir, probs, ds.test_labels)
    timings = {"train_seconds": train_seconds, "eval_seconds": eval_seconds,
               "total_seconds": time.perf_counter() - t_start,
               "epochs": config.epochs, "train_images": len(x_train)}
    write_json(run_dir / DONE_MARK, timings)
    ckpt.unlink(missing_ok=True)
    return RunResult(run_dir, config, history, timings)


def use_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Convolutional models train in channels_last memory format on the CPU (faster oneDNN
    convolutions); MLPs and other devices keep the default layout."""
    return device.type == "cpu" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: torch.nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    perm: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    channels_last: bool,
    tally: _Tally,
    start_step: int = 0,
    stop_step: int | None = None,
    mixup: str = "none",
    mixup_alpha: float = 1.0,
    mix_key: tuple[int, int] = (0, 0),
    amp: bool = False,
    amp_dtype: torch.dtype = torch.bfloat16,
    scaler: torch.amp.GradScaler | None = None,
) -> Iterator[int]:
    """The hot loop: one optimizer step per batch `perm[step * batch_size:(step + 1) *
    batch_size]` of the uint8 images `x_train`, for steps start_step .. stop_step - 1 (default:
    to the end of `perm`). Yields each step's index once its update and its tally are done, so
    the caller can show progress or stop between steps. `mix_key` is (seed, epoch): each
    step's mixing is drawn from a generator seeded by (seed, epoch, step).
    """
    n_classes = tally.n_classes
    use_mix = mixup != "none"
    if stop_step is None:
        stop_step = (len(perm) + batch_size - 1) // batch_size
    for step in range(start_step, stop_step):
        idx = perm[step * batch_size:(step + 1) * batch_size]
        # index_select copies whole rows; x[idx] would gather byte by byte.
        x = to_input(x_train.index_select(0, idx), device, channels_last)
        y = y_train.index_select(0, idx).to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            if use_mix:
                mix = sample_mix(len(idx), mixup, mixup_alpha, _generator(*mix_key, step))
                logits = model(x, mix=mix)
                target = mix_targets(y, mix, n_classes)
            else:
                logits, target = model(x), y
            loss = loss_fn(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        tally.add(loss.detach(), logits.detach(), y)
        yield step


def _generator(*key: int) -> torch.Generator:
    """A generator seeded by (seed, epoch[, step]): batch order and mixing never depend on
    how many steps ran before a resume."""
    seed = 0
    for k in key:
        seed = seed * 1_000_003 + int(k)
    return torch.Generator().manual_seed(seed % (2**63))


def _optimizer_kwargs(config: TrainConfig) -> dict[str, Any]:
    from k49.models import get_entry

    entry = get_entry(config.model)
    # A model's own optimizer settings (momentum, rho, ...) apply only to its own optimizer.
    return dict(entry.optimizer_kwargs) if config.optimizer == entry.optimizer else {}


def _history_row(epoch, tally: _Tally, val: _Tally, seconds: float, seen0: int, lr: float):
    train_loss, train_acc, train_bal = tally.summary()
    val_loss, val_acc, val_bal = val.summary()
    return {
        "epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
        "train_balanced_accuracy": train_bal, "val_loss": val_loss, "val_accuracy": val_acc,
        "val_balanced_accuracy": val_bal, "seconds": seconds,
        "images_per_s": (tally.seen - seen0) / max(seconds, 1e-9), "lr": lr,
    }
