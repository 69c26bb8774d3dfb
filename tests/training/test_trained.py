"""load_model: a finished run's model, loaded one way for evaluation, predict, export and serve;
and Provenance, config.json typed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from k49.errors import K49Error
from k49.models.inference import predict_proba
from k49.runs.config import TrainConfig
from k49.runs.records import Provenance
from k49.runs.rundir import RunDir
from k49.training.fit_knn import predict_proba_chunked
from k49.training.trained import load_model
from k49.training.trainer import train


def test_a_torch_run_loads_and_predicts_what_training_saved(tiny, tmp_path):
    config = TrainConfig(model="NN_1_adam", epochs=1, batch_size=32)
    train(config, tmp_path / "run", dataset=tiny, quiet=True)
    trained = load_model(tmp_path / "run", "cpu")
    assert trained.is_torch and not trained.model.training
    assert trained.device == torch.device("cpu") and trained.spec.n_classes == 49
    provenance = trained.provenance
    assert provenance.config == config.resolved()
    assert provenance.dataset.name == "synthetic" and provenance.dataset.synthetic is True
    assert provenance.dataset.checksums == tiny.checksums
    assert provenance.config_hash == config.resolved().config_hash()
    _, saved = RunDir(tmp_path / "run").read_predictions()
    probs = predict_proba(trained.model, tiny.test_images, device=trained.device)
    np.testing.assert_allclose(probs, saved, atol=1e-6)


def test_a_run_without_weights_is_refused(tiny, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(model="NN_1_adam", epochs=1), run, dataset=tiny, quiet=True)
    RunDir(run).file(RunDir.WEIGHTS).unlink()
    with pytest.raises(K49Error, match="has no model.safetensors"):
        load_model(run)


def test_an_old_record_without_dataset_facts_still_reads():
    config = TrainConfig(model="NN_1_adam", dataset="kmnist")
    provenance = Provenance.from_dict({"config": config.model_dump()}, config)
    assert provenance.dataset.name == "kmnist" and provenance.dataset.checksums is None
    assert provenance.config_hash is None and provenance.versions == {}


@pytest.mark.slow
def test_a_knn_run_is_refitted_and_refused_on_other_data(synth_dir, tmp_path):
    run = tmp_path / "knn"
    train(TrainConfig(model="knn4", limit_train=300, data_dir=str(synth_dir)), run, quiet=True)
    trained = load_model(run)
    assert not trained.is_torch and trained.device == torch.device("cpu")
    labels, saved = RunDir(run).read_predictions()
    from k49.data.load import load_dataset

    ds = load_dataset("synthetic", synth_dir, offline=True, progress=False)
    np.testing.assert_allclose(predict_proba_chunked(trained.model, ds.test_images, 49), saved)
    record = json.loads(RunDir(run).file(RunDir.CONFIG).read_text())
    record["dataset"]["checksums"] = {name: "0" * 32 for name in record["dataset"]["checksums"]}
    RunDir(run).file(RunDir.CONFIG).write_text(json.dumps(record))
    with pytest.raises(K49Error, match="differ from those"):
        load_model(run)
