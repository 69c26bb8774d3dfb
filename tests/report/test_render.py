"""The report's files: summary.csv/json, a self-contained index.html, a GitHub README.md."""

from __future__ import annotations

import csv
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from fake_study import SEED_MODELS, make_study, tiny_figures

from k49.errors import K49Error
from k49.evaluation.metric_table import INTERVAL_METRICS
from k49.evaluation.stats import t_interval
from k49.formats import (
    format_flops,
    format_fraction,
    format_int,
    format_percent,
    format_range,
    format_seconds,
    with_interval,
)
from k49.report.aggregate import SUMMARY_COLUMNS
from k49.report.collect import load_study
from k49.report.render import COLUMNS, md_escape, render_report, table_rows, write_summary

pytestmark = pytest.mark.slow

METRICS = ["accuracy", "balanced_accuracy", "top5_accuracy", "auc_macro",
           "auc_inverse_frequency", "f1_macro", "ece", "params", "flops", "train_seconds"]
CI_COLUMNS = [f"{m}_ci_{end}" for m in INTERVAL_METRICS for end in ("low", "high")]
EXPECTED_COLUMNS = ["model", "seed", "dataset", *METRICS, *CI_COLUMNS, "still_improving"]


# --- fixtures: built once per module (evaluating a study's runs takes seconds) -----------------

@pytest.fixture(scope="module")
def seeds_study(tmp_path_factory):
    """The `fake_study_seeds` fixture's study (4 models x 3 seeds, one broken run), loaded."""
    root = make_study(tmp_path_factory.mktemp("seeds") / "study",
                      models=SEED_MODELS[:2] + SEED_MODELS[6:8], seeds=(0, 1, 2))
    broken = root / "CNN_dense" / "seed-0"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text('{"config": {"model": "CNN_dense"}}')
    return load_study(root)


CAPTIONS = {"accuracy_line": "Accuracy per epoch", "samples_grid": "Six samples <of> K49"}
FINDINGS = ["Optimizer (NN_1): NN_1_adam beat NN_1_sgd by 3.00 points",
            "Escaped: <script>alert(1)</script> & `k49 run` *stars*"]
NOTES = {"epochs": 3, "scale": "tiny", "versions": {"torch": "2.4.0", "numpy": "2.1"},
         "machine": "2 CPU cores", "seconds": {"figures": 1.23456789, "total": 61.0},
         "synthetic": True}


