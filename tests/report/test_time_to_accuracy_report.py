"""Time to accuracy in the report: the table's numbers, time_to_accuracy.csv, the figure, the
finding, and the README and index.html sections."""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest
from fake_study import fake_run
from matplotlib.colors import to_hex

from k49.data.datasets import DATASETS
from k49.report.collect import CollectedRuns, RunRecord
from k49.report.figures import FIGURES, FigureInputs, figure_captions
from k49.report.figures.style import family_colour
from k49.report.figures.time import mean_time_curve, time_to_accuracy_figure
from k49.report.findings import findings, time_findings
from k49.report.render import render_report
from k49.report.time_table import (
    CSV_COLUMNS,
    time_table,
    time_to_accuracy_rows,
    write_time_to_accuracy,
)
from k49.runs.records import HISTORY_FIELDS
from k49.viz import THEMES, save_figure
from k49.viz import theme as viz_theme

NAN = math.nan
FAMILIES = {"NN_1_sgd": "mlp", "NN_1_adam": "mlp", "CNN_1_sgd": "cnn", "CNN_1_adam": "cnn"}
#: (model, seed): (each epoch's training seconds, each epoch's validation balanced accuracy).
#: CNN_1_adam sets the target, the mean of its seeds' last epochs: (0.90 + 0.94) / 2 = 0.92, so
#: 80%, 90% and 95% of it are 0.736, 0.828 and 0.874.
HISTORIES = {
    ("CNN_1_adam", 0): ([10, 10, 10], [0.60, 0.85, 0.90]),  # 0.736, 0.828 at 20 s; 0.874 at 30
    ("CNN_1_adam", 1): ([20, 20, 20], [0.70, 0.80, 0.94]),  # 0.736 at 40 s; the rest at 60
    ("NN_1_adam", 0): ([5, 5, 5], [0.75, 0.88, 0.86]),  # 0.736 at 5 s; 0.828, 0.874 at 10
    ("NN_1_sgd", 0): ([1, 1, 1], [0.50, NAN, 0.80]),  # 0.736 at 3 s; no more
    ("NN_1_sgd", 1): ([1, 1, 1], [0.60, 0.70, 0.72]),  # never reaches 0.736
}


def history(seconds, values):
    return [{"epoch": float(i + 1), "seconds": float(s), "val_balanced_accuracy": v,
             "val_accuracy": v} for i, (s, v) in enumerate(zip(seconds, values, strict=True))]


def record(label, seed, tmp_path, hist):
    return RunRecord(label, seed, tmp_path / label / f"seed-{seed}", "ok",
                     metrics={"model": label, "family": FAMILIES[label]}, history=hist)


@pytest.fixture
def study(tmp_path):
    """The runs of HISTORIES, and CNN_1_sgd with no history (a k-NN, say)."""
    runs = [record(lb, seed, tmp_path, history(*h)) for (lb, seed), h in HISTORIES.items()]
    runs.append(record("CNN_1_sgd", 0, tmp_path, []))
    return CollectedRuns(tmp_path, runs, DATASETS["synthetic"])


def test_rows_give_the_known_times(study):
    rows = {r["model"]: r for r in time_to_accuracy_rows(study)}
    assert list(rows) == ["NN_1_sgd", "NN_1_adam", "CNN_1_adam"]  # the zoo's order; no history
    for r in rows.values():
        assert r["target_model"] == "CNN_1_adam"
        assert r["target"] == pytest.approx(0.92)
        assert [r[f"threshold_{p}"] for p in ("80", "90", "95")] == \
            pytest.approx([0.736, 0.828, 0.874])
    cnn = rows["CNN_1_adam"]
    assert (cnn["seeds"], cnn["train_seconds"]) == (2, 45.0)  # mean of 30 and 60 s
    assert cnn["final_val_balanced_accuracy"] == pytest.approx(0.92)
    assert (cnn["seconds_to_80"], cnn["seconds_to_90"], cnn["seconds_to_95"]) == (30, 40, 45)
    nn = rows["NN_1_adam"]
    assert (nn["seconds_to_80"], nn["seconds_to_90"], nn["seconds_to_95"]) == (5, 10, 10)
    assert nn["train_seconds"] == 15 and nn["final_val_balanced_accuracy"] == 0.86
    # One seed of NN_1_sgd reached 80% of the target, the other never: "not reached".
    sgd = rows["NN_1_sgd"]
    assert sgd["seconds_to_80"] is None and sgd["seeds_reached_80"] == 1
    assert sgd["seconds_to_95"] is None and sgd["seeds_reached_95"] == 0
    assert sgd["final_val_balanced_accuracy"] == pytest.approx(0.76)


