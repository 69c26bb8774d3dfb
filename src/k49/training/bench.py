"""Training speed: k49's loop against a plain PyTorch DataLoader loop, and this machine's peak.

For each model, the same number of optimizer steps (batch 128) is timed, after a warm-up, on
20,000 random uint8 images of K49's shape held in memory:

- **ours**: `k49.training.trainer.train_steps`, the trainer's own hot loop (uint8 tensor,
  batches by `index_select` of a permutation, normalised per batch, channels_last for conv
  nets on the CPU, running accuracy tally);
- **baseline**: the textbook loop, `DataLoader(TensorDataset(float images in [0, 1], labels),
  batch_size=128, shuffle=True)` (num_workers=0, per-sample `__getitem__` plus
  `default_collate`), NCHW, the same model, optimizer and loss, `loss.item()` per step.

The two loops alternate `repeats` times and the best time of each counts (other processes on
the machine only ever slow a run down). Achieved GFLOP/s = images/s x training FLOPs per image
/ 1e9, where training FLOPs = 3 x the forward FLOPs of `k49.models.count_flops` (the usual
estimate: the backward pass costs about twice the forward). `matmul_gflops` is the fp32
`torch.mm` rate of 2048 x 2048 matrices with the same thread count: the ceiling to compare with.

With `full=True` also: the peak RSS of a training run on full-size data (232,365 train and
38,547 test images, in a child process, at most `rss_steps` steps), and the wall-clock speed-up
of `run_suite(..., jobs=2)` over `jobs=1` on four small MLPs.

Knobs for short runs (tests, CI) as environment variables, used when the argument is not given:
K49_BENCH_STEPS (timed steps per loop), K49_BENCH_IMAGES (in-memory images),
K49_BENCH_THREADS (torch threads; default: all cores, as training uses).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from k49.errors import K49Error
from k49.io import torch_threads

#: The default set: two MLPs, three CNNs, a ResNet; the whole bench takes a minute or two.
DEFAULT_MODELS = ("NN_2_adam", "NN_dense_batch_norm", "CNN_1_adam", "CNN_2_adam",
                  "keras_simple_cnn", "resnet_small")
BATCH_SIZE = 128
N_IMAGES = 20_000
N_CLASSES = 49
#: Full K49 size, for the memory measurement.
FULL_TRAIN, FULL_TEST = 232_365, 38_547
RSS_MODEL = "CNN_1_adam"
JOBS_MODELS = ("NN_1_sgd", "NN_2_sgd", "NN_1_adam", "NN_2_adam")

#: Goals the report is compared against (never asserted by the tests).
SPEEDUP_GOAL = 1.2
RSS_GOAL_MB = 1536.0
JOBS_SPEEDUP_GOAL = 1.4

STEPS_ENV = "K49_BENCH_STEPS"
IMAGES_ENV = "K49_BENCH_IMAGES"
THREADS_ENV = "K49_BENCH_THREADS"

FLOPS_NOTE = ("GFLOP/s = images/s x 3 x forward FLOPs per image / 1e9 (forward FLOPs from "
              "count_flops: matmuls and convolutions; backward estimated as 2x forward)")
BASELINE_NOTE = ("DataLoader(TensorDataset(float32 images / 255, labels), batch_size=128, "
                 "shuffle=True, num_workers=0), NCHW, same model, optimizer and loss, "
                 "zero_grad/backward/step/loss.item() per step")


def _env_int(name: str) -> int | None:
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


def _say(quiet: bool, text: str) -> None:
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


def _build_baseline(name: str, device: torch.device, class_counts: np.ndarray):
    """Model, optimizer and loss of `name` with its registry defaults, the textbook way:
    NCHW, torch's default optimizer implementation (initialisation seeded as in ours)."""
    from k49.models import create_model, get_entry
    from k49.training.losses import build_loss
    from k49.training.optim import build_optimizer

    entry = get_entry(name)
    torch.manual_seed(0)
    model = create_model(entry.name, num_classes=N_CLASSES).to(device)
    optimizer = build_optimizer(entry.optimizer, model.parameters(), entry.lr,
                                **dict(entry.optimizer_kwargs))
    loss_fn = build_loss(entry.loss, class_counts=class_counts).to(device)
    return model, optimizer, loss_fn