@pytest.fixture(scope="module")
def report(seeds_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    figures = tiny_figures(out)
    html_path, md_path = render_report(seeds_study, figures, CAPTIONS, FINDINGS, NOTES, out)
    return {"out": out, "figures": figures, "html_path": html_path, "md_path": md_path,
            "html": html_path.read_text(encoding="utf-8"),
            "md": md_path.read_text(encoding="utf-8")}


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the results table's rows."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[dict] = []
        self.headers: list[dict] = []
        self._cell: dict | None = None
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table" and a.get("id") == "results-table":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append({"class": a.get("class") or "", "cells": []})
        elif self._in_table and tag in ("td", "th"):
            self._cell = {"value": a.get("data-value"), "text": "", **a}
            (self.headers if tag == "th" else self.rows[-1]["cells"]).append(self._cell)

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    p.rows = [r for r in p.rows if r["cells"]]  # the header row has no td
    return p


# --- number formats ----------------------------------------------------------------------------

def test_number_formats():
    assert format_percent(0.123456) == "12.35%"
    assert format_percent(0.5, 0.004) == "50.00 ± 0.40%"
    assert format_int(2888719) == "2,888,719"
    assert format_int(213553.0, 0.0) == "213,553"  # a model's parameters do not vary by seed
    assert format_flops(856128) == "0.86 M"
    assert format_flops(1.5e9) == "1,500.00 M"
    assert format_seconds(8.1) == "8.1 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(3720) == "1 h 02 min"
    assert format_seconds(8.16, 0.06) == "8.2 ± 0.1 s"
    for fmt in (format_percent, format_int, format_flops, format_seconds):
        assert fmt(None) == "—" and fmt(float("nan")) == "—"


def test_interval_formats():
    assert format_percent(0.87, digits=1) == "87.0%"
    assert with_interval("87.0%", 0.859, 0.881) == "87.0% (85.9–88.1)"
    assert with_interval(format_fraction(0.99123), 0.99012, 0.99204, 1.0, 4) == \
        "0.9912 (0.9901–0.9920)"
    assert with_interval(format_percent(0.87, 0.003, 1), 0.862, 0.878) == \
        "87.0 ± 0.3% (86.2–87.8)"
    # no interval (a run evaluated before intervals existed): the value alone, never a crash
    assert with_interval("87.0%", None, 0.881) == "87.0%"
    assert with_interval("—", 0.1, 0.2) == "—"
    assert format_range(float("nan"), 0.2) == "—"


def test_markdown_escaping_keeps_code_spans_and_model_names():
    assert md_escape("NN_2_adam beat *all* <b> | x") == "NN_2_adam beat \\*all\\* \\<b\\> \\| x"
    assert md_escape("rerun `k49 run *` now") == "rerun `k49 run *` now"


# --- summary.csv / summary.json ----------------------------------------------------------------

def test_summary_has_exactly_the_columns_and_mean_sd_rows(seeds_study, tmp_path):
    csv_path, json_path = write_summary(seeds_study, tmp_path / "out")
    assert (csv_path, json_path) == (tmp_path / "out" / "summary.csv",
                                     tmp_path / "out" / "summary.json")
    assert list(SUMMARY_COLUMNS) == EXPECTED_COLUMNS
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == EXPECTED_COLUMNS
        csv_rows = list(reader)
    json_rows = json.loads(json_path.read_text(encoding="utf-8"))
    assert [list(r) for r in json_rows] == [EXPECTED_COLUMNS] * len(json_rows)
    # 4 models x (3 seeds + mean + sd); the broken run is not a row
    assert len(csv_rows) == len(json_rows) == 4 * 5
    assert [r["seed"] for r in json_rows[:5]] == [0, 1, 2, "mean", "sd"]
    assert all(r["dataset"] == "synthetic" for r in json_rows)
    assert "CNN_dense" not in {r["model"] for r in json_rows}

    for label in seeds_study.labels():
        runs = seeds_study.by_label(label)
        assert len(runs) == 3
        mean = next(r for r in json_rows if r["model"] == label and r["seed"] == "mean")
        sd = next(r for r in json_rows if r["model"] == label and r["seed"] == "sd")
        mean_csv = next(r for r in csv_rows if r["model"] == label and r["seed"] == "mean")
        for key in METRICS:
            values = [r.metrics[key] for r in runs]
            assert mean[key] == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
            assert sd[key] == pytest.approx(np.std(values, ddof=1), rel=1e-9, abs=1e-12)
            assert float(mean_csv[key]) == pytest.approx(mean[key], rel=1e-12)
        # a run's row: its bootstrap interval; the mean row: the t interval over the seeds
        for run in runs:
            row = next(r for r in json_rows if r["model"] == label and r["seed"] == run.seed)
            for key in INTERVAL_METRICS:
                assert [row[f"{key}_ci_low"], row[f"{key}_ci_high"]] == \
                    pytest.approx(run.metrics["intervals"][key])
            assert row["still_improving"] is True  # the fake runs were still climbing
        lo, hi = t_interval([r.metrics["balanced_accuracy"] for r in runs])
        assert (mean["balanced_accuracy_ci_low"], mean["balanced_accuracy_ci_high"]) == \
            pytest.approx((lo, hi))
        assert mean["still_improving"] is True and sd["still_improving"] is None
        assert mean_csv["still_improving"] == "True"
        # the mean of a metric is the mean of the seeds' rows in the same file
        seed_rows = [r for r in json_rows if r["model"] == label and isinstance(r["seed"], int)]
        assert mean["balanced_accuracy"] == pytest.approx(
            sum(r["balanced_accuracy"] for r in seed_rows) / 3)
    assert not list((tmp_path / "out").glob("*.part*"))  # atomic writes leave no temporary file


def test_summary_of_single_seeds_has_no_aggregate_rows(tmp_path):
    study = load_study(make_study(tmp_path / "study", models=["NN_1_sgd", "CNN_1_adam"]))
    _, json_path = write_summary(study, tmp_path)
    rows = json.loads(json_path.read_text())
    assert [(r["model"], r["seed"]) for r in rows] == [("NN_1_sgd", 0), ("CNN_1_adam", 0)]
    assert all(math.isfinite(r["balanced_accuracy"]) for r in rows)
    # runs evaluated by an older k49 have no intervals: empty cells, the value alone in the table
    for r in study.ok_runs:
        r.metrics = {k: v for k, v in r.metrics.items() if k not in ("intervals", "convergence")}
    _, json_path = write_summary(study, tmp_path)
    rows = json.loads(json_path.read_text())
    assert all(r[c] is None for r in rows for c in [*CI_COLUMNS, "still_improving"])
    cells = dict(zip([c.key for c in COLUMNS], table_rows(study)[0]["cells"], strict=True))
    assert re.fullmatch(r"\d+\.\d%", cells["balanced_accuracy"]["text"])


# --- index.html ----------------------------------------------------------------------------------

def test_html_is_self_contained(report):
    html = report["html"]
    assert not re.search(r"https?://", html), "index.html must not reference any URL"
    assert not re.search(r"(?i)@import|url\(\s*['\"]?(?!data:)", html)
    p = parse(html)
    for tag, attrs in p.tags:
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{tag} {name}={value[:60]!r}>"
    assert not [t for t, a in p.tags if t in ("script", "link", "iframe") and a.get("src")]
    # the figures are inside: both themes of both figures
    imgs = [a for t, a in p.tags if t == "img"]
    assert len(imgs) == 4
    assert sorted(a["class"] for a in imgs) == ["theme-dark"] * 2 + ["theme-light"] * 2
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert all(int(a["width"]) > 0 and int(a["height"]) > 0 for a in imgs)
    assert all(a["alt"] for a in imgs)
    assert "@media (prefers-color-scheme: dark)" in html


def test_html_synthetic_banner_title_findings_and_notes(report):
    html = report["html"]
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "synthetic data, not K49" in title
    assert 'id="synthetic-banner"' in html and "Synthetic data, not K49." in html
    assert "NN_1_adam beat NN_1_sgd by 3.00 points" in html
    # findings are text, never markup
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>k49 run</code>" in html
    assert "Six samples &lt;of&gt; K49" in html
    for text in ("2 CPU cores", "torch: 2.4.0, numpy: 2.1", "tiny", "12 of 13 complete",
                 "figures: 1.235, total: 61", "<dt>Synthetic</dt><dd>yes</dd>"):
        assert text in html


def test_html_lists_the_failed_run_with_its_error(report):
    html = report["html"]
    section = html[html.index('id="failed"'):html.index('id="notes"')]
    assert "CNN_dense" in section and "seed 0" in section and "incomplete" in section
    assert "training did not finish" in section


def test_html_results_table(report, seeds_study):
    p = parse(report["html"])
    assert [h["data-key"] for h in p.headers] == [c.key for c in COLUMNS]
    assert all(h["aria-sort"] == "none" for h in p.headers)
    assert {h["data-type"] for h in p.headers if h["data-key"] in METRICS} == {"number"}
    keys = [c.key for c in COLUMNS]
    assert len(p.rows) == 4 * 3 + 4  # one row per run and one mean ± sd row per model
    assert "with 95% intervals in brackets" in report["html"]
    assert "Student&#39;s t interval of the mean" in report["html"]
    aggregates = [r for r in p.rows if "aggregate" in r["class"]]
    assert len(aggregates) == 4
    for row in aggregates:
        cells = dict(zip(keys, row["cells"], strict=True))
        label = cells["model"]["text"]
        assert cells["seed"]["text"] == "mean ± sd (3 seeds, t 95% CI)"
        values = [r.metrics["balanced_accuracy"] for r in seeds_study.by_label(label)]
        lo, hi = t_interval(values)
        assert cells["balanced_accuracy"]["text"] == (
            f"{format_percent(np.mean(values), np.std(values, ddof=1), digits=1)} "
            f"({100 * lo:.1f}–{100 * hi:.1f})")
        assert float(cells["balanced_accuracy"]["value"]) == pytest.approx(np.mean(values))
    first = dict(zip(keys, p.rows[0]["cells"], strict=True))
    run = seeds_study.by_label(first["model"]["text"])[0]
    assert first["params"]["text"] == f"{run.metrics['params']:,}"
    assert first["flops"]["text"].endswith(" M")
    # a run's cell: the value and its bootstrap interval, "(lo–hi)"
    lo, hi = run.metrics["intervals"]["accuracy"]
    assert first["accuracy"]["text"] == \
        f"{100 * run.metrics['accuracy']:.1f}% ({100 * lo:.1f}–{100 * hi:.1f})"
    assert re.fullmatch(r"\d+\.\d% \(\d+\.\d–\d+\.\d\)", first["accuracy"]["text"])
    assert re.fullmatch(r"0\.\d{4} \(0\.\d{4}–0\.\d{4}\)", first["auc_macro"]["text"])
    assert re.fullmatch(r"\d+\.\d%", first["top5_accuracy"]["text"])  # no interval


def test_report_of_real_k49_has_no_synthetic_banner(tmp_path):
    study = load_study(make_study(tmp_path / "study", models=["NN_1_sgd"], dataset="k49"))
    html_path, md_path = render_report(study, {}, {}, [], {}, tmp_path / "out")
    html, md = html_path.read_text(), md_path.read_text()
    assert "<title>Model comparison on Kuzushiji-49</title>" in html
    assert "synthetic" not in html.lower() and "synthetic" not in md.lower()
    assert "None: all 1 runs finished" in html


def test_missing_figure_files_and_bad_embed_mode_fail_clearly(seeds_study, tmp_path):
    with pytest.raises(K49Error, match="missing.*nowhere.svg"):
        render_report(seeds_study, {"x": [tmp_path / "light" / "nowhere.svg"]}, {}, [], {},
                      tmp_path / "out")
    with pytest.raises(K49Error, match="embed mode"):
        render_report(seeds_study, {}, {}, [], {}, tmp_path / "out", embed="jpeg")


def test_svg_embedding_on_request(seeds_study, tmp_path):
    out = tmp_path / "out"
    html_path, _ = render_report(seeds_study, tiny_figures(out), {}, [], {}, out, embed="svg")
    html = html_path.read_text()
    assert html.count('src="data:image/svg+xml;base64,') == 4
    assert not re.search(r"https?://", html)


# --- README.md ---------------------------------------------------------------------------------

def test_readme_has_light_dark_pairs_with_relative_paths(report):
    md, out = report["md"], report["out"]
    assert md.startswith("# Model comparison on Synthetic K49-like (synthetic data, not K49)\n")
    assert "> [!WARNING]\n> **Synthetic data, not K49.**" in md
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', md)
    assert len(srcs) == 4
    for stem in report["figures"]:
        light = f"figures/light/{stem}.png#gh-light-mode-only"
        dark = f"figures/dark/{stem}.png#gh-dark-mode-only"
        assert srcs.count(light) == 1 and srcs.count(dark) == 1
        # a pair: the light image right before the dark one
        assert srcs.index(dark) == srcs.index(light) + 1
    for src in srcs:
        path, marker = src.split("#")
        theme = marker.removeprefix("gh-").removesuffix("-mode-only")
        assert theme in ("light", "dark")
        assert not path.startswith("/") and "://" not in path
        assert Path(path).parent.name == theme  # the light file carries the light marker
        assert (out / path).is_file()
    assert "Six samples \\<of\\> K49" in md  # caption, escaped for Markdown
    # alt text is HTML-escaped inside the <img> tags
    assert 'alt="Six samples &lt;of&gt; K49"' in md


def test_readme_findings_table_and_failed_runs(report, seeds_study):
    md = report["md"]
    assert "- Optimizer (NN_1): NN_1_adam beat NN_1_sgd by 3.00 points" in md
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Model | Seed |"))
    assert lines[header] == "| " + " | ".join(c.title for c in COLUMNS) + " |"
    assert lines[header - 1] == ""  # else GitHub does not see a table
    assert lines[header + 1].startswith("| --- | --- | ---: |")
    body = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        body.append(line)
    assert len(body) == 16
    assert sum("**mean ± sd (3 seeds, t 95% CI)**" in line for line in body) == 4
    assert "with 95% intervals in brackets" in md and "Those rows are in bold." in md
    assert all(line.count(" | ") == len(COLUMNS) - 1 for line in body)
    failed = md[md.index("## Missing or failed runs"):md.index("## Notes")]
    assert "**CNN_dense**, seed 0 (incomplete" in failed and "training did not finish" in failed
    assert "- **Machine**: 2 CPU cores" in md
    assert "[index.html](index.html)" in md
