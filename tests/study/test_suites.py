"""Suites: TOML files validated with clear errors, run directories, skipping and --jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from k49.errors import K49Error
from k49.models import list_models
from k49.study.api import DEMO_EXTRA, DEMO_PROTOCOL, demo_suite
from k49.study.runner import run_suite
from k49.study.suites import builtin_suite, load_suite, plan

pytestmark = pytest.mark.slow


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return str(path)


def test_builtin_suites():
    seed = builtin_suite("seed")
    assert len(seed.models) == 12
    assert {m.name for m in seed.models} >= {"NN_1_sgd", "CNN_dense_batch_norm"}
    paper = builtin_suite("paper")
    labels = {m.label or m.name for m in paper.models}
    assert {"knn4", "keras_simple_cnn", "preact_resnet18", "resnet_small",
            "preact_resnet18_input_mixup", "preact_resnet18_manifold_mixup"} <= labels
    assert len(builtin_suite("all").models) == len(seed.models) + len(paper.models)
    with pytest.raises(K49Error, match="unknown suite"):
        builtin_suite("seeds")


def test_toml_suite_with_overrides(tmp_path):
    suite = load_suite(write(tmp_path, """
name = "optimizers"
seeds = [0, 1]
[defaults]
epochs = 3
[[models]]
name = "NN_1_sgd"
lr = 0.05
[[models]]
name = "CNN_dense_batch_form"
loss = "focal"
"""))
    specs = plan(suite, suite.seeds, tmp_path / "out", batch_size=64)
    assert [(s.label, s.config.seed) for s in specs] == [
        ("NN_1_sgd", 0), ("NN_1_sgd", 1), ("CNN_dense_batch_form", 0), ("CNN_dense_batch_form", 1)]
    assert specs[0].config.lr == 0.05 and specs[0].config.epochs == 3
    assert specs[0].config.batch_size == 64  # command-line override
    assert specs[2].config.loss == "focal"
    assert specs[1].run_dir == tmp_path / "out" / "NN_1_sgd" / "seed-1"


def test_a_model_can_have_its_own_seeds(tmp_path):
    suite = load_suite(write(tmp_path, """