def test_no_history_gives_no_rows(study):
    bare = CollectedRuns(study.root, [r for r in study.runs if not r.history], study.spec)
    assert time_to_accuracy_rows(bare) == [] and time_table([]) is None
    assert time_findings(bare) == []
    assert time_to_accuracy_figure(FigureInputs(bare)) is None


def test_a_damaged_history_leaves_its_run_out(study, tmp_path):
    damaged = record("CNN_1_adam", 2, tmp_path, history([NAN, 1, 1], [0.99, 0.99, 0.99]))
    worse = CollectedRuns(study.root, [*study.runs, damaged], study.spec)
    assert time_to_accuracy_rows(worse) == time_to_accuracy_rows(study)
    assert time_to_accuracy_figure(FigureInputs(worse)) is not None


def test_table_says_not_reached_and_why(study):
    table = time_table(time_to_accuracy_rows(study))
    assert table["header"] == ["Model", "80% of target (73.6%)", "90% of target (82.8%)",
                               "95% of target (87.4%)", "Total training time",
                               "Final val. balanced acc."]
    texts = {row["model"]: [c["text"] for c in row["cells"]] for row in table["rows"]}
    assert texts["NN_1_sgd"] == ["NN_1_sgd", "not reached (1 of 2 seeds missed)", "not reached",
                                 "not reached", "3.0 s", "76.0%"]
    assert texts["CNN_1_adam"] == ["CNN_1_adam", "30.0 s", "40.0 s", "45.0 s", "45.0 s",
                                   "92.0%"]
    caption = table["caption"]
    assert "CNN_1_adam's final validation balanced accuracy (92.0%" in caption
    assert "not the test set" in caption and "evaluation time is excluded" in caption
    assert '"not reached" if any seed never reached it' in caption


def test_csv_has_the_columns_and_the_numbers(study, tmp_path):
    path = write_time_to_accuracy(time_to_accuracy_rows(study), tmp_path / "root")
    assert path == tmp_path / "root" / "time_to_accuracy.csv"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(CSV_COLUMNS)
        rows = {r["model"]: r for r in reader}
    assert {"model", "target", "seconds_to_95", "train_seconds",
            "final_val_balanced_accuracy"} <= set(CSV_COLUMNS)
    assert float(rows["CNN_1_adam"]["seconds_to_95"]) == 45.0
    assert float(rows["NN_1_adam"]["seconds_to_95"]) == 10.0
    assert rows["NN_1_sgd"]["seconds_to_80"] == "" and rows["NN_1_sgd"]["seeds_reached_80"] == "1"
    assert {r["target_model"] for r in rows.values()} == {"CNN_1_adam"}
    assert not list(path.parent.glob("*.part*"))
    # No history at all: the header alone.
    empty = write_time_to_accuracy([], tmp_path / "empty")
    assert empty.read_text().splitlines() == [",".join(CSV_COLUMNS)]


def test_finding_names_the_fastest_model_to_95_percent(study):
    assert time_findings(study) == [
        "Time to accuracy: NN_1_adam reached 95% of CNN_1_adam's final validation balanced "
        "accuracy (92.0%) in 10.0 s of training, against 45.0 s for CNN_1_adam to finish "
        "(validation split; evaluation time excluded)."]
    # The finding writes seconds as the time table does (it said "64 s" where the table said
    # "1 min 04 s").
    table = time_table(time_to_accuracy_rows(study))
    cells = {row["model"]: [c["text"] for c in row["cells"]] for row in table["rows"]}
    assert f"in {cells['NN_1_adam'][3]} of training" in time_findings(study)[0]
    # Without the faster NN, the target's own model is the fastest: said so, not as a rival.
    alone = CollectedRuns(study.root, [r for r in study.runs if r.label != "NN_1_adam"], study.spec)
    (line,) = time_findings(alone)
    assert line.startswith("Time to accuracy: CNN_1_adam, whose final validation balanced "
                           "accuracy (92.0%) is the target, was also the fastest")
    assert "in 45.0 s of its 45.0 s of training" in line


def test_mean_curve_over_seeds(study):
    seconds, values = mean_time_curve(study.by_label("CNN_1_adam"))
    assert seconds.tolist() == [15.0, 30.0, 45.0]  # the mean cumulative seconds
    assert values == pytest.approx([0.65, 0.825, 0.92])
    # An epoch without a value in one seed: the mean of the seeds that have one.
    seconds, values = mean_time_curve(study.by_label("NN_1_sgd"))
    assert seconds.tolist() == [1.0, 2.0, 3.0]
    assert values == pytest.approx([0.55, 0.70, 0.76])


def test_figure_is_registered_with_its_caption():
    stems = [f.stem for f in FIGURES]
    assert "time_to_accuracy" in stems
    assert stems.index("time_to_accuracy") == stems.index("cost_benefit") + 1
    text = figure_captions()["time_to_accuracy"]
    assert "cumulative training time" in text and "log scale" in text
    assert "evaluation time is excluded" in text and "80%, 90% and 95%" in text
    assert text.endswith(".") and not re.search(r"\.\s+[A-Z]", text)


