"""The report's sweep section: figures in both themes, findings, HTML, README, degenerate cases."""

from __future__ import annotations

import copy
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fake_study import SEED_MODELS, make_study, tiny_figures

from k49.report.build import build_report
from k49.report.collect import load_study
from k49.report.figures.registry import figures_of
from k49.report.render import render_report
from k49.report.sweep import (
    most_important_sentence,
    sweep_captions,
    sweep_figures,
    sweep_findings,
    sweep_section,
)
from k49.report.sweep_data import SweepSummary, log_scaled
from k49.report.sweep_figures import history_figure, parallel_figure
from k49.viz import THEMES
from k49.viz import theme as viz_theme

pytestmark = pytest.mark.slow

SYNTH = "Synthetic K49-like (synthetic data, not K49)"
IMPORTANCE = {"family": 0.41, "lr": 0.22, "batch_norm": 0.12, "optimizer": 0.08,
              "dropout": 0.07, "layers": 0.05, "batch_size": 0.03, "weight_decay": 0.02}
ONE_OBJECTIVE = ["sweep_importance", "sweep_history", "sweep_parallel", "sweep_intermediate"]


def fake_json(n: int = 40, two: bool = False, seed: int = 0) -> dict:
    """A summary's JSON as `k49 sweep` writes it: n trials, some pruned, two failed."""
    rng = np.random.default_rng(seed)
    trials, states = [], {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for i in range(n):
        p = {"family": str(rng.choice(["mlp", "cnn", "resnet"])),
             "lr": float(10 ** rng.uniform(-4, -1)), "layers": int(rng.integers(1, 4)),
             "batch_norm": bool(rng.random() < 0.5), "dropout": float(rng.uniform(0, 0.5)),
             "optimizer": str(rng.choice(["sgd", "adam"])),
             "batch_size": int(rng.choice([64, 128, 256])),
             "weight_decay": float(10 ** rng.uniform(-6, -3))}
        q = (0.3 + 0.25 * (p["family"] != "mlp") - 0.08 * abs(np.log10(p["lr"]) + 2.5)
             + 0.05 * p["batch_norm"] + rng.normal(0, 0.02))
        state = "FAIL" if i in (5, 23) else ("PRUNED" if i > 8 and q < 0.42 else "COMPLETE")
        states[state] += 1
        epochs = {"COMPLETE": 3, "FAIL": 0}.get(state, 1 + i % 2)
        inter = {str(e): float(q * (0.6 + 0.14 * e)) for e in range(1, epochs + 1)}
        secs = float(5 + 20 * (p["family"] == "resnet") + rng.uniform(0, 5))
        vals = None if state != "COMPLETE" else ([inter["3"], secs] if two else [inter["3"]])
        trials.append({"number": i, "state": state, "values": vals, "params": p,
                       "seconds": secs, "intermediate": inter})
    done = [t for t in trials if t["state"] == "COMPLETE"]
    summary = {
        "name": "seed-factors", "space_file": "sweeps/seed-factors.toml",
        "objectives": ["val_balanced_accuracy", "train_seconds"][:1 + two],
        "directions": ["maximize", "minimize"][:1 + two],
        "dataset": SYNTH, "synthetic": True, "n_trials": n, "states": states, "trials": trials,
        "importance": {"method": "PED-ANOVA", "target": "val_balanced_accuracy",
                       "values": dict(IMPORTANCE)},
        "best": [], "pareto": [],
        "protocol": f"{n} trials, TPE sampler, median pruner; objective: validation balanced "
                    "accuracy; the test set is never used",
    }
    if two:
        summary["pareto"] = SweepSummary.from_json(summary).pareto_numbers()
    ranked = [t for t in done if not two or t["number"] in summary["pareto"]]
    ranked.sort(key=lambda t: -t["values"][0])
    summary["best"] = [{"rank": i + 1, "number": t["number"], "params": t["params"],
                        "label": f"sweep_{i + 1}_{t['params']['family']}", "values": t["values"]}
                       for i, t in enumerate(ranked[:3])]
    return summary


def fake_summary(n: int = 40, two: bool = False, seed: int = 0) -> SweepSummary:
    return SweepSummary.from_json(fake_json(n, two, seed))


def test_the_summary_reads_back_what_it_writes():
    for data in (fake_json(), fake_json(two=True)):
        summary = SweepSummary.from_json(data)
        assert summary.to_json() == data
        assert SweepSummary.from_json(summary.to_json()) == summary


def test_an_old_or_partial_summary_reads_with_defaults():
    summary = SweepSummary.from_json({"trials": [{"number": 2, "state": "complete",
                                                  "values": 0.5, "intermediate": {"1": 0.4}},
                                                 "not a trial"]})
    assert summary.n_trials == 1 and summary.objectives == ("val_balanced_accuracy",)
    assert summary.maximize() and summary.best_trial().number == 2
    assert summary.complete()[0].value() == 0.5 and summary.title("T") == "T — unknown data"


def svg_texts(path) -> str:
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))


