"""The one validated configuration of a training run, and its hash.

Everything a run computes is decided here: suite files (`Overrides`) and the CLI's options take
their choices, bounds and help from these fields, so a bad value fails in the same words
wherever it is given, and before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from k49.data.datasets import normalize_name
from k49.models import get_entry, list_models
from k49.models.losses import LOSSES
from k49.models.optimizers import OPTIMIZERS

#: The original study's protocol.
SEED_EPOCHS = 10
SEED_BATCH_SIZE = 128
SEED_VAL_FRACTION = 0.3
#: K49's class count, for checks made before a dataset is loaded.
N_CLASSES = 49

#: Fields that change where or how fast a run happens, not what it computes.
_NOT_HASHED = {"data_dir", "device", "threads", "eval_batch_size", "verify", "compile"}
#: Fields added after the first release, left out of the hash at their defaults so that runs
#: made before them keep their hash (and resume).
_HASHED_UNLESS_DEFAULT = {"model_args": {}, "weight_decay": 0.0, "schedule": "constant",
                          "warmup": 0.25, "ema": 0.0, "augment": "none", "precision": "auto"}
#: Fields a suite may set for all its models or for one.
OVERRIDABLE = ("epochs", "batch_size", "lr", "optimizer", "loss", "val_fraction", "limit_train",
               "mixup", "mixup_alpha", "weight_decay", "model_args", "schedule", "warmup", "ema",
               "augment")

LossName = Literal[(*LOSSES, "none")]  # "none": kNN
OptimizerName = Literal[(*OPTIMIZERS, "none")]
MixupMode = Literal["none", "input", "manifold"]
ScheduleName = Literal["constant", "onecycle"]
AugmentName = Literal["none", "affine"]
PrecisionName = Literal["auto", "fp32"]
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"


class TrainConfig(BaseModel):
    """Everything that defines one model x seed run. `None` means the model's default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: str = Field(description="Model name; see `k49 models`.")
    model_args: dict[str, int | float | bool] = Field(
        default_factory=dict, description="Arguments of a parametric model (mlp, cnn, resnet): "
        "layers, units, filters, batch_norm, dropout.")
    dataset: str = Field("synthetic", description="Dataset: synthetic, k49, kmnist or "
                         "folder:PATH (a folder of K49-format files).")
    data_dir: str | None = Field(None, description="Where datasets live.")
    epochs: int = Field(SEED_EPOCHS, ge=1, description=f"Epochs (original study: {SEED_EPOCHS}).")
    batch_size: int = Field(SEED_BATCH_SIZE, ge=1,
                            description=f"Batch size (original study: {SEED_BATCH_SIZE}).")
    lr: float | None = Field(None, gt=0, description="Learning rate (default: the model's).")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay of the optimizer.")
    optimizer: OptimizerName | None = Field(
        None, description=f"Optimizer: {', '.join(OPTIMIZERS)} (default: the model's).")
    loss: LossName | None = Field(None, description=f"Loss: {', '.join(LOSSES)} "
                                  "(default: the model's).")
    val_fraction: float = Field(SEED_VAL_FRACTION, ge=0, lt=1,
                                description="Share of the training set held out for "
                                f"validation (original study: {SEED_VAL_FRACTION}).")
    seed: int = Field(0, ge=0, description="Seed of the split, initialisation and batch order.")
    limit_train: int | None = Field(
        None, ge=1, description="Keep a stratified subset of N training images (at least two "
        "of every class).")
    mixup: MixupMode = Field("none", description="Mixup: none, input or manifold "
                             "(ResNets only).")
    mixup_alpha: float = Field(1.0, gt=0, description="Beta(alpha, alpha) of mixup.")
    schedule: ScheduleName = Field(
        "constant", description="Learning-rate schedule: constant (original study) or onecycle "
        "(warm up to --lr over --warmup of the steps, then cosine decay).")
    warmup: float = Field(0.25, gt=0, lt=1, description="onecycle: share of the steps spent "
                          "warming up.")
    ema: float = Field(0.0, ge=0, lt=1, description="Decay of an exponential moving average of "
                       "the weights, which is evaluated instead of them (0: off; e.g. 0.99).")
    augment: AugmentName = Field("none", description="Training augmentation: none, or affine "
                                 "(a small random rotation, scale and shift of each image).")
    device: str = Field("auto", pattern=DEVICE_PATTERN,
                        description="Device: auto, cpu, cuda or cuda:N.")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: OMP_NUM_THREADS "
                                "if set, else all cores).")
    precision: PrecisionName = Field(
        "auto", description="Arithmetic on CUDA: auto (bfloat16 autocast, float16 where the "
        "GPU lacks bfloat16, and TF32 for the float32 rest) or fp32 (plain float32). The CPU "
        "always computes in float32.")
    compile: bool = Field(False, description="torch.compile the training step (on CUDA "
                          "inside its CUDA graph; the compile time is recorded as "
                          "warmup_seconds). Evaluation stays uncompiled. Speed only: not part "
                          "of the run's hash.")
    eval_batch_size: int = Field(1024, ge=1, description="Batch size of evaluation.")
    verify: bool = Field(True, description="Refuse a real dataset whose files fail their "
                         "official checksums (--no-verify uses them, and the run records it).")

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, name: str) -> str:
        return normalize_name(name)  # a folder is recorded as folder:/abs/path

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        get_entry(name)  # a K49Error naming the close names
        return name

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        entry = get_entry(self.model)
        if self.mixup != "none" and not entry.mixup:
            mixers = ", ".join(m for m in list_models() if get_entry(m).mixup)
            raise ValueError(f"--mixup {self.mixup} needs a model that supports it "
                             f"({mixers}): drop --mixup for this model")
        if self.model_args:
            try:
                entry.builder(num_classes=N_CLASSES, **self.model_args)
            except TypeError as e:
                raise ValueError(f"model_args {self.model_args} do not fit {self.model}: "
                                 f"{e}") from None
        return self

    def resolved(self) -> TrainConfig:
        """This config with the model's defaults (optimizer, lr, loss) filled in."""
        entry = get_entry(self.model)
        # A model's recipe (epochs, schedule, ...) fills what the caller did not set.
        recipe = {k: v for k, v in entry.recipe.items() if k not in self.model_fields_set}
        return self.model_copy(update={
            **recipe,
            "model": entry.name,
            "optimizer": self.optimizer or entry.optimizer,
            "lr": self.lr or entry.lr or None,  # kNN has no learning rate
            "loss": self.loss or entry.loss,
        })

    def config_hash(self) -> str:
        """A short hash of what the run computes; a resumed run must have the same one."""
        payload = self.model_dump(exclude=_NOT_HASHED)
        for key, default in _HASHED_UNLESS_DEFAULT.items():
            if payload[key] == default:
                del payload[key]
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def describe(field: str) -> str:
    """The help text of a TrainConfig field, for the CLI."""
    return TrainConfig.model_fields[field].description or ""


def _optional(field: str) -> tuple[Any, Any]:
    info = TrainConfig.model_fields[field]
    return info.annotation | None, Field(None, description=info.description, **_bounds(info))


def _bounds(info) -> dict[str, Any]:
    """The numeric bounds of a field, to repeat them on its optional twin."""
    bounds = {}
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt", "pattern"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    return bounds


#: Training settings a suite may set for all its models or for one: TrainConfig's fields, each
#: optional, with the same types, choices and bounds.
Overrides = create_model(
    "Overrides", __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
    __doc__="Training settings a suite may set for all its models or for one: TrainConfig's "
            "fields, each optional, with the same types, choices and bounds.",
    **{name: _optional(name) for name in OVERRIDABLE},
)
