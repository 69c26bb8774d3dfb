"""`k49 sweep`: the search space contract, a real (tiny) sweep on validation scores only, and
its importance ranking."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest

from k49.errors import K49Error
from k49.report.sweep_data import SweepSummary
from k49.runs import RunDir
from k49.study.space import load_space
from k49.study.sweep import SUMMARY, _pruner, run_sweep, summarize

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = """name = "tiny"
[fixed]
limit_train = 400
[params]
family = ["mlp", "cnn"]
layers = { low = 1, high = 2 }
units = { low = 32, high = 128, log = true }
filters = { low = 4, high = 8 }
lr = { low = 1e-3, high = 1e-1, log = true }
epochs = { low = 1, high = 2 }
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "space.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_shipped_space_around_the_original_factors_loads():
    space = load_space(ROOT / "sweeps" / "seed-factors.toml")
    assert {"family", "layers", "units", "filters", "batch_norm", "dropout", "optimizer", "lr",
            "batch_size", "weight_decay", "loss", "epochs"} <= set(space.params)
    assert space.directions == ["maximize"] and space.pruner == "median"


@pytest.mark.parametrize("bad, needle", [
    ('[params]\nfamily = ["mlp"]\nwidth = [1, 2]\n', "params.width: unknown parameter"),
    ('[params]\nfamily = ["mlp"]\nlr = { low = 0.1, high = 0.01 }\n', "low must be below high"),
    ('[params]\nfamily = ["mlp"]\nlr = { low = 0, high = 0.1, log = true }\n', "low > 0"),
    ('[params]\nfamily = ["transformer"]\n', "not one of mlp, cnn, resnet"),
    ('[params]\nfamily = ["mlp"]\nloss = ["hinge"]\n', "loss"),
    ('[fixed]\nval_fraction = 0\n[params]\nfamily = ["mlp"]\n', "validation split"),
    ('objectives = ["train_seconds"]\n[params]\nfamily = ["mlp"]\n', "first objective"),
    ('[params]\nfamily = ["mlp"]\nlr = { low = 0.1, hi = 0.2 }\n', "lr.range.high (line 4)"),
])
def test_a_bad_space_is_a_one_line_error_naming_the_key(tmp_path, bad, needle):
    with pytest.raises(K49Error, match=re.escape(needle)) as e:
        load_space(write(tmp_path, 'name = "bad"\n' + bad if not bad.startswith("name") else bad))
    assert "\n" not in str(e.value)


def test_pruning_only_with_one_objective(tmp_path):
    one = load_space(write(tmp_path, TINY))
    assert isinstance(_pruner(one, 2), optuna.pruners.MedianPruner)
    two = one.model_copy(update={"objectives": ["val_balanced_accuracy", "train_seconds"]})
    assert isinstance(_pruner(two, 2), optuna.pruners.NopPruner)


def test_a_tiny_sweep_uses_validation_only_ranks_and_continues(synth_dir, tmp_path):
    space = write(tmp_path, TINY)
    out = tmp_path / "sweep"
    summary, result = run_sweep(space, trials=6, out=out, data_dir=synth_dir, retrain=False,
                                quiet=True)
    assert result is None and summary.n_trials == 6
    assert summary.states["COMPLETE"] + summary.states["PRUNED"] == 6
    assert summary.importance_method == "PED-ANOVA"
    assert set(summary.importance) <= {"family", "layers", "units", "filters", "lr", "epochs"}
    assert summary.best[0].values[0] == max(t.value() for t in summary.complete())
    assert (out / "study.db").exists()
    written = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    assert SweepSummary.from_json(written) == summary
    # The test set is never touched by the search.
    for folder in (out / "trials").iterdir():
        assert not RunDir(folder).has_predictions
    again, _ = run_sweep(space, trials=6, out=out, data_dir=synth_dir, retrain=False,
                         quiet=True)
    assert again.n_trials == 6  # the study was found again and was already done


def test_the_best_are_retrained_with_seeds_and_tested_once(synth_dir, tmp_path):
    out = tmp_path / "sweep"
    summary, result = run_sweep(write(tmp_path, TINY), trials=3, out=out, data_dir=synth_dir,
                                top=1, seeds=[0, 1], quiet=True)
    label = summary.best[0].label
    assert [(r["label"], r["status"]) for r in result.runs] == [(label, "done")] * 2
    for seed in (0, 1):
        run = RunDir(out / "best" / label / f"seed-{seed}")
        assert run.is_complete()
        assert run.train_config().val_fraction == 0  # the whole training subset
    html = (out / "best" / "report" / "index.html").read_text(encoding="utf-8")
    assert "sweep" in html.lower()


def test_a_two_objective_summary_ranks_the_pareto_front(tmp_path):
    """The front is the report's own (`pareto_numbers`); the best are its trials, the most
    accurate first."""
    space = load_space(write(tmp_path, TINY)).model_copy(
        update={"objectives": ["val_balanced_accuracy", "train_seconds"]})
    study = optuna.create_study(directions=space.directions)
    params = {"family": "mlp"}
    dists = {"family": optuna.distributions.CategoricalDistribution(["mlp", "cnn"])}
    # (accuracy, seconds): #1 and #3 are beaten by #0; #0, #2 and #4 are the front
    for values in ([0.9, 10.0], [0.8, 20.0], [0.95, 40.0], [0.85, 50.0], [0.5, 1.0]):
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                  values=values))
    summary = summarize(study, space, dataset_label="synthetic", synthetic=True,
                        space_file="s.toml", top=2)
    assert summary.pareto == (2, 0, 4)
    assert [b.number for b in summary.best] == [2, 0]
    assert list(summary.to_json())[-3:] == ["best", "pareto", "protocol"]