def draw(summary, out, themes=THEMES):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no figure may be skipped with a warning
        return sweep_figures(summary, out, themes)


# --- figures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_objective(tmp_path_factory):
    """The figures of a one-objective sweep: (their folder, what sweep_figures returned)."""
    out = tmp_path_factory.mktemp("figures")
    return out, draw(fake_summary(), out)


def test_the_sweep_figures_are_registered_like_the_report_s():
    """One registry: each sweep figure has its stem, caption and builder there, and the
    section's captions are the registry's."""
    registered = figures_of("sweep")
    assert [f.stem for f in registered] == [*ONE_OBJECTIVE[:3], "sweep_pareto",
                                             *ONE_OBJECTIVE[3:]]
    summary = fake_summary(two=True)
    assert sweep_captions(summary) == {f.stem: f.caption_for(summary=summary)
                                       for f in registered}
    assert all(f.build(summary) is not None for f in registered)
    assert next(f for f in registered if f.stem == "sweep_pareto").build(fake_summary()) is None


def test_each_sweep_figure_in_both_themes_and_formats_titled_with_the_dataset(one_objective):
    tmp_path, written = one_objective
    assert list(written) == ONE_OBJECTIVE  # no Pareto front with one objective
    for stem, paths in written.items():
        assert paths == [tmp_path / t / f"{stem}.{ext}" for t in THEMES for ext in ("svg", "png")]
        assert all(p.stat().st_size > 1000 for p in paths)
        for t in THEMES:
            assert "synthetic data, not K49" in svg_texts(tmp_path / t / f"{stem}.svg")
    importance = svg_texts(tmp_path / "light" / "sweep_importance.svg")
    assert "PED-ANOVA" in importance and all(name in importance for name in IMPORTANCE)


def test_two_objectives_add_the_pareto_front(rendered):
    summary, written = rendered["summary"], rendered["figures"]
    assert list(written) == ONE_OBJECTIVE[:3] + ["sweep_pareto", "sweep_intermediate"]
    text = svg_texts(written["sweep_pareto"][2])  # the dark SVG
    assert "Pareto front" in text and "log scale" in text
    assert all(f"#{n}" in text for n in summary.pareto)


def test_a_synthetic_sweep_is_titled_synthetic_even_if_its_label_is_not():
    summary = fake_summary().replace(dataset="Synthetic K49-like")
    with viz_theme("light"):
        assert history_figure(summary).get_suptitle() == \
            "Sweep history — Synthetic K49-like (synthetic data, not K49)"
    summary = summary.replace(dataset="Kuzushiji-49", synthetic=False)
    with viz_theme("light"):
        assert history_figure(summary).get_suptitle() == "Sweep history — Kuzushiji-49"


def test_parallel_coordinates_show_the_six_most_important_parameters(one_objective):
    text = svg_texts(one_objective[0] / "light" / "sweep_parallel.svg")
    top6, rest = list(IMPORTANCE)[:6], list(IMPORTANCE)[6:]
    assert all(name in text for name in top6)
    assert not any(name in text for name in rest)
    assert "validation balanced accuracy" in text  # the colour bar
    with viz_theme("light"):
        ax = parallel_figure(fake_summary()).axes[0]
    n_complete = sum(t.state == "COMPLETE" for t in fake_summary().trials)
    assert len(ax.lines) == n_complete  # one line per complete trial


