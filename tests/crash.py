"""A run that crashes right after its first epoch's checkpoint and is then run again, as a
user's rerun after a crash would: for the resume tests on the CPU and on CUDA."""

from __future__ import annotations

import pytest

from k49.runs.rundir import RunDir
from k49.training.trainer import train


def train_through_a_crash(config, run_dir, dataset, monkeypatch) -> None:
    """Train `config` into `run_dir`, crash after the first checkpoint, then train again."""
    real_save = RunDir.save_checkpoint

    def crash_after_first(self, *args):
        real_save(self, *args)
        raise SystemExit("simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr(RunDir, "save_checkpoint", crash_after_first)
        with pytest.raises(SystemExit):
            train(config, run_dir, dataset=dataset, quiet=True)
    assert (RunDir(run_dir).file(RunDir.CHECKPOINT)).exists()
    assert not RunDir(run_dir).file(RunDir.WEIGHTS).exists()
    train(config, run_dir, dataset=dataset, quiet=True)
