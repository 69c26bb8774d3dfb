"""Finding the fonts the synthetic set is drawn from, and naming the set they make up.

matplotlib-fontja's IPAex Gothic is always there; the Japanese system fonts fontconfig knows
(or a scan of the usual font folders finds) are added unless K49_SYNTH_SYSTEM_FONTS is off. The
set is K49-like only with hentaigana and brush fonts, which Debian packages (FONT_PACKAGES).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

from k49.errors import K49Error

#: Set to 0 / false / no / off to use only the font matplotlib-fontja ships (no system fonts).
SYSTEM_FONTS_ENV = "K49_SYNTH_SYSTEM_FONTS"

#: Debian packages of the hentaigana (IPAmj Mincho) and brush fonts that make the set K49-like.
FONT_PACKAGES = (
    "fonts-ipamj-mincho",
    "fonts-kouzan-mouhitsu",
    "fonts-aoyagi-soseki",
    "fonts-aoyagi-kouzan-t",
    "fonts-klee",
)
INSTALL_COMMAND = "sudo apt-get install " + " ".join(FONT_PACKAGES)

#: Family-name prefixes of the brush and handwriting fonts those packages hold.
BRUSH_FAMILIES = ("KouzanBrushFont", "AoyagiKouzanFont", "AoyagiSosekiFont", "Klee One")

#: Where fonts are looked for when fontconfig's `fc-list` is not available.
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "~/Library/Fonts",
    "C:/Windows/Fonts",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")

FONTJA = "matplotlib-fontja"
SYSTEM = "system"


def fontja_font() -> Path:
    """The IPAex Gothic font matplotlib-fontja ships: always available, always used."""
    try:
        import matplotlib_fontja
    except ImportError:
        raise K49Error(
            "matplotlib-fontja is not installed: install it with `pip install matplotlib-fontja`"
        ) from None
    fonts = sorted((Path(matplotlib_fontja.__file__).parent / "fonts").glob("*.tt[fc]"))
    if not fonts:
        raise K49Error(
            "matplotlib-fontja ships no font file: reinstall it with "
            "`pip install --force-reinstall matplotlib-fontja`"
        )
    return fonts[0]


def system_fonts_enabled(system_fonts: bool | None = None) -> bool:
    """`system_fonts` if given, else the K49_SYNTH_SYSTEM_FONTS environment variable (default
    on; 0, false, no or off turn system fonts off)."""
    if system_fonts is not None:
        return bool(system_fonts)
    value = os.environ.get(SYSTEM_FONTS_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off", "")


def _fc_list() -> list[Path] | None:
    exe = shutil.which("fc-list")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, ":lang=ja", "file"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]


def _scan_font_dirs() -> list[Path]:
    found = []
    for d in FONT_DIRS:
        root = Path(d).expanduser()
        if root.is_dir():
            found += [p for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES]
    return found


def system_font_paths() -> list[Path]:
    """Candidate Japanese system fonts (fontconfig's list plus a scan), deduplicated and sorted."""
    candidates = (_fc_list() or []) + _scan_font_dirs()
    unique: dict[str, Path] = {}
    for p in candidates:
        with contextlib.suppress(OSError):
            real = p.resolve(strict=True)
            if real.is_file():
                unique.setdefault(str(real), real)
    return [unique[k] for k in sorted(unique)]


def find_fonts(system_fonts: bool | None = None,
               exclude_families: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    """The fonts to draw from, as (path, source): matplotlib-fontja's first, then system fonts,
    less any system font whose family name starts with one of `exclude_families` (the
    generalisation measure's held-out fonts, synthetic/transfer.py)."""
    paths = [(fontja_font(), FONTJA)]
    if system_fonts_enabled(system_fonts):
        base = str(paths[0][0].resolve())
        paths += [(p, SYSTEM) for p in system_font_paths() if str(p) != base
                  and not font_in_families(p, exclude_families)]
    return paths


def font_family(path: Path) -> str:
    """The family name a font file declares ("" if it cannot be read)."""
    try:
        return open_font(path).family_name
    except Exception:  # noqa: BLE001 - an unreadable font belongs to no family
        return ""


def font_in_families(path: Path, families: tuple[str, ...]) -> bool:
    """Whether the font file's family name starts with one of `families`."""
    return bool(families) and font_family(path).startswith(tuple(families))


def font_set(fonts: list[tuple[Path, str]]) -> list[dict[str, object]]:
    """The font files as recorded in synthetic.json: file name, path, source and size in bytes."""
    out = []
    for path, source in fonts:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            out.append({"file": path.name, "path": str(path), "source": source, "size": size})
    return out


def font_set_key(fonts: list[tuple[Path, str]]) -> str:
    """A short hash of the font files, in order (names, sources and sizes: not their folders, so
    that the same fonts in another venv or on another machine give the same key). It changes
    when a font is installed or removed."""
    files = [(f["file"], f["source"], f["size"]) for f in font_set(fonts)]
    return hashlib.sha256(json.dumps(files).encode("utf-8")).hexdigest()[:16]


def open_font(path: Path):
    from matplotlib.ft2font import FT2Font

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FT2Font(str(path))


def has_glyph(font, ch: str) -> bool:
    return font.get_char_index(ord(ch)) != 0
