"""The report opens with its answers: a table of the comparisons (the question, the winner or
"no detectable difference", the difference with its 95% CI, the adjusted p, still improving),
the findings' prose folded below it; and the class characters' embedded web font."""

from __future__ import annotations

import base64
import io
import re

import pytest
from fake_study import fake_run
from fontTools.ttLib import TTFont

from k49.data.datasets import K49_CHARS
from k49.report.collect import load_study
from k49.report.comparisons import compare_all, excludes_zero
from k49.report.findings import answers
from k49.report.render import class_font, render_report, unicode_range


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("answers") / "s"
    fake_run(root / "NN_1_sgd" / "seed-0", "NN_1_sgd", 0, skill=0.9)
    fake_run(root / "NN_1_adam" / "seed-0", "NN_1_adam", 0, skill=0.3)
    fake_run(root / "NN_2_sgd" / "seed-0", "NN_2_sgd", 0, skill=0.9)
    fake_run(root / "NN_2_adam" / "seed-0", "NN_2_adam", 0, skill=0.9)
    return load_study(root)


def test_each_comparison_is_one_row_with_its_answer(study):
    compared = compare_all(study)
    rows = {r["compared"]: r for r in answers(study, compared)}
    by_pair = {f"{c['a']} − {c['b']}": c for c in compared["comparisons"]}
    assert set(rows) == set(by_pair)
    win = rows["NN_1_adam − NN_1_sgd"]
    assert win["question"] == "Adam or SGD?"
    assert by_pair["NN_1_adam − NN_1_sgd"]["winner"] == "NN_1_sgd"
    assert win["answer"] == "NN_1_sgd is better"
    lo, hi = by_pair["NN_1_adam − NN_1_sgd"]["ci"]
    d = by_pair["NN_1_adam − NN_1_sgd"]["difference"]
    assert win["difference"] == (f"{100 * d:.1f} ({100 * lo:.1f} to {100 * hi:.1f})"
                                 .replace("-", "−"))
    tie = rows["NN_2_adam − NN_2_sgd"]
    assert tie["answer"] == ("no significant difference" if excludes_zero(
        by_pair["NN_2_adam − NN_2_sgd"]["ci"]) else "no detectable difference")
    assert re.fullmatch(r"[\d.]+|< 0\.001", tie["p_adjusted"])
    assert {r["question"] for r in rows.values()} == {"Adam or SGD?", "Does a second layer help?"}


def test_still_improving_names_which_model_was():
    def comparison(a_improving, b_improving):
        return {"kind": "depth", "title": "Depth (NN, Adam)", "a": "NN_2_adam", "b": "NN_1_adam",
                "test": "Welch t-test", "difference": 0.01, "ci": [-0.01, 0.03], "p": 0.4,
                "p_adjusted": 0.8, "significant": False, "winner": None,
                "still_improving": {"NN_2_adam": a_improving, "NN_1_adam": b_improving}}
    result = {"comparisons": [comparison([], []), comparison([0], []), comparison([], [1, 2]),
                              comparison([0], [0])]}
    rows = answers(None, result)
    assert [r["still_improving"] for r in rows] == ["no", "NN_2_adam", "NN_1_adam", "both"]
    assert {r["answer"] for r in rows} == {"no detectable difference"}
    assert rows[0]["difference"] == "1.0 (−1.0 to 3.0)" and rows[0]["p_adjusted"] == "0.8"


def test_html_and_readme_lead_with_the_table_and_fold_the_prose(study, tmp_path):
    rows = [{"question": "Adam or SGD?", "compared": "a<b> − c", "answer": "a<b> is better",
             "difference": "3.0 (1.0 to 5.0)", "p_adjusted": "0.01", "still_improving": "a<b>"}]
    html_path, md_path = render_report(study, {}, {}, ["A finding in words."], {}, tmp_path,
                                       answers=rows)
    html, md = html_path.read_text(), md_path.read_text()
    table = html.index('id="answers-table"')
    assert table < html.index('id="results-table"')
    assert table < html.index('<details class="prose" id="findings">') < html.index(
        "A finding in words.")
    assert "a&lt;b&gt; is better" in html and "<b>" not in html.split("<body>")[1]
    assert md.index("| question | a − b | answer |") < md.index("<details>") < md.index(
        "- A finding in words.") < md.index("</details>") < md.index("## Results")
    assert r"| Adam or SGD? | a\<b\> − c | **a\<b\> is better** | 3.0 (1.0 to 5.0) | 0.01 |" \
        in md


def test_the_class_font_holds_exactly_the_class_characters():
    chars = "".join(K49_CHARS)
    uri = class_font(chars)
    assert uri.startswith("data:font/woff;base64,")
    font = TTFont(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert font.flavor == "woff"
    mapped = {chr(c) for c in font.getBestCmap()}
    assert set(chars) <= mapped and len(mapped) <= len(set(chars)) + 1  # + the space, at most
    assert len(uri) < 200_000  # a subset, not the 6 MB font
    assert unicode_range("いあ") == "U+3042, U+3044"


def test_the_report_embeds_the_font_for_its_classes(study, tmp_path):
    html = render_report(study, {}, {}, [], {}, tmp_path)[0].read_text()
    assert "font-src data:" in html
    face = re.search(r'@font-face \{\s*font-family: "k49 classes"; src: url\((data:[^)]+)\)'
                     r' format\("woff"\);\s*unicode-range: ([^;]+);', html)
    assert face and face.group(2) == unicode_range("".join(study.spec.chars))
    assert re.search(r'font: 15px/1\.55 "k49 classes", system-ui', html)
