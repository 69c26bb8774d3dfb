"""Runs stage: the training config contract, the run directory and what every run records."""

from k49.runs.config import TrainConfig
from k49.runs.rundir import RunDir

__all__ = ["RunDir", "TrainConfig"]
