"""Losses: each against a reference computation, for hard and soft (mixup) targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from k49.errors import K49Error
from k49.models.losses import LOSSES, build_loss, inverse_frequency_weights

C = 7
COUNTS = np.array([600, 600, 100, 300, 50, 600, 200])


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, C, generator=g) * 3
    targets = torch.randint(0, C, (16,), generator=g)
    return logits, targets


def _focal_reference(logits, targets, gamma):
    logp = F.log_softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)
    return (-(1 - logp.exp()) ** gamma * logp).mean()


def test_cross_entropy_matches_torch(batch):
    logits, y = batch
    torch.testing.assert_close(build_loss("cross_entropy")(logits, y), F.cross_entropy(logits, y))


def test_weighted_cross_entropy_matches_torch(batch):
    logits, y = batch
    w = torch.tensor(1.0 / COUNTS, dtype=torch.float32)
    w = w / w.mean()
    loss = build_loss("weighted_cross_entropy", class_counts=COUNTS)
    torch.testing.assert_close(loss(logits, y), F.cross_entropy(logits, y, weight=w))


def test_label_smoothing_matches_torch(batch):
    logits, y = batch
    for s in (0.1, 0.3):
        loss = build_loss("label_smoothing", smoothing=s)
        torch.testing.assert_close(loss(logits, y), F.cross_entropy(logits, y, label_smoothing=s))


def test_focal(batch):
    logits, y = batch
    torch.testing.assert_close(build_loss("focal", gamma=0.0)(logits, y),
                               F.cross_entropy(logits, y))
    for gamma in (0.5, 2.0):
        torch.testing.assert_close(build_loss("focal", gamma=gamma)(logits, y),
                                   _focal_reference(logits, y, gamma))
    # Focusing lowers the loss of easy examples more than that of hard ones.
    assert build_loss("focal")(logits, y) < build_loss("cross_entropy")(logits, y)


@pytest.mark.parametrize("name", LOSSES)
def test_one_hot_soft_targets_equal_hard(batch, name):
    logits, y = batch
    loss = build_loss(name, class_counts=COUNTS)
    torch.testing.assert_close(loss(logits, F.one_hot(y, C).float()), loss(logits, y))


@pytest.mark.parametrize("name", LOSSES)
def test_soft_targets_mix_linearly_and_backprop(batch, name):
    logits, y = batch
    logits = logits.clone().requires_grad_(True)
    perm = torch.roll(torch.arange(len(y)), 1)
    lam = 0.3
    soft = lam * F.one_hot(y, C).float() + (1 - lam) * F.one_hot(y[perm], C).float()
    loss = build_loss(name, class_counts=COUNTS)
    value = loss(logits, soft)
    if name != "weighted_cross_entropy":  # its normaliser is target-dependent
        expected = lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm])
        torch.testing.assert_close(value, expected)
    value.backward()
    assert torch.isfinite(logits.grad).all()


def test_soft_cross_entropy_matches_torch_probability_targets(batch):
    logits, y = batch
    soft = torch.softmax(torch.randn(len(y), C, generator=torch.Generator().manual_seed(1)), 1)
    torch.testing.assert_close(build_loss("cross_entropy")(logits, soft),
                               F.cross_entropy(logits, soft))


def test_inverse_frequency_weights():
    w = inverse_frequency_weights(COUNTS)
    torch.testing.assert_close(w.mean(), torch.tensor(1.0))
    # Inversely proportional: count x weight is the same for every class.
    prod = w.double() * torch.as_tensor(COUNTS, dtype=torch.float64)
    torch.testing.assert_close(prod, torch.full_like(prod, prod[0].item()))
    assert w[4] == w.max() and w[0] == w.min()  # rarest class weighs most
    torch.testing.assert_close(inverse_frequency_weights(np.full(5, 10)), torch.ones(5))


def test_weighted_loss_errors(batch):
    logits, y = batch
    with pytest.raises(K49Error, match="class_counts"):
        build_loss("weighted_cross_entropy")
    with pytest.raises(K49Error, match=r"classes \[1\]"):
        build_loss("weighted_cross_entropy", class_counts=np.array([5, 0, 3]))
    with pytest.raises(K49Error, match="7 classes"):
        build_loss("weighted_cross_entropy", class_counts=COUNTS)(torch.randn(4, 5), y[:4] % 5)


def test_losses_follow_the_device_and_dtype(batch):
    logits, y = batch
    loss = build_loss("weighted_cross_entropy", class_counts=COUNTS).to(torch.float64)
    value = loss(logits.to(torch.bfloat16), y)
    assert value.dtype == torch.float32 and torch.isfinite(value)


def test_bad_names():
    with pytest.raises(K49Error, match="focal") as info:
        build_loss("focall")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert all(name in message for name in LOSSES)
    with pytest.raises(K49Error, match="weighted_cross_entropy"):
        build_loss("weighted_crossentropy")
    with pytest.raises(K49Error, match="unknown loss"):
        build_loss("hinge")