class OurLoop:
    """`trainer.train_steps` over in-memory uint8 data, epoch after epoch (a new permutation
    and a new tally each epoch, as in the trainer); `run(n)` does n steps."""

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                 class_counts: np.ndarray, batch_size: int = BATCH_SIZE):
        from k49.training.config import TrainConfig
        from k49.training.trainer import build_training

        config = TrainConfig(model=name, seed=0, batch_size=batch_size).resolved()
        self.model, self.channels_last, self.optimizer, self.loss_fn = build_training(
            config, N_CLASSES, class_counts, device)
        self.model.train()
        self.x, self.y, self.device, self.batch_size = x, y, device, batch_size
        self.steps_per_epoch = (len(x) + batch_size - 1) // batch_size
        self.epoch, self.step = 0, self.steps_per_epoch  # a new epoch starts on the first run

    def run(self, n: int) -> int:
        """n training steps; returns the number of images trained on."""
        from k49.training.trainer import _generator, _Tally, train_steps

        images = 0
        while n > 0:
            if self.step >= self.steps_per_epoch:
                self.epoch += 1
                self.step = 0
                self.perm = torch.randperm(len(self.x), generator=_generator(0, self.epoch))
                self.tally = _Tally(N_CLASSES)
            stop = min(self.step + n, self.steps_per_epoch)
            seen = self.tally.seen
            for _ in train_steps(self.model, self.optimizer, self.loss_fn, self.x, self.y,
                                 self.perm, batch_size=self.batch_size, device=self.device,
                                 channels_last=self.channels_last, tally=self.tally,
                                 start_step=self.step, stop_step=stop):
                pass
            self.tally.summary()  # the per-epoch history row folds the tally in
            images += self.tally.seen - seen
            n -= stop - self.step
            self.step = stop
        return images

    def data_seconds(self, n: int) -> float:
        """Time of n batches' data preparation alone (the first lines of `train_steps`)."""
        from k49.evaluation.predict import to_input

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
        from torch.utils.data import DataLoader, TensorDataset

        self.model, self.optimizer, self.loss_fn = _build_baseline(name, device, class_counts)
        self.model.train()
        dataset = TensorDataset(x.unsqueeze(1).float().div(255.0), y)
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        self.device = device
        self.batches = iter(self.loader)
        self.running_loss = 0.0

    def _next(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def run(self, n: int) -> int:
        images = 0
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        for _ in range(n):
            x, y = self._next()
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
            self._next()
        return time.perf_counter() - start


def _step_impl(optimizer: torch.optim.Optimizer) -> str:
    defaults = optimizer.defaults
    return "fused" if defaults.get("fused") else "foreach" if defaults.get("foreach") else "loop"


def _timed(loop, n: int) -> tuple[float, int]:
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
    from k49.models import count_flops, create_model, get_entry

    entry = get_entry(name)
    if not entry.is_torch:
        raise K49Error(f"{name} is not a torch model: the training bench times gradient steps")
    device = device or torch.device("cpu")
    counts = np.bincount(y.numpy(), minlength=N_CLASSES)
    train_flops = 3 * count_flops(create_model(entry.name, num_classes=N_CLASSES))
    ours = OurLoop(entry.name, x, y, device, counts)
    base = BaselineLoop(entry.name, x, y, device, counts)

    t_ours, _ = _timed(ours, warmup)
    t_base, _ = _timed(base, warmup)
    if steps is None:
        per_step = max(t_ours, t_base) / max(warmup, 1)
        steps = int(min(max_steps, max(min_steps, round(seconds / max(per_step, 1e-6)))))
    best_ours = best_base = (math.inf, 1)
    for _ in range(repeats):
        t, n = _timed(ours, steps)
        best_ours = min(best_ours, (t, n), key=lambda r: r[0] / r[1])
        t, n = _timed(base, steps)
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
        "optimizer_step": _step_impl(ours.optimizer),
        "optimizer": entry.optimizer,
        "loss": entry.loss,
    }
    if matmul:
        row["fraction_of_matmul"] = row["gflops"] / matmul
    return row