def test_log_scale_for_rates_and_log_uniform_values_only():
    assert log_scaled([1e-4, 3e-3, 0.05], "lr")
    assert log_scaled([1e-6, 2e-6, 5e-6, 1e-5, 1e-3], "decay")  # log-uniform looking
    assert not log_scaled([0.01, 0.2, 0.3, 0.45, 0.5], "dropout")  # uniform: linear
    assert not log_scaled([0.0, 1e-3, 1e-1], "lr")  # not all positive
    assert not log_scaled([1e-3, 5e-3], "lr")  # less than a decade
    assert not log_scaled(["a", "b"], "lr") and not log_scaled([True, False], "lr")


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_history_best_so_far_follows_the_direction(direction):
    summary = fake_summary().replace(directions=(direction,))
    with viz_theme("dark"):
        ax = history_figure(summary).axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_label() == "best so far"]
    y = line.get_ydata()
    steps = np.diff(y)
    assert (steps >= 0).all() if direction == "maximize" else (steps <= 0).all()
    scores = [t.value() for t in summary.trials if t.state == "COMPLETE"]
    assert y[-1] == (max(scores) if direction == "maximize" else min(scores))


# --- text ------------------------------------------------------------------------------------

def test_the_mattered_most_sentence_names_the_top_parameter_and_the_method():
    summary = fake_summary().replace(importance={"lr": 0.6, "family": 0.3, "layers": 0.1})
    sentence = most_important_sentence(summary)
    assert "lr mattered most" in sentence and "PED-ANOVA" in sentence and "family" in sentence
    lines = sweep_findings(summary)
    assert lines[0] == sentence
    assert any(line.startswith("Best sweep trial: #") for line in lines)


def test_findings_describe_the_pareto_front_with_two_objectives():
    lines = sweep_findings(fake_summary(two=True))
    assert any("Pareto front" in line for line in lines)


def _all_pruned():
    s = fake_json(n=6)
    for t in s["trials"]:
        t.update(state="PRUNED", values=None)
    s.update(states={"PRUNED": 6}, best=[], importance={"method": "fANOVA", "values": {}})
    return s


def _one_complete():
    s = fake_json(n=3)
    for t in s["trials"][1:]:
        t.update(state="FAIL", values=None, intermediate={})
    s["trials"][0].update(state="COMPLETE", values=[0.5])
    s.update(states={"COMPLETE": 1, "FAIL": 2}, importance={"method": "PED-ANOVA", "values": {}})
    return s


def _one_parameter():
    s = fake_json(n=12)
    for t in s["trials"]:
        t["params"] = {"lr": t["params"]["lr"]}
    for b in s["best"]:
        b["params"] = {"lr": b["params"]["lr"]}
    s["importance"]["values"] = {"lr": 1.0}
    return s


def _no_importance():
    s = fake_json(n=12)
    s["importance"] = {"method": "PED-ANOVA", "target": "val_balanced_accuracy", "values": {}}
    return s


def _empty():
    return {"name": "empty", "objectives": ["val_balanced_accuracy"], "directions": ["maximize"],
            "dataset": SYNTH, "synthetic": True, "n_trials": 0, "states": {}, "trials": [],
            "importance": {"method": "PED-ANOVA", "values": {}}, "best": [], "pareto": [],
            "protocol": ""}


