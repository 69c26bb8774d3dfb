"""The report's outputs: summary.csv/json, a self-contained index.html and a GitHub README.md.

`write_summary` writes the numbers (one row per run, plus mean and sd rows for a model with
several seeds). `render_report` writes `index.html`, one file that opens offline (figures embedded
as data: URIs in a light and a dark variant that follow the system's colour scheme, a results table
that sorts on a click of its headers), and `README.md`, whose figures are light/dark pairs with
GitHub's `#gh-light-mode-only` / `#gh-dark-mode-only` markers, linked by relative paths.
Every file is written atomically. The results table and the number formats are in
`k49.report.table` (re-exported here).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from fontTools import subset
from fontTools.ttLib import TTFont
from markupsafe import Markup, escape

from k49.data.synthetic.fonts import fontja_font
from k49.errors import K49Error
from k49.formats import DASH, finite_or_none
from k49.io import write_text
from k49.report.aggregate import SUMMARY_COLUMNS, summary_rows
from k49.report.collect import CollectedRuns
from k49.report.table import COLUMNS, table_caption, table_rows
from k49.report.time_table import time_table, time_to_accuracy_rows
from k49.viz import DPI, THEMES

__all__ = ["COLUMNS", "render_report", "table_rows", "write_summary"]

#: With embed="svg", an SVG is embedded in index.html unless it is larger than this and than
#: twice its PNG (a scatter of thousands of points, say): then the PNG is.
SVG_EMBED_LIMIT = 256 * 1024

#: How index.html embeds figures. "png" (the default) looks the same everywhere: the figures'
#: SVGs keep their text as text in the IPAexGothic font, which a browser showing an SVG as an
#: image cannot load from matplotlib-fontja, so a machine without Japanese fonts shows the class
#: characters as boxes. The PNG is shown at the SVG's size (150 dpi: sharp on most screens).
EMBED_MODES = ("png", "svg")


# ---------------------------------------------------------------------------------------------
# summary.csv / summary.json


def _json_value(v: Any) -> Any:
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, int):
        return v
    n = finite_or_none(v)
    if n is None:
        return None
    return int(n) if hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu" else n


def write_summary(study: CollectedRuns, root: str | os.PathLike) -> tuple[Path, Path]:
    """Write ROOT/summary.csv and ROOT/summary.json (a list of rows) with exactly the columns
    SUMMARY_COLUMNS; a model with several seeds adds rows whose seed is "mean" and "sd".
    Missing values are empty in the CSV and null in the JSON. Returns (csv path, json path)."""
    root = Path(root)
    rows = [{c: _json_value(row.get(c)) for c in SUMMARY_COLUMNS} for row in summary_rows(study)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = write_text(root / "summary.csv", buf.getvalue())
    json_path = write_text(root / "summary.json",
                           json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return csv_path, json_path


# ---------------------------------------------------------------------------------------------
# Figures


def _figure_files(stem: str, paths: Sequence[str | os.PathLike]) -> dict[str, dict[str, Path]]:
    """{theme: {"svg": path, "png": path}} from the paths of one figure (any order)."""
    files: dict[str, dict[str, Path]] = {}
    for p in map(Path, paths):
        theme = p.parent.name if p.parent.name in THEMES else "light"
        ext = p.suffix.lower().lstrip(".")
        if ext in ("svg", "png"):
            files.setdefault(theme, {})[ext] = p
    if not files:
        raise K49Error(f"figure {stem!r} has no SVG or PNG file among {[str(p) for p in paths]}")
    return files


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _embedded(files: dict[str, Path], embed: str) -> Path:
    """The file of one theme to embed: the PNG, or with embed="svg" the SVG unless it is much
    larger than the PNG."""
    svg, png = files.get("svg"), files.get("png")
    if svg is None or png is None:
        return svg or png  # type: ignore[return-value]
    if embed == "png":
        return png
    size = svg.stat().st_size
    return png if size > SVG_EMBED_LIMIT and size > 2 * png.stat().st_size else svg


_SVG_SIZE = re.compile(
    rb'<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"[^>]*?\sheight="([\d.]+)(pt|px)?"')


def _display_size(files: dict[str, Path]) -> tuple[int, int] | None:
    """(width, height) in CSS pixels at which the figure is meant to be seen: its SVG's size
    (matplotlib writes it in points), else its PNG's pixels at viz.DPI."""
    svg, png = files.get("svg"), files.get("png")
    if svg is not None:
        m = _SVG_SIZE.search(svg.read_bytes()[:4096])
        if m:
            scale = 4 / 3 if m.group(2) == b"pt" else 1.0  # 1 pt = 4/3 CSS px
            return round(float(m.group(1)) * scale), round(float(m.group(3)) * scale)
    if png is not None:
        head = png.read_bytes()[:24]
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            return round(w * 96 / DPI), round(h * 96 / DPI)
    return None


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _figures(figures: Mapping[str, Sequence[str | os.PathLike]], captions: Mapping[str, str],
             out_dir: Path, embed: str) -> list[dict[str, Any]]:
    missing = [str(p) for paths in figures.values() for p in paths if not Path(p).is_file()]
    if missing:
        raise K49Error(f"the report's figures are missing: {', '.join(missing)}: write them "
                       "first (report_figures) or leave them out of `figures`")
    out = []
    for stem, paths in figures.items():
        files = _figure_files(stem, paths)
        caption = captions.get(stem) or stem.replace("_", " ").capitalize()
        variants = []
        for theme in THEMES:
            if theme not in files:
                continue
            # The PNG: an SVG shown through <img> cannot load the figure font, and a reader's
            # system may lack a Japanese fallback, leaving the class characters as boxes.
            md_file = files[theme].get("png") or files[theme]["svg"]
            size = _display_size(files[theme])
            variants.append({"theme": theme, "uri": _data_uri(_embedded(files[theme], embed)),
                             "href": _relative(md_file, out_dir),
                             "width": size[0] if size else None,
                             "height": size[1] if size else None})
        if len(variants) == 1:  # one theme only: show it in both
            variants[0]["theme"] = None
        out.append({"stem": stem, "id": "fig-" + re.sub(r"[^A-Za-z0-9_-]", "-", stem),
                    "caption": caption, "variants": variants})
    return out