# ---------------------------------------------------------------------------------------------
# Peak memory of a full-size run (in a child process)


def _peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM, else ru_maxrss), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def _full_size_dataset(n_train: int, n_test: int, data_dir: Path, seed: int = 0):
    """A `Dataset` of random uint8 images of K49's shape, with K49's class proportions when
    the synthetic module can give them."""
    from k49.data.datasets import DATASETS
    from k49.data.load import Dataset

    rng = np.random.default_rng(seed)

    def labels(n: int, counts: np.ndarray | None) -> np.ndarray:
        if counts is None or counts.sum() != n:
            return rng.integers(0, N_CLASSES, size=n).astype(np.int64)
        out = np.repeat(np.arange(N_CLASSES), counts).astype(np.int64)
        rng.shuffle(out)
        return out

    try:
        from k49.data.synthetic import class_counts

        train_counts, test_counts = class_counts(n_train / FULL_TRAIN)
    except Exception:  # noqa: BLE001 - any failure: uniform labels are fine for memory
        train_counts = test_counts = None
    return Dataset(
        DATASETS["synthetic"],
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8), labels(n_train, train_counts),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8), labels(n_test, test_counts),
        data_dir=data_dir, checksums={},
    )


def rss_child(model: str, max_steps: int, n_train: int, n_test: int,
              threads: int | None) -> dict[str, Any]:
    """Run in a fresh process: one epoch of `trainer.train` on full-size random data, cut to
    `max_steps` steps (validation, test predictions and every file are still written); returns
    the peak RSS."""
    import itertools

    from k49.training import trainer
    from k49.training.config import TrainConfig

    base_rss = _peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        ds = _full_size_dataset(n_train, n_test, Path(tmp))
        data_rss = _peak_rss_mb()
        real = trainer.train_steps

        def limited(*args, **kwargs):
            return itertools.islice(real(*args, **kwargs), max_steps)

        trainer.train_steps = limited
        config = TrainConfig(model=model, epochs=1, threads=threads)
        start = time.perf_counter()
        result = trainer.train(config, Path(tmp) / "run", dataset=ds, quiet=True)
        seconds = time.perf_counter() - start
    history = result.history[-1]
    return {
        "model": model, "train_images": n_train, "test_images": n_test,
        "steps": max_steps, "batch_size": config.batch_size,
        "peak_rss_mb": _peak_rss_mb(), "rss_after_imports_mb": base_rss,
        "rss_after_data_mb": data_rss, "seconds": seconds,
        "images_per_s": history["images_per_s"],
    }


