"""The validated configuration of one training run, and its hash."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The seed study's protocol.
SEED_EPOCHS = 10
SEED_BATCH_SIZE = 128
SEED_VAL_FRACTION = 0.3

#: Fields that change where or how fast a run happens, not what it computes.
_NOT_HASHED = {"data_dir", "device", "threads", "eval_batch_size"}


class TrainConfig(BaseModel):
    """Everything that defines one model x seed run. `None` means the model's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    dataset: str = "synthetic"
    data_dir: str | None = None
    epochs: int = Field(SEED_EPOCHS, ge=1)
    batch_size: int = Field(SEED_BATCH_SIZE, ge=1)
    lr: float | None = Field(None, gt=0)
    optimizer: str | None = None
    loss: str | None = None
    val_fraction: float = Field(SEED_VAL_FRACTION, ge=0, lt=1)
    seed: int = 0
    limit_train: int | None = Field(None, ge=49)
    mixup: Literal["none", "input", "manifold"] = "none"
    mixup_alpha: float = Field(1.0, gt=0)
    device: str = "auto"
    threads: int | None = Field(None, ge=1)
    eval_batch_size: int = Field(1024, ge=1)

    def resolved(self) -> TrainConfig:
        """This config with the model's defaults (optimizer, lr, loss) filled in."""
        from k49.models import get_entry

        entry = get_entry(self.model)
        return self.model_copy(update={
            "model": entry.name,
            "optimizer": self.optimizer or entry.optimizer,
            "lr": self.lr or entry.lr or None,  # kNN has no learning rate
            "loss": self.loss or entry.loss,
        })

    def config_hash(self) -> str:
        """A short hash of what the run computes; a resumed run must have the same one."""
        payload = self.model_dump(exclude=_NOT_HASHED)
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
