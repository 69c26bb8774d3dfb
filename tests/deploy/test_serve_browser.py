"""The drawing page in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright against `k49 serve`'s app under uvicorn on 127.0.0.1.

Draws a character (の) with the mouse and checks five predictions with their characters and the
28x28 preview appear, undo and clear work, there is no console error and no request to another
host, and the page follows the dark colour scheme. With K49_SCREENSHOTS=1 it also saves
docs/serve-light.png and docs/serve-dark.png. Needs /usr/bin/chromium (another binary through
K49_CHROMIUM) and the `playwright` package; without them the tests are skipped, except in CI.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from browser import WatchedPage, chromium
from k49.deploy.server import create_app, open_socket

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.fixture(scope="module")
def server(trained_run):
    """The app under uvicorn in a thread, on a free port of 127.0.0.1: its base URL."""
    app = create_app(trained_run, device="cpu")
    sock = open_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app.state.predictor
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


class Page(WatchedPage):
    """The drawing page in one colour scheme, recording errors and every request."""

    def __init__(self, browser, url: str, scheme: str):
        self.url = url
        super().__init__(browser, url + "/", scheme, {"width": 1000, "height": 760})
        self.page.wait_for_function(
            "document.getElementById('model').textContent.startsWith('Model:')")

    def stroke(self, points) -> None:
        """One mouse stroke through `points` (fractions of the canvas), smoothed (Catmull-Rom)."""
        box = self.page.locator("#pad").bounding_box()
        ends = [points[0], *points, points[-1]]
        path = [points[0]]
        for i in range(1, len(ends) - 2):
            p0, p1, p2, p3 = ends[i - 1:i + 3]
            for t in (0.25, 0.5, 0.75, 1.0):
                path.append(tuple(0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t * t
                                         + (3 * b - a - 3 * c + d) * t ** 3)
                                  for a, b, c, d in zip(p0, p1, p2, p3, strict=True)))
        mouse = self.page.mouse
        mouse.move(box["x"] + path[0][0] * box["width"], box["y"] + path[0][1] * box["height"])
        mouse.down()
        for x, y in path[1:]:
            mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=2)
        mouse.up()

    def draw(self) -> None:
        """の in one stroke."""
        self.stroke([(0.52, 0.3), (0.47, 0.5), (0.4, 0.66), (0.3, 0.74), (0.22, 0.64),
                     (0.24, 0.44), (0.36, 0.3), (0.52, 0.24), (0.68, 0.28), (0.78, 0.42),
                     (0.77, 0.6), (0.66, 0.74), (0.52, 0.8)])

    def wait_for_predictions(self) -> None:
        self.page.wait_for_function(
            "document.querySelectorAll('#predictions li').length === 5"
            " && !document.getElementById('input').hidden"
            " && document.getElementById('input').naturalWidth === 28")

    def assert_clean(self) -> None:
        assert self.errors == []
        outside = [u[:80] for u in self.requests
                   if not u.startswith((self.url + "/", "data:", "blob:"))]
        assert outside == [], "the page asked another host for something"


@pytest.fixture
def open_page(browser, server):
    pages = []

    def open_(scheme: str = "light") -> Page:
        pages.append(Page(browser, server[0], scheme))
        return pages[-1]

    yield open_
    for p in pages:
        p.page.close()


def luminance(css_rgb: str) -> float:
    r, g, b = (int(x) for x in css_rgb[css_rgb.index("(") + 1:css_rgb.index(")")]
               .split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def colours(page) -> tuple[float, float]:
    style = page.evaluate("() => { const s = getComputedStyle(document.body);"
                          " return [s.backgroundColor, s.color]; }")
    return luminance(style[0]), luminance(style[1])


def test_draw_predict_undo_clear(open_page, server):
    view = open_page("light")
    page = view.page
    assert page.locator("canvas#pad").get_attribute("aria-label")
    assert page.locator("#synthetic-banner").is_visible() is bool(server[1].synthetic)
    assert page.locator("#undo").is_disabled() and page.locator("#clear").is_disabled()
    view.draw()
    view.wait_for_predictions()
    chars = page.eval_on_selector_all("#predictions li .char", "els => els.map(e => e.textContent)")
    assert len(chars) == 5 and all(c.strip() for c in chars)
    assert set(chars) <= set(server[1].chars)
    widths = page.eval_on_selector_all("#predictions .bar span",
                                       "els => els.map(e => parseFloat(e.style.width))")
    assert widths == sorted(widths, reverse=True) and widths[0] > 0
    # the preview is drawn: a 28x28 image with some ink in it
    ink = page.evaluate("""() => {
        const img = document.getElementById('input');
        const c = document.createElement('canvas'); c.width = c.height = 28;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return Math.max(...g.getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0));
    }""")
    assert ink > 100
    assert "/predict" in " ".join(view.requests)
    if os.environ.get("K49_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / "serve-light.png"))
    # a second stroke, undone: still predictions; the first undone: back to the empty state
    view.stroke([(0.8, 0.2), (0.85, 0.3)])
    page.wait_for_function("document.querySelectorAll('#predictions li').length === 5")
    page.click("#undo")
    view.wait_for_predictions()
    assert page.locator("#undo").is_enabled()
    page.click("#undo")
    page.wait_for_function("document.querySelectorAll('#predictions li').length === 0")
    assert page.locator("#input").is_hidden() and page.locator("#clear").is_disabled()
    view.draw()
    view.wait_for_predictions()
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#predictions li').length === 0")
    view.assert_clean()


def test_page_follows_the_dark_colour_scheme(open_page):
    view = open_page("dark")
    page = view.page
    background, text = colours(page)
    assert background < 0.2 and text > 0.7
    paper = page.evaluate("getComputedStyle(document.getElementById('pad')).backgroundColor")
    assert luminance(paper) < 0.3
    view.draw()
    view.wait_for_predictions()  # the model still gets dark ink on white: it reads something
    if os.environ.get("K49_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / "serve-dark.png"))
    page.emulate_media(color_scheme="light")
    background, text = colours(page)
    assert background > 0.9 and text < 0.3
    view.assert_clean()