@pytest.mark.slow
def test_figure_draws_in_both_themes(study, tmp_path):
    make = time_to_accuracy_figure(FigureInputs(study))
    paths = save_figure(make, tmp_path / "figures", "time_to_accuracy")
    assert paths == [tmp_path / "figures" / t / f"time_to_accuracy.{ext}"
                     for t in THEMES for ext in ("svg", "png")]
    assert all(p.stat().st_size > 0 for p in paths)
    for t in THEMES:
        assert "synthetic" in (tmp_path / "figures" / t / "time_to_accuracy.svg").read_text()
    with viz_theme("light"):
        fig = make()
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "synthetic" in fig.get_suptitle()
    lines = {ln.get_label(): ln for ln in ax.lines if not ln.get_label().startswith("_")}
    assert list(lines) == ["NN_1_sgd", "NN_1_adam", "CNN_1_adam"]
    cnn = lines["CNN_1_adam"]
    assert cnn.get_xdata().tolist() == [15.0, 30.0, 45.0] and cnn.get_marker() != "None"
    # Coloured by family: the two NNs share the MLP colour, told apart by their markers.
    assert to_hex(cnn.get_color()) == to_hex(family_colour("cnn"))
    assert {to_hex(lines[m].get_color()) for m in ("NN_1_sgd", "NN_1_adam")} == \
        {to_hex(family_colour("mlp"))}
    assert lines["NN_1_sgd"].get_marker() != lines["NN_1_adam"].get_marker()
    # Dashed lines at 80%, 90% and 95% of the target.
    flat = [ln for ln in ax.lines if ln.get_linestyle() == "--" and len(set(ln.get_ydata())) == 1
            and ln.get_label().startswith("_")]
    assert sorted(ln.get_ydata()[0] for ln in flat) == pytest.approx([0.736, 0.828, 0.874])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == list(lines) and "80/90/95% of target" in legend


def test_readme_and_html_show_the_table(study, tmp_path):
    html_path, md_path = render_report(study, {}, {}, [], {}, tmp_path / "out")
    md, html = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
    section = md[md.index("## Time to accuracy"):]
    assert section.index("## Time to accuracy") < section.index("## Missing")
    assert ("| Model | 80% of target (73.6%) | 90% of target (82.8%) | 95% of target (87.4%) "
            "| Total training time | Final val. balanced acc. |") in section
    assert "| NN_1_sgd | not reached (1 of 2 seeds missed) | not reached | not reached | " \
           "3.0 s | 76.0% |" in section
    assert "| CNN_1_adam | 30.0 s | 40.0 s | 45.0 s | 45.0 s | 92.0% |" in section
    assert "a training recipe must not look at the test set" in section
    assert '<a href="#time-to-accuracy">Time to accuracy</a>' in html
    table = html[html.index('id="time-to-accuracy-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + 3
    assert '<td data-value="" class="num">not reached</td>' in table
    assert '<td data-value="45.0" class="num">45.0 s</td>' in table
    # Given rows are shown as given (build_report computes them once).
    _, md_path = render_report(study, {}, {}, [], {}, tmp_path / "out2", time_to_accuracy=[])
    assert "No run recorded a per-epoch history" in md_path.read_text(encoding="utf-8")


def write_history(run_dir, seconds, values):
    with open(run_dir / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for row in history(seconds, values):
            writer.writerow({k: row.get(k, 0.1) for k in HISTORY_FIELDS})


@pytest.mark.slow
def test_build_report_writes_the_csv_table_and_finding(tmp_path, monkeypatch):
    from k49.report import build

    monkeypatch.setattr(build, "report_figures", lambda *a, **k: {})  # drawn above
    root = tmp_path / "study"
    for (model, seed), (secs, values) in HISTORIES.items():
        fake_run(root / model / f"seed-{seed}", model, seed, skill=0.6)
        write_history(root / model / f"seed-{seed}", secs, values)
    result = build.build_report(root)
    path = result["time_to_accuracy_csv"]
    assert path == root / "time_to_accuracy.csv" and path.parent == result["summary_csv"].parent
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert float(rows["CNN_1_adam"]["seconds_to_95"]) == 45.0
    assert np.isclose(float(rows["CNN_1_adam"]["target"]), 0.92)
    assert any(line.startswith("Time to accuracy: NN_1_adam reached 95%")
               for line in result["findings"])
    assert result["findings"] == findings(result["study"])[:len(result["findings"])]
    assert "## Time to accuracy" in result["markdown"].read_text(encoding="utf-8")