# ---------------------------------------------------------------------------------------------
# Text helpers for the templates

_CODE = re.compile(r"(`[^`]+`)")
_MD_SPECIAL = re.compile(r"([\\*\[\]<>|#])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_escape(text: Any) -> str:
    """Plain text for Markdown: specials escaped outside `code spans`, which are kept (the
    project's messages quote commands that way); newlines become spaces (table cells)."""
    parts = _CODE.split(" ".join(str(text).split()))
    return "".join(p if i % 2 else _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), p)
                   for i, p in enumerate(parts))


def html_text(text: Any) -> Markup:
    """Escaped text for HTML, with `code spans` as <code>."""
    parts = _CODE.split(str(text))
    return Markup("").join(Markup("<code>{}</code>").format(p[1:-1]) if i % 2 else escape(p)
                           for i, p in enumerate(parts))


def _note_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_note_value(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(_note_value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else DASH
    return str(value)


def _notes(study: CollectedRuns, notes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs: the dataset and the run count, then the caller's notes."""
    ok, total = len(study.ok_runs), len(study.runs)
    merged: dict[str, Any] = {"dataset": study.spec.label(),
                              "runs": f"{ok} of {total} complete"}
    merged.update(notes)
    return [(str(k).replace("_", " ").capitalize(), _note_value(v)) for k, v in merged.items()]


def _failed(study: CollectedRuns) -> list[dict[str, str]]:
    out = []
    for r in study.runs:
        if r.ok:
            continue
        try:
            where = _relative(r.run_dir, study.root) if r.run_dir != study.root else r.run_dir.name
        except ValueError:
            where = str(r.run_dir)
        out.append({"label": r.label, "seed": DASH if r.seed is None else str(r.seed),
                    "status": r.status, "error": r.error or "", "where": where})
    return out


@functools.lru_cache(maxsize=4)
def class_font(chars: str) -> str:
    """The Japanese font k49 ships (matplotlib-fontja's IPAexGothic), cut down to `chars`, as a
    WOFF data: URI for index.html's @font-face: the class labels then look the same on every
    machine instead of in whatever Japanese font the browser finds first (embedding a subset in
    a document is what the IPA Font License permits)."""
    font = TTFont(fontja_font())
    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed; WOFF2 would need brotli
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.flavor = "woff"
    font.save(buf)
    return "data:font/woff;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def unicode_range(chars: str) -> str:
    """CSS unicode-range of `chars`: "U+3042, U+3044, ..."."""
    return ", ".join(f"U+{ord(c):04X}" for c in sorted(set(chars)))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("k49.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=True, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["html_text"] = html_text
    return env


def report_title(study: CollectedRuns) -> str:
    """The page title; a synthetic study's says "synthetic data, not K49"."""
    return f"Model comparison on {study.spec.label()}"


def render_report(
    study: CollectedRuns,
    figures: Mapping[str, Sequence[str | os.PathLike]],
    captions: Mapping[str, str],
    findings: Sequence[str],
    notes: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    title: str | None = None,
    embed: str = "png",
    sweep: Mapping[str, Any] | None = None,
    time_to_accuracy: Sequence[Mapping[str, Any]] | None = None,
    answers: Sequence[Mapping[str, str]] = (),
) -> tuple[Path, Path]:
    """Write OUT_DIR/index.html (self-contained) and OUT_DIR/README.md; return their paths.

    `figures` maps a figure's stem to its files ([light svg, light png, dark svg, dark png], as
    `report_figures` returns them, in any order; the README links them relative to OUT_DIR, so
    they belong under it, e.g. OUT_DIR/figures/{light,dark}/); `captions` maps stems to captions
    (default: the stem); `findings` are sentences; `notes` are shown as "key: value" lines
    (dataset, scale, versions, machine...; a dict value is shown as "k: v, k: v"). `title`
    replaces the default title (which, for synthetic data, says "synthetic data, not K49");
    `embed` is how index.html embeds the figures: "png" or "svg" (see EMBED_MODES). `sweep`, from
    `k49.report.sweep.sweep_section`, adds a "Sweep" section; its figures are embedded likewise.
    `time_to_accuracy` is `time_table.time_to_accuracy_rows(study)` (computed when not given).
    `answers` (from `k49.report.findings.answers`) is the table of comparisons the report opens
    with; the findings' prose follows it, folded.
    """
    if embed not in EMBED_MODES:
        raise K49Error(f"unknown embed mode {embed!r}: use one of {', '.join(EMBED_MODES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = {
        "title": title or report_title(study),
        "synthetic": bool(study.synthetic),
        "headline": study.spec.metric,
        "columns": COLUMNS,
        "rows": table_rows(study),
        "table_caption": table_caption(study),
        "time_table": time_table(time_to_accuracy_rows(study) if time_to_accuracy is None
                                 else time_to_accuracy),
        "figures": _figures(figures, captions, out_dir, embed),
        "findings": [str(f) for f in findings],
        "answers": list(answers),
        "class_font": class_font("".join(study.spec.chars)),
        "class_range": unicode_range("".join(study.spec.chars)),
        "notes": _notes(study, notes),
        "failed": _failed(study),
        "n_runs": len(study.runs),
        "sweep": None if sweep is None else {
            **sweep, "figures": _figures(sweep["figures"], sweep["captions"], out_dir, embed)},
    }
    env = _environment()
    html = env.get_template("report.html.j2").render(context)
    md = env.get_template("README.md.j2").render(context)
    return write_text(out_dir / "index.html", html), write_text(out_dir / "README.md", md)