def measure_rss(model: str = RSS_MODEL, max_steps: int = 200, n_train: int = FULL_TRAIN,
                n_test: int = FULL_TEST, threads: int | None = None,
                timeout: float = 1800) -> dict[str, Any]:
    """Peak RSS of a (step-limited) training run on full-size data, in a child process."""
    args = json.dumps([model, max_steps, n_train, n_test, threads])
    code = ("import json, sys; from k49.training.bench import rss_child; "
            f"print('K49_RSS ' + json.dumps(rss_child(*json.loads({args!r}))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("K49_RSS ")]
    if proc.returncode != 0 or not lines:
        raise K49Error(f"the memory measurement's child process failed "
                       f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    report = json.loads(lines[-1][len("K49_RSS "):])
    report["goal_mb"] = RSS_GOAL_MB
    report["goal_met"] = report["peak_rss_mb"] <= RSS_GOAL_MB
    return report


# ---------------------------------------------------------------------------------------------
# Parallel runs: run_suite(jobs=2) against jobs=1


def write_synthetic_files(data_dir: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A small K49-format set in `data_dir`/synthetic (npz `arr_0`, compressed, and the class
    map): one random template per class plus noise, so the models can learn something."""
    from k49.data.datasets import DATASETS
    from k49.data.load import write_classmap

    spec = DATASETS["synthetic"]
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(N_CLASSES, 28, 28))
    out = Path(data_dir) / spec.name
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % N_CLASSES
        rng.shuffle(labels)
        noise = rng.integers(-60, 60, size=(n, 28, 28))
        images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
        np.savez_compressed(spec.path(f"{split}_images", data_dir), images)
        np.savez_compressed(spec.path(f"{split}_labels", data_dir), labels.astype(np.uint8))
    write_classmap(spec, spec.path("classmap", data_dir))
    return out


def measure_jobs(models: Sequence[str] = JOBS_MODELS, *, jobs: int = 2, epochs: int = 10,
                 limit_train: int | None = None, n_train: int = 23_237, n_test: int = 3_855,
                 data_dir: Path | None = None, quiet: bool = True) -> dict[str, Any]:
    """Wall-clock time of `run_suite` over `models` (one seed) with jobs=1 and with `jobs`,
    each into a fresh temporary out directory. Trains on the synthetic set in `data_dir` when
    it is there, else on a temporary K49-format set of n_train / n_test images."""
    from k49.data.datasets import DATASETS
    from k49.data.load import missing_files
    from k49.training.runner import Suite, SuiteModel, plan, run_suite

    suite = Suite(name="bench-jobs", models=[SuiteModel(name=m) for m in models])
    before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="k49-bench-") as tmp:
        tmp = Path(tmp)
        if data_dir is not None and not missing_files(DATASETS["synthetic"], data_dir):
            data, source = Path(data_dir), str(Path(data_dir) / "synthetic")
        else:
            data = tmp / "data"
            write_synthetic_files(data, n_train, n_test)
            source = f"temporary K49-format set ({n_train} train, {n_test} test images)"
        seconds = {}
        for n in (1, jobs):
            specs = plan(suite, [0], tmp / f"jobs{n}", data_dir=str(data), epochs=epochs,
                         limit_train=limit_train)
            _say(quiet, f"bench: run_suite of {len(specs)} runs with jobs={n} ...")
            start = time.perf_counter()
            results = run_suite(specs, jobs=n, quiet=True)
            seconds[n] = time.perf_counter() - start
            failed = [r for r in results if r["status"] != "done"]
            if failed:
                raise K49Error(f"run_suite(jobs={n}) in the bench failed: "
                               f"{failed[0]['label']}: {failed[0]['error']}")
    torch.set_num_threads(before)  # jobs=1 trains in this process and sets its threads
    cpus = os.cpu_count() or 1
    return {
        "models": list(models), "epochs": epochs, "limit_train": limit_train, "data": source,
        "jobs": jobs, "threads_jobs1": cpus, f"threads_jobs{jobs}": max(1, cpus // jobs),
        "seconds_jobs1": seconds[1], f"seconds_jobs{jobs}": seconds[jobs],
        "speedup": seconds[1] / seconds[jobs],
        "goal": JOBS_SPEEDUP_GOAL, "goal_met": seconds[1] / seconds[jobs] >= JOBS_SPEEDUP_GOAL,
    }


# ---------------------------------------------------------------------------------------------
# The whole bench


def run_bench(
    models: Sequence[str] | None = None,
    *,
    full: bool = False,
    data_dir: str | os.PathLike | None = None,
    quiet: bool = False,
    steps: int | None = None,
    warmup: int | None = None,
    repeats: int = 3,
    seconds: float = 2.0,
    n_images: int | None = None,
    threads: int | None = None,
    rss_steps: int = 200,
    rss_model: str = RSS_MODEL,
    jobs_epochs: int = 10,
    jobs_limit_train: int | None = None,
) -> dict[str, Any]:
    """Training speed of each model, ours against a DataLoader loop; see the module docstring.

    Args:
        models: model names (default `DEFAULT_MODELS`).
        full: also measure the peak RSS of a full-size run (`rss_steps` steps of `rss_model`)
            and the speed-up of `run_suite(jobs=2)` over jobs=1 (`jobs_epochs` epochs of 4
            MLPs on a 23,237-image set, or `jobs_limit_train` of its images). Each spawned
            worker first spends ~3 s importing torch and scikit-learn, so runs must not be
            too short for jobs=2 to pay off.
        data_dir: where a synthetic set may already be; the jobs measurement uses it when
            complete (the speed measurement always uses random data in memory).
        quiet: no progress lines on stderr.
        steps: timed steps per loop and repeat (default: $K49_BENCH_STEPS, else enough for
            about `seconds` per timed run).
        warmup: untimed steps per loop first (default 3, at most `steps`).
        repeats: timed runs of each loop, alternated; the best counts.
        n_images: in-memory training images (default: $K49_BENCH_IMAGES, else 20,000).
        threads: torch threads (default: $K49_BENCH_THREADS, else all cores, like training).

    Returns a dict: "models" (one row per model: model, images_per_s, baseline_images_per_s,
    speedup, gflops, matmul_gflops, and the breakdown: step_ms, data_ms, ...), plus the
    settings, "matmul_gflops", notes and, when `full`, "rss" and "jobs".
    """
    from k49.models import get_entry

    names = [get_entry(m).name for m in (models or DEFAULT_MODELS)]
    steps = steps or _env_int(STEPS_ENV)
    n_images = n_images or _env_int(IMAGES_ENV) or N_IMAGES
    threads = threads or _env_int(THREADS_ENV) or os.cpu_count() or 1
    if warmup is None:
        warmup = min(3, steps) if steps else 3
    if n_images < BATCH_SIZE:
        raise K49Error(f"the bench needs at least {BATCH_SIZE} images, got {n_images}")

    report: dict[str, Any] = {}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with torch_threads(threads):
        quick = steps is not None and steps < 10
        mm = matmul_gflops(size=1024 if quick else 2048, seconds=0.2 if quick else 1.0)
        _say(quiet, f"bench: fp32 matmul {mm:.1f} GFLOP/s with {threads} threads")
        x, y = random_images(n_images)
        rows = []
        for name in names:
            row = bench_model(name, x, y, steps=steps, warmup=warmup, repeats=repeats,
                              seconds=seconds, matmul=mm)
            rows.append(row)
            _say(quiet, f"bench: {name}: {row['images_per_s']:.0f} img/s (DataLoader loop "
                        f"{row['baseline_images_per_s']:.0f}), {row['speedup']:.2f}x, "
                        f"{row['gflops']:.1f} GFLOP/s")
        report["models"] = rows
        report.update({
            "matmul_gflops": mm,
            "threads": threads,
            "batch_size": BATCH_SIZE,
            "train_images": n_images,
            "data": "random uint8 images of K49's shape, in memory",
            "baseline": BASELINE_NOTE,
            "flops": FLOPS_NOTE,
            "speedup_goal": SPEEDUP_GOAL,
            "min_speedup": min(r["speedup"] for r in rows),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg")
            else None,
        })
        if load_before is not None and load_before > 0.5:
            report["warning"] = (f"the machine was busy (load average {load_before:.2f} at the "
                                 "start): other processes slow these timings down; rerun on a "
                                 "quiet machine")
    if full:
        _say(quiet, f"bench: peak RSS of {rss_steps} steps of {rss_model} on "
                    f"{FULL_TRAIN:,} + {FULL_TEST:,} images (child process) ...")
        report["rss"] = measure_rss(rss_model, rss_steps, threads=threads)
        _say(quiet, f"bench: peak RSS {report['rss']['peak_rss_mb']:.0f} MiB")
        report["jobs"] = measure_jobs(epochs=jobs_epochs, limit_train=jobs_limit_train,
                                      data_dir=Path(data_dir) if data_dir else None,
                                      quiet=quiet)
        _say(quiet, f"bench: run_suite jobs=2 speed-up {report['jobs']['speedup']:.2f}x")
    return report
