"""Running loss, accuracy and balanced accuracy: of training batches as they go, and of a
held-out split."""

from __future__ import annotations

from typing import Any

import torch

from k49.models.inference import predict_logits


class DeviceTotals:
    """A batch's loss and per-class hits added up where the batch is, in place: the part of
    `Tally.add` that a CUDA graph can capture (no host sync, the same memory every step). A
    `Tally` given these starts them from zero and folds them in when a total is read."""

    def __init__(self, n_classes: int, device: torch.device):
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.hits = torch.zeros(n_classes, dtype=torch.long, device=device)
        self.counts = torch.zeros(n_classes, dtype=torch.long, device=device)

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: its mean loss (0-d tensor), logits and labels, all on the device."""
        self.loss_sum.add_(loss.detach().double() * len(y))
        # index_add_, not bincount: bincount sizes its output from the data, a host sync.
        self.hits.index_add_(0, y, (logits.detach().argmax(1) == y).long())
        self.counts.index_add_(0, y, torch.ones_like(y))

    def take(self) -> tuple[float, torch.Tensor, torch.Tensor]:
        """The totals so far (loss sum, hits and counts on the CPU), then zero."""
        totals = (self.loss_sum.item(), self.hits.to("cpu", copy=True),
                  self.counts.to("cpu", copy=True))
        self.zero()
        return totals

    def zero(self) -> None:
        for total in (self.loss_sum, self.hits, self.counts):
            total.zero_()


class Tally:
    """Running loss, accuracy and per-class recall, cheap enough for the hot loop.

    `add` only takes the batch's argmax and keeps references (no `.item()`, no bincount, so no
    device sync per step); the pending batches are folded in every `FLUSH_EVERY` steps or when a
    total is read. The loss sum is accumulated in float64 in step order, as one `.item()` per
    step would. Batches a CUDA graph adds to `device_totals` are counted with `add_counted`;
    the totals serve one Tally at a time (the next one zeroes them), so read a total first.
    """

    FLUSH_EVERY = 64

    def __init__(self, n_classes: int, state: dict | None = None,
                 device_totals: DeviceTotals | None = None):
        self.n_classes = n_classes
        self._loss_sum, self.seen = 0.0, 0
        self._hits = torch.zeros(n_classes, dtype=torch.long)
        self._counts = torch.zeros(n_classes, dtype=torch.long)
        self._pending: list[tuple[Any, torch.Tensor, torch.Tensor]] = []
        self._device_totals = device_totals
        if device_totals is not None:
            device_totals.zero()
        if state:
            self._loss_sum, self.seen = state["loss_sum"], state["seen"]
            self._hits, self._counts = torch.tensor(state["hits"]), torch.tensor(state["counts"])

    def add_counted(self, images: int) -> None:
        """A batch of `images` whose loss and hits went to `device_totals`."""
        self.seen += images

    def add(self, loss: float | torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: its mean loss (a float or a 0-d tensor), its logits and labels."""
        self.seen += len(y)
        self._pending.append((loss, logits.argmax(1), y))
        if len(self._pending) >= self.FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self._device_totals is not None:
            loss_sum, hits, counts = self._device_totals.take()
            self._loss_sum += loss_sum
            self._hits += hits
            self._counts += counts
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
                   device, channels_last: bool, amp_dtype: torch.dtype | None = None) -> Tally:
    """Loss, accuracy and balanced accuracy of `model` on a held-out split."""
    tally = Tally(n_classes)
    if len(labels):
        logits = predict_logits(model, images, batch_size=batch_size, device=device,
                                channels_last=channels_last, amp_dtype=amp_dtype)
        with torch.no_grad():
            tally.add(loss_fn(logits.to(device), labels.to(device)).item(), logits, labels)
    return tally
