"""The original (seed) study's 12 models (6 MLPs, 6 CNNs), composed from the MLP and CNN families.

Names: `_1` / `_2` = one or two hidden layers (NN) or conv layers (CNN); `_sgd` / `_adam` = the
optimizer with Keras's defaults (SGD lr 0.01 without momentum; Adam lr 1e-3, eps 1e-7);
`_dense` = many more layers and filters (Adam); `_batch_norm` = the `_dense` network with
BatchNorm (before each ReLU). Each pair the study compares differs in that one factor only:
NN_1_sgd and NN_1_adam share an architecture, NN_dense_batch_norm is NN_dense plus BatchNorm,
CNN_2 is CNN_1 plus one conv layer. All use Keras's initialisation (Glorot-uniform, zero bias),
the seed's framework. The seed's first version spelled `_batch_norm` as `_batch_form`; those
names are aliases.

The seed published trainable parameters for three models: CNN_1_adam 201,073, CNN_2_adam
922,225, CNN_dense_batch_norm 2,888,719; the architectures below are within 10% of each.
This module only registers: the layers live in `k49.models.mlp` and `k49.models.cnn`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k49.models.cnn import CNN
from k49.models.mlp import MLP
from k49.models.registry import register_model

KERAS_SGD = {"optimizer": "sgd", "lr": 0.01, "optimizer_kwargs": {}}
KERAS_ADAM = {"optimizer": "adam", "lr": 1e-3, "optimizer_kwargs": {"eps": 1e-7}}
_OPT_TEXT = {"sgd": "Keras SGD lr 0.01", "adam": "Keras Adam lr 1e-3"}

NN_1 = {"hidden": (256,)}
NN_2 = {"hidden": (256, 256)}
NN_DENSE = {"hidden": (1024, 1024, 512, 256)}
CNN_1 = {"blocks": ((32,),), "dense": (32,)}
CNN_2 = {"blocks": ((32, 128),), "dense": (32,)}
CNN_DENSE = {"blocks": ((64, 64), (128, 128)), "dense": (384, 384)}


def _builder(cls: type, spec: dict[str, Any]) -> Callable[..., Any]:
    def build(num_classes: int = 49, **kwargs: Any) -> Any:
        return cls(num_classes, **{**spec, "init": "keras", **kwargs})

    return build


def _mlp_text(spec: dict[str, Any]) -> str:
    bn = " +BatchNorm" if spec.get("batch_norm") else ""
    return "MLP " + "-".join(map(str, (784, *spec["hidden"], 49))) + f" ReLU{bn}"


def _cnn_text(spec: dict[str, Any]) -> str:
    parts = []
    for widths in spec["blocks"]:
        parts += [f"conv{w}" for w in widths] + ["pool"]
    parts += [f"dense{w}" for w in spec["dense"]]
    bn = " +BatchNorm" if spec.get("batch_norm") else ""
    return "CNN " + "-".join(parts) + f" (3x3 same, ReLU){bn}"


def _register(name: str, cls: type, spec: dict[str, Any], opt: dict[str, Any],
              aliases: tuple[str, ...] = ()) -> None:
    text = _mlp_text(spec) if cls is MLP else _cnn_text(spec)
    register_model(
        name, family="mlp" if cls is MLP else "cnn", optimizer=opt["optimizer"], lr=opt["lr"],
        optimizer_kwargs=opt["optimizer_kwargs"], aliases=aliases, tags=("original",),
        description=f"{text}; {_OPT_TEXT[opt['optimizer']]}",
    )(_builder(cls, spec))


_register("NN_1_sgd", MLP, NN_1, KERAS_SGD)
_register("NN_2_sgd", MLP, NN_2, KERAS_SGD)
_register("NN_1_adam", MLP, NN_1, KERAS_ADAM)
_register("NN_2_adam", MLP, NN_2, KERAS_ADAM)
_register("NN_dense", MLP, NN_DENSE, KERAS_ADAM)
_register("NN_dense_batch_norm", MLP, {**NN_DENSE, "batch_norm": True}, KERAS_ADAM,
          aliases=("NN_dense_batch_form",))
_register("CNN_1_sgd", CNN, CNN_1, KERAS_SGD)
_register("CNN_2_sgd", CNN, CNN_2, KERAS_SGD)
_register("CNN_1_adam", CNN, CNN_1, KERAS_ADAM)
_register("CNN_2_adam", CNN, CNN_2, KERAS_ADAM)
_register("CNN_dense", CNN, CNN_DENSE, KERAS_ADAM)
_register("CNN_dense_batch_norm", CNN, {**CNN_DENSE, "batch_norm": True}, KERAS_ADAM,
          aliases=("CNN_dense_batch_form",))
