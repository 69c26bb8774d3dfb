"""Parametric members of each family, for sweeps: an MLP, a CNN and a ResNet described by a few
numbers (layers, units or filters, BatchNorm, dropout) instead of a fixed architecture.

`create_model("cnn", layers=3, filters=32, batch_norm=True)` builds one; the names take the
default architecture when no arguments are given.
"""

from __future__ import annotations

from k49.models.cnn import CNN
from k49.models.mlp import MLP
from k49.models.registry import register_model
from k49.models.resnet import PreActResNet

#: The sweepable arguments of each parametric family, with their ranges (inclusive).
FAMILY_ARGS = {
    "mlp": {"layers": (1, 6), "units": (16, 4096), "batch_norm": None, "dropout": (0.0, 0.9)},
    "cnn": {"layers": (1, 4), "filters": (4, 256), "batch_norm": None, "dropout": (0.0, 0.9)},
    "resnet": {"layers": (1, 4), "filters": (8, 128)},
}


@register_model("mlp", family="mlp", optimizer="adam", lr=1e-3,
                description="Parametric MLP for sweeps: `layers` hidden layers of `units`, "
                            "optional BatchNorm and dropout")
def mlp(num_classes: int = 49, *, layers: int = 2, units: int = 256, batch_norm: bool = False,
        dropout: float = 0.0) -> MLP:
    return MLP(num_classes, hidden=(units,) * layers, batch_norm=batch_norm, dropout=dropout)


@register_model("cnn", family="cnn", optimizer="adam", lr=1e-3,
                description="Parametric CNN for sweeps: `layers` conv blocks (each conv then "
                            "2x2 max pool) from `filters` channels doubling per block, dense 128")
def cnn(num_classes: int = 49, *, layers: int = 2, filters: int = 32, batch_norm: bool = False,
        dropout: float = 0.0) -> CNN:
    blocks = tuple((filters * 2 ** i,) for i in range(layers))
    return CNN(num_classes, blocks=blocks, dense=(128,), batch_norm=batch_norm,
               dense_dropout=dropout)


@register_model("resnet", family="resnet", optimizer="sgd", lr=0.05,
                optimizer_kwargs={"momentum": 0.9, "nesterov": True}, mixup=True,
                description="Parametric pre-activation ResNet for sweeps: `layers` stages of "
                            "one block from `filters` channels doubling per stage")
def resnet(num_classes: int = 49, *, layers: int = 3, filters: int = 32) -> PreActResNet:
    widths = tuple(filters * 2 ** i for i in range(layers))
    strides = (1,) + (2,) * (layers - 1)
    return PreActResNet(num_classes, widths=widths, depths=(1,) * layers, strides=strides)