name = "cheap-seeds"
[[models]]
name = "NN_1_sgd"
seeds = [0, 1, 2]
[[models]]
name = "CNN_1_sgd"
"""))
    specs = plan(suite, [5], tmp_path / "out")
    assert [(s.label, s.config.seed) for s in specs] == [
        ("NN_1_sgd", 0), ("NN_1_sgd", 1), ("NN_1_sgd", 2), ("CNN_1_sgd", 5)]
    with pytest.raises(K49Error, match=r"models\[0\]\.seeds"):
        load_suite(write(tmp_path, '[[models]]\nname = "NN_1_sgd"\nseeds = [-1]\n'))


def test_the_demo_runs_three_seeds_of_the_six_mlps_and_adds_the_time_comparisons():
    specs = plan(demo_suite(), [0], Path("out"))
    seeds = {}
    for s in specs:
        seeds.setdefault(s.label, []).append(s.config.seed)
    assert list(seeds)[:12] == list_models(tag="original")
    assert list(seeds)[12:] == list(DEMO_EXTRA) == ["keras_simple_cnn", "resnet_small",
                                                    "resnet_fast"]
    assert sorted(lb for lb, v in seeds.items() if v == [0, 1, 2]) == sorted(
        lb for lb in seeds if lb.startswith("NN_"))
    assert all(v == [0] for lb, v in seeds.items() if not lb.startswith("NN_"))
    # The recipe keeps its own epochs, batch and schedule, on the demo's subset; every other
    # model trains on the demo's protocol.
    configs = {s.label: s.config.resolved() for s in specs}
    fast = configs.pop("resnet_fast")
    assert (fast.epochs, fast.batch_size, fast.schedule) == (5, 256, "onecycle")
    assert fast.limit_train == DEMO_PROTOCOL["limit_train"]
    assert {(c.epochs, c.limit_train) for c in configs.values()} == {
        (DEMO_PROTOCOL["epochs"], DEMO_PROTOCOL["limit_train"])}


def test_bad_key_names_key_and_line(tmp_path):
    path = write(tmp_path, '[[models]]\nname = "NN_1_sgd"\nepochs = -2\n')
    with pytest.raises(K49Error, match=r"models\[0\]\.epochs \(line 3\)"):
        load_suite(path)


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(K49Error, match="learning_rate"):
        load_suite(write(tmp_path, '[[models]]\nname = "NN_1_sgd"\nlearning_rate = 0.1\n'))


def test_unknown_model_suggests_close_names(tmp_path):
    with pytest.raises(K49Error, match="CNN_1_adam"):
        load_suite(write(tmp_path, '[[models]]\nname = "CNN_1_adma"\n'))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(K49Error, match="not valid TOML"):
        load_suite(write(tmp_path, "[[models]\n"))
    with pytest.raises(K49Error, match="nope.toml: no such file"):
        load_suite(str(tmp_path / "nope.toml"))


def test_run_suite_trains_skips_and_resumes(tmp_path, monkeypatch):
    from k49.data.synthetic import generate

    data = tmp_path / "data"
    generate(data, scale=0.01, seed=0, progress=False)
    suite = load_suite(write(tmp_path, '[[models]]\nname = "NN_1_adam"\n'
                                       '[[models]]\nname = "NN_1_sgd"\n'))
    specs = plan(suite, [0, 1], tmp_path / "out", epochs=1, data_dir=str(data))
    results = run_suite(specs, out=tmp_path / "out", jobs=2, quiet=True)
    assert sorted(r["status"] for r in results) == ["done"] * 4
    for spec in specs:
        assert (spec.run_dir / "timings.json").exists()
    assert (tmp_path / "out" / "study.db").exists()  # the embedded storage
    again = run_suite(specs, out=tmp_path / "out", jobs=1, quiet=True)
    assert [r["status"] for r in again] == ["skipped"] * 4
    assert all(r["attempts"] == 1 for r in again)  # nothing was trained twice


def test_runs_an_interrupted_command_left_waiting_are_done_not_skipped(synth_dir, tmp_path):
    """A command killed before its workers took every trial left them waiting; the rerun
    trains them and reports them "done" (it reported "skipped")."""
    from k49.study.queue import enqueue, open_study
    from k49.study.storage import storage_url

    out = (tmp_path / "out").absolute()
    suite = load_suite(write(tmp_path, '[[models]]\nname = "NN_1_adam"\n'))
    specs = plan(suite, [0, 1], out, epochs=1, limit_train=200, data_dir=str(synth_dir))
    first = run_suite(specs[:1], out=out, quiet=True)
    assert [r["status"] for r in first] == ["done"]
    study = open_study(storage_url(None, out), "k49", out, create=True)
    enqueue(study, specs)  # as the killed command did, before its worker took seed 1
    again = run_suite(specs, out=out, quiet=True)
    assert [(r["seed"], r["status"]) for r in again] == [(0, "skipped"), (1, "done")]


def test_jobs_auto_is_one_on_a_cpu_and_a_bad_number_is_refused(monkeypatch):
    import torch

    from k49.study.runner import RUNS_PER_GPU, resolve_jobs

    assert resolve_jobs("auto", "cpu") == 1 and resolve_jobs(3) == 3
    if not torch.cuda.is_available():
        assert resolve_jobs("auto") == 1  # auto picks the CPU here
    for bad in (0, -1, True, 2.5, "3", "many"):
        with pytest.raises(K49Error, match=r"--jobs must be a whole number of at least 1, or "
                                           r"auto"):
            resolve_jobs(bad)
    monkeypatch.setattr("k49.study.runner.resolve_device", lambda d: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert resolve_jobs("auto") == 2 * RUNS_PER_GPU
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    assert resolve_jobs("auto") == 3  # never more runs than cores to feed them


def test_cli_jobs_takes_a_number_or_auto():
    from cli_runner import assert_one_line_error, k49

    for bad in ("0", "x", "-2"):
        assert_one_line_error(k49("run", "--jobs", bad), "--jobs", "give 1 or more, or auto")
