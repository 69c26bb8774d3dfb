"""The documentation site: it builds with warnings as errors (a broken cross-reference or a
public name without a docstring fails), its home page and CLI reference open in Chromium, and
its API page covers every public name."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import k49
from browser import WatchedPage, chromium

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_api_page_documents_every_public_name():
    """Each name of `from k49 import ...` has an autodoc entry, directly or through the module
    documented with all its members."""
    page = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto(?:function|class|data|exception):: ([\w.]+)", page,
                                flags=re.MULTILINE))
    modules = set(re.findall(r"^\.\. automodule:: ([\w.]+)\n\s+:members:", page,
                             flags=re.MULTILINE))
    missing = []
    for name in k49.__all__:
        if name == "__version__":
            continue
        obj = getattr(k49, name)
        where = getattr(obj, "__name__", "") if inspect.ismodule(obj) else \
            f"{getattr(obj, '__module__', '')}.{getattr(obj, '__name__', name)}"
        if where not in documented and where not in modules \
                and where.rsplit(".", 1)[0] not in modules \
                and not (name == "DATASETS" and "k49.data.datasets.DATASETS" in documented):
            missing.append(name)
    assert not missing, f"add these to docs/reference/api.md: {missing}"


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")
             if not p.relative_to(DOCS).parts[0].startswith(("_", "sample-report"))}
    pages.discard("index")
    listed = set(re.findall(r"^([\w/-]+)$", index, flags=re.MULTILINE))
    assert pages <= listed, f"add to a toctree in docs/index.md: {sorted(pages - listed)}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built as `make docs` builds it: warnings are errors."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", str(DOCS), str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.mark.slow
def test_the_site_builds_without_a_warning(site):
    for page in ("index", "reference/cli", "reference/api", "tutorials/seed-study",
                 "guide/training", "results/time-to-accuracy"):
        assert (site / f"{page}.html").is_file(), page


@pytest.mark.slow
@pytest.mark.browser
def test_the_home_page_and_the_cli_reference_open_in_chromium(site, browser):
    home = WatchedPage(browser, (site / "index.html").as_uri(), "light",
                       {"width": 1280, "height": 900})
    assert home.page.title().startswith("k49")
    assert home.page.get_by_role("link", name="Tutorial: reproduce the seed study on the real "
                                 "K49").first.is_visible()
    assert not home.errors, home.errors
    cli = WatchedPage(browser, (site / "reference" / "cli.html").as_uri(), "dark",
                      {"width": 1280, "height": 900})
    text = cli.page.inner_text("article[role=main]")
    for command in ("k49 train", "k49 run", "k49 data fetch", "k49 serve", "--limit-train"):
        assert command in text, command
    assert not cli.errors, cli.errors


@pytest.mark.slow
def test_a_public_name_without_a_docstring_fails_the_build(tmp_path):
    (tmp_path / "undocumented_module.py").write_text('"""A module."""\n\ndef public(x):\n'
                                                     '    return x\n')
    (tmp_path / "conf.py").write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(tmp_path)!r}, {str(DOCS / '_ext')!r}]\n"
        "extensions = ['myst_parser', 'sphinx.ext.autodoc', 'k49_docs']\n")
    (tmp_path / "index.md").write_text("# Test\n\n```{eval-rst}\n"
                                       ".. autofunction:: undocumented_module.public\n```\n")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                           str(tmp_path), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert "undocumented_module.public has no docstring" in done.stderr
