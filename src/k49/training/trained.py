"""A finished run's model, loaded one way for every use (evaluation, predict, export, serve):
a network from model.safetensors (never a pickle), or the kNN baseline fitted again on the
training images it recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from k49.data.datasets import DatasetSpec, recorded_spec
from k49.data.load import Dataset, load_dataset
from k49.errors import K49Error
from k49.models import create_model, get_entry
from k49.models.inference import resolve_device
from k49.runs.records import Provenance
from k49.runs.rundir import RunDir
from k49.training.fit_knn import knn_features


@dataclass
class TrainedModel:
    """A run's model on its device, with the dataset facts it was trained with."""

    model: Any  # a torch.nn.Module in eval mode, or a fitted scikit-learn kNN
    spec: DatasetSpec
    device: torch.device
    provenance: Provenance

    @property
    def is_torch(self) -> bool:
        return isinstance(self.model, torch.nn.Module)


def dataset_spec(provenance: Provenance) -> DatasetSpec:
    """The run's dataset spec; for a user folder that has since moved, K49's classes under the
    name and title the run recorded."""
    return recorded_spec(provenance.dataset.name, provenance.dataset.title)


def trained_on_synthetic(provenance: Provenance) -> bool:
    """Whether the run trained on synthetic data: as it recorded, else (a run older than the
    record) as its dataset's spec says."""
    recorded = provenance.dataset.synthetic
    return dataset_spec(provenance).synthetic if recorded is None else bool(recorded)


def load_run_dataset(run: RunDir, provenance: Provenance) -> Dataset:
    """The run's dataset, offline, refused unless its files are those the run recorded."""
    config = provenance.config
    ds = load_dataset(config.dataset, config.data_dir, offline=True, progress=False)
    expected = provenance.dataset.checksums
    if expected and expected != ds.checksums:
        raise K49Error(f"the {ds.name} files in {ds.data_dir} differ from those {run.path} was "
                       "trained on: restore them, or retrain")
    return ds


def load_model(run_dir: RunDir | str, device: str = "auto") -> TrainedModel:
    """The trained model of finished run `run_dir` on `device` (auto: CUDA if present); a kNN
    run is refitted on the CPU."""
    run = RunDir.existing(run_dir)
    provenance = run.read_provenance()
    config, spec = provenance.config, dataset_spec(provenance)
    if not run.file(RunDir.WEIGHTS).exists():
        raise K49Error(f"{run.path} has no {RunDir.WEIGHTS} (the run is unfinished or "
                       "failed): finish it with `k49 train` first")
    if not get_entry(config.model).is_torch:
        return TrainedModel(_refit_knn(run, provenance, spec), spec, torch.device("cpu"),
                            provenance)
    dev = resolve_device(device)
    model = create_model(config.model, num_classes=spec.n_classes, **config.model_args)
    run.load_weights(model)
    return TrainedModel(model.to(dev).eval(), spec, dev, provenance)


def _refit_knn(run: RunDir, provenance: Provenance, spec: DatasetSpec) -> Any:
    indices = run.load_knn_indices()
    ds = load_run_dataset(run, provenance)
    if len(indices) == 0 or indices.min() < 0 or indices.max() >= len(ds.train_labels):
        raise K49Error(f"{run.file(RunDir.WEIGHTS)} holds training indices outside the "
                       f"{len(ds.train_labels)} training images: retrain the run")
    estimator = create_model(provenance.config.model, num_classes=spec.n_classes)
    estimator.fit(knn_features(ds.train_images[indices]), ds.train_labels[indices])
    return estimator