DEGENERATE = {
    "all pruned": (_all_pruned, "all 6 trials were pruned", {"sweep_history",
                                                             "sweep_intermediate"}),
    "one complete": (_one_complete, "only 1 trial completed", {"sweep_history",
                                                               "sweep_parallel",
                                                               "sweep_intermediate"}),
    "one parameter": (_one_parameter, "only one hyperparameter (lr)", set(ONE_OBJECTIVE)),
    "no importance": (_no_importance, "could not be computed",
                      set(ONE_OBJECTIVE) - {"sweep_importance"}),
    "no trial": (_empty, "no trial", set()),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_sweeps_say_there_is_not_enough_to_rank(case, tmp_path, report_study):
    make, reason, stems = DEGENERATE[case]
    summary = SweepSummary.from_json(make())
    sentence = most_important_sentence(summary)
    assert "not enough to rank" in sentence and reason in sentence
    written = draw(summary, tmp_path / "figures", themes=("dark",))
    assert set(written) == stems
    section = sweep_section(summary, written)
    html, md = render_report(report_study, {}, {}, sweep_findings(summary), {}, tmp_path,
                             sweep=section)
    assert "not enough to rank" in html.read_text(encoding="utf-8")
    assert "not enough to rank" in md.read_text(encoding="utf-8")


def test_two_objective_sweep_computes_a_missing_pareto_front():
    summary = fake_summary(two=True)
    assert summary.pareto and summary.replace(pareto=()).pareto_numbers() == list(summary.pareto)


# --- rendering -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_study(tmp_path_factory):
    return load_study(make_study(tmp_path_factory.mktemp("sweep") / "study",
                                 models=SEED_MODELS[:2]))


@pytest.fixture(scope="module")
def rendered(report_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    data = fake_json(two=True)
    data["best"][0]["label"] = "NN_1_sgd"  # retrained and in the results
    summary = SweepSummary.from_json(data)
    swept = draw(summary, out / "figures")
    section = sweep_section(summary, swept, tested=report_study.labels())
    html, md = render_report(report_study, tiny_figures(out), {}, sweep_findings(summary), {},
                             out, sweep=section)
    return {"summary": summary, "html": html.read_text(encoding="utf-8"),
            "md": md.read_text(encoding="utf-8"), "figures": swept}


def test_the_html_has_a_sweep_section_with_ranking_sentence_figures_and_table(rendered):
    html = rendered["html"]
    assert '<a href="#sweep">Sweep</a>' in html and '<section id="sweep">' in html
    section = html[html.index('<section id="sweep">'):html.index('<section id="failed"')]
    assert "family mattered most" in section and "PED-ANOVA" in section
    rows = [section.index(f"<td>{name}</td>") for name in IMPORTANCE]
    assert rows == sorted(rows)  # the ranking, most important first
    for stem in rendered["figures"]:
        fig = section[section.index(f'<figure id="fig-{stem}">'):]
        fig = fig[:fig.index("</figure>")]
        assert 'class="theme-light"' in fig and 'class="theme-dark"' in fig
        assert fig.count("data:image/png;base64,") == 2
    assert '<table id="sweep-best">' in section
    for b in rendered["summary"].best:
        assert f"#{b.number}</td>" in section
    assert "NN_1_sgd ✓" in section and "results above" in section


def test_the_readme_has_a_sweep_section_with_light_and_dark_figures(rendered):
    md = rendered["md"]
    section = md[md.index("## Sweep: seed-factors"):md.index("## Missing or failed runs")]
    assert "**Sweep `seed-factors`: family mattered most" in section
    assert "| 1 | family | 0.410 |" in section and "| 2 | lr | 0.220 |" in section
    for stem in rendered["figures"]:
        assert f"figures/light/{stem}.png#gh-light-mode-only" in section
        assert f"figures/dark/{stem}.png#gh-dark-mode-only" in section
        assert sweep_captions(rendered["summary"])[stem] in section
    assert "### Best configurations" in section and "Training time" in section
    assert md.index("## Figures") < md.index("## Sweep")


def test_nothing_of_the_sweep_is_rendered_without_one(report_study, tmp_path):
    html, md = render_report(report_study, tiny_figures(tmp_path), {}, [], {}, tmp_path)
    html, md = html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")
    assert 'id="sweep"' not in html and "#sweep" not in html and "mattered most" not in html
    assert "## Sweep" not in md and "sweep_" not in md


def test_build_report_with_a_sweep(tmp_path):
    root = make_study(tmp_path / "study", models=SEED_MODELS[:1])
    summary = fake_summary()
    frozen = copy.deepcopy(summary)
    result = build_report(root, sweep=summary)
    assert summary == frozen  # the summary is only read
    assert list(result["sweep_figures"]) == ONE_OBJECTIVE
    for t in THEMES:
        assert (root / "report" / "figures" / t / "sweep_parallel.png").is_file()
    assert most_important_sentence(summary) in result["findings"]
    html = result["html"].read_text(encoding="utf-8")
    md = result["markdown"].read_text(encoding="utf-8")
    assert '<section id="sweep">' in html and "## Sweep: seed-factors" in md
    assert "sweep_importance" not in result["figures"]  # the study's figures stay apart
