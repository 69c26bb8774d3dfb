"""Headless Chromium for the browser tests: Debian's `chromium` (scripts/install-browser.sh;
another binary through K49_CHROMIUM) driven by the `playwright` package. Playwright's own
browser download is never used. Without them the tests are skipped, except in CI (the CI
environment variable set): there they fail, so a browser test cannot silently stop running."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("K49_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip the browser tests, or fail them in CI."""
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so the browser test must run: install the browser "
                    "with scripts/install-browser.sh and `pip install playwright` (never "
                    "`playwright install`)", pytrace=False)
    pytest.skip(reason)


def chromium() -> Iterator:
    """A launched headless Chromium, closed afterwards (for a fixture to yield from)."""
    if importlib.util.find_spec("playwright") is None:
        unavailable("the playwright Python package is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (scripts/install-browser.sh installs Debian's)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class WatchedPage:
    """A new page of `browser` at `url` in one colour scheme, recording console and page errors,
    failed requests and every request made."""

    def __init__(self, browser, url: str, scheme: str, viewport: dict[str, int]):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport=viewport)
        self.page.set_default_timeout(30_000)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} ({m.location})"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(
            f"request failed: {r.url[:80]} {r.failure}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.emulate_media(color_scheme=scheme)
        self.page.goto(url, wait_until="load")
