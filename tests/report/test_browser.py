"""index.html in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Checks what only a browser can: no console or page errors and no request leaving the page, every
figure decodes, the results table sorts on a click (both ways, with aria-sort), and the page and
its figures follow the system's light or dark colour scheme.

Needs /usr/bin/chromium (scripts/install-browser.sh; another binary through K49_CHROMIUM) and the
`playwright` Python package. Playwright's own browser download (`playwright install`) is never
used. Without them the tests are skipped, except in CI (the CI environment variable set): there
they fail, so the browser test cannot silently stop running.
"""

from __future__ import annotations

import pytest
from fake_study import make_study, tiny_figures

from browser import WatchedPage, chromium
from k49.report.collect import load_study
from k49.report.render import render_report

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# --- the report under test: the fake_study fixture's study and two tiny figures ---------------

@pytest.fixture(scope="module")
def report_url(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("browser")
    study = load_study(make_study(tmp / "study"))  # what the fake_study fixture makes
    out = tmp / "report"
    figures = tiny_figures(out, stems=("history", "samples"))
    captions = {"history": "Balanced accuracy per epoch", "samples": "Six samples"}
    html, _ = render_report(study, figures, captions, ["NN_1_adam beat NN_1_sgd"],
                            {"epochs": 3, "machine": "test"}, out)
    return html.as_uri()


# --- the browser --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    yield from chromium()


class Page(WatchedPage):
    """A page of the report in one colour scheme, recording errors and outside requests."""

    def __init__(self, browser, url: str, scheme: str):
        super().__init__(browser, url, scheme, {"width": 1280, "height": 900})

    def assert_clean(self) -> None:
        assert self.errors == []
        outside = [u[:80] for u in self.requests if not u.startswith(("data:", "file:"))]
        assert outside == [], "the report fetched something: it must be self-contained"


@pytest.fixture
def open_report(browser, report_url):
    pages = []

    def open_(scheme: str = "light") -> Page:
        pages.append(Page(browser, report_url, scheme))
        return pages[-1]

    yield open_
    for p in pages:
        p.page.close()


# --- the checks ---------------------------------------------------------------------------------

def test_loads_without_errors_and_every_figure_renders(open_report):
    report = open_report("light")
    page = report.page
    assert "synthetic data, not K49" in page.title()
    assert page.locator("#synthetic-banner").is_visible()
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({cls: e.className, complete: e.complete,"
               " w: e.naturalWidth, h: e.naturalHeight}))")
    assert len(images) == 4  # two figures, a light and a dark variant each
    for img in images:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    # decoding succeeds too (a broken data: URI rejects)
    page.eval_on_selector_all("img", "els => Promise.all(els.map(e => e.decode()))")
    # any inline SVG has a size where shown
    svgs = page.eval_on_selector_all(
        "svg", "els => els.filter(e => e.checkVisibility()).map(e => e.getBoundingClientRect())"
               ".map(r => [r.width, r.height])")
    assert all(w > 0 and h > 0 for w, h in svgs)
    # the failed-runs section and the notes are there
    assert page.locator("#failed").is_visible() and page.locator("#notes").is_visible()
    report.assert_clean()


def column_values(page, key: str) -> list:
    """(sort value, model) of every body row for column `key`, in the order shown."""
    return page.evaluate(
        """key => {
            const table = document.getElementById('results-table');
            const heads = Array.from(table.tHead.rows[0].cells);
            const i = heads.findIndex(h => h.dataset.key === key);
            const numeric = heads[i].dataset.type === 'number';
            return Array.from(table.tBodies[0].rows).map(r => {
                const v = r.cells[i].dataset.value;
                return [v === '' ? null : (numeric ? Number(v) : v), r.cells[0].textContent];
            });
        }""", key)


def aria_sort(page, key: str) -> str:
    return page.get_attribute(f"#results-table th[data-key='{key}']", "aria-sort")


@pytest.mark.parametrize("key", ["balanced_accuracy", "params", "model"])
def test_table_sorts_on_a_header_click_both_ways(open_report, key):
    report = open_report("light")
    page = report.page
    before = column_values(page, key)
    assert len(before) == 12 and aria_sort(page, key) == "none"
    header = page.locator(f"#results-table th[data-key='{key}']")
    numeric = header.get_attribute("data-type") == "number"

    def order(rows):
        values = [v for v, _ in rows if v is not None]
        return values if numeric else [str(v).casefold() for v in values]

    header.click()
    asc = column_values(page, key)
    assert aria_sort(page, key) == "ascending"
    assert sorted(asc) == sorted(before)  # whole rows moved: each value kept its model
    assert order(asc) == sorted(order(before))
    assert len(set(order(asc))) > 1  # the check means something

    header.click()
    desc = column_values(page, key)
    assert aria_sort(page, key) == "descending"
    assert order(desc) == sorted(order(before), reverse=True)
    # only the sorted column says it is sorted
    others = page.eval_on_selector_all(
        "#results-table th",
        f"hs => hs.filter(h => h.dataset.key !== '{key}').map(h => h.getAttribute('aria-sort'))")
    assert set(others) == {"none"}
    report.assert_clean()


def luminance(css_rgb: str) -> float:
    r, g, b = (int(x) for x in css_rgb[css_rgb.index("(") + 1:css_rgb.index(")")]
               .split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_page_and_figures_follow_the_colour_scheme(open_report, scheme):
    report = open_report(scheme)
    page = report.page
    style = page.evaluate("() => { const s = getComputedStyle(document.body);"
                          " return [s.backgroundColor, s.color]; }")
    background, text = luminance(style[0]), luminance(style[1])
    if scheme == "dark":
        assert background < 0.2 and text > 0.7, style
    else:
        assert background > 0.9 and text < 0.3, style
    other = "light" if scheme == "dark" else "dark"
    shown, hidden = page.locator(f"img.theme-{scheme}"), page.locator(f"img.theme-{other}")
    assert shown.count() == hidden.count() == 2
    for i in range(2):
        assert shown.nth(i).is_visible()
        assert shown.nth(i).bounding_box()["width"] > 0
        assert not hidden.nth(i).is_visible()
    # switching the scheme while the page is open switches the figures too
    page.emulate_media(color_scheme=other)
    assert hidden.first.is_visible() and not shown.first.is_visible()
    report.assert_clean()


def test_the_model_column_stays_in_view_while_the_table_scrolls(open_report):
    page = open_report("light").page
    page.set_viewport_size({"width": 520, "height": 900})  # narrower than the table
    geometry = """() => {
        const wrap = document.querySelector('#results .table-wrap');
        const cell = document.querySelector('#results-table tbody tr td');
        const third = document.querySelector('#results-table tbody tr td:nth-child(3)');
        return {wrap: wrap.getBoundingClientRect().left,
                cell: cell.getBoundingClientRect().left,
                third: third.getBoundingClientRect().left,
                scroll: wrap.scrollWidth - wrap.clientWidth};
    }"""
    before = page.evaluate(geometry)
    assert before["scroll"] > 100, "the table must be wider than the window for this test"
    page.eval_on_selector("#results .table-wrap", "w => { w.scrollLeft = 200; }")
    after = page.evaluate(geometry)
    assert after["third"] < before["third"] - 150  # the other columns moved
    assert abs(after["cell"] - after["wrap"]) < 2  # the model column did not


def test_class_characters_use_the_embedded_font(open_report):
    page = open_report("light").page
    loaded = page.evaluate(
        "() => document.fonts.load('16px \"k49 classes\"', 'あゑ').then(fs => fs.length)")
    assert loaded == 1
    assert page.evaluate("() => document.fonts.check('16px \"k49 classes\"', 'あゑ')")
