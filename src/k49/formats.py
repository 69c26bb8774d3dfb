"""How k49 writes numbers for people, in one place: percentages, fractions (AUCs), counts,
FLOPs, durations, intervals and differences in points; a missing or non-finite value is a dash.
The report, the model card, the CLI and the findings all format through these functions."""

from __future__ import annotations

import math
from typing import Any

DASH = "—"
#: Between an interval's ends (an en dash).
RANGE = "–"


def finite_or_none(x: Any) -> float | None:
    """`x` as a finite float, or None (missing, bool, NaN, inf, not a number)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_percent(x: Any, sd: Any = None, digits: int = 2) -> str:
    """0.12345 -> "12.35%"; with an sd: "12.35 ± 0.40%"; `digits` after the point."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return (f"{100 * v:.{digits}f}%" if s is None
            else f"{100 * v:.{digits}f} ± {100 * s:.{digits}f}%")


def format_fraction(x: Any, sd: Any = None, digits: int = 4) -> str:
    """0.912345 -> "0.9123" (AUCs); with an sd: "0.9123 ± 0.0040"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return f"{v:.{digits}f}" if s is None else f"{v:.{digits}f} ± {s:.{digits}f}"


def format_int(x: Any, sd: Any = None) -> str:
    """1234567 -> "1,234,567" (an sd of 0, as for a model's parameters, is not shown)."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    text = f"{round(v):,}"
    return text if not s else f"{text} ± {round(s):,}"


def format_flops(x: Any, sd: Any = None) -> str:
    """Forward FLOPs per image in millions: 856128 -> "0.86 M"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    return f"{v / 1e6:,.2f} M" if not s else f"{v / 1e6:,.2f} ± {s / 1e6:,.2f} M"


def _seconds(v: float) -> str:
    if v < 60:
        return f"{v:.1f} s"
    if v < 3600:
        m, s = divmod(round(v), 60)
        return f"{m} min {s:02d} s"
    h, rest = divmod(round(v), 3600)
    return f"{h} h {rest // 60:02d} min"


def format_seconds(x: Any, sd: Any = None) -> str:
    """8.1 -> "8.1 s", 125 -> "2 min 05 s", 3720 -> "1 h 02 min"; with an sd: "8.1 ± 0.3 s"."""
    v = finite_or_none(x)
    if v is None:
        return DASH
    s = finite_or_none(sd)
    if s is None:
        return _seconds(v)
    if v < 60 and s < 60:
        return f"{v:.1f} ± {s:.1f} s"
    return f"{_seconds(v)} ± {_seconds(s)}"


def format_range(low: Any, high: Any, scale: float = 100.0, digits: int = 1) -> str:
    """An interval's ends, "85.9–88.1" (scale 100: percentages) or "0.9901–0.9920" (scale 1,
    digits 4); DASH when either end is missing."""
    lo, hi = finite_or_none(low), finite_or_none(high)
    if lo is None or hi is None:
        return DASH
    return f"{scale * lo:.{digits}f}{RANGE}{scale * hi:.{digits}f}"


def with_interval(text: str, low: Any, high: Any, scale: float = 100.0, digits: int = 1) -> str:
    """`text` followed by its interval in brackets ("87.0% (85.9–88.1)"); `text` alone when
    the interval is missing."""
    ends = format_range(low, high, scale, digits)
    return text if ends == DASH or text == DASH else f"{text} ({ends})"


def signed(x: float, digits: int) -> str:
    """`x` with `digits` decimals and a true minus sign ("−0.4")."""
    return f"{x:.{digits}f}".replace("-", "−")


def points(*values: float) -> list[str]:
    """Differences in points (1 point = 0.01), with one decimal unless a non-zero value would
    round to zero ("0.04", never "0.0" for an interval that excludes 0); DASH if not finite."""
    finite = [100 * v for v in values if math.isfinite(v)]
    digits = 1
    while digits < 3 and any(v != 0 and round(abs(v), digits) == 0 for v in finite):
        digits += 1
    return [signed(100 * v, digits) if math.isfinite(v) else DASH for v in values]


def p_value(p: float) -> str:
    """"< 0.001" or "0.041" (DASH if not finite): a p-value in a table's column."""
    if not math.isfinite(p):
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def format_p(p: float) -> str:
    """"p < 0.001" or "p = 0.041"."""
    value = p_value(p)
    return f"p {value}" if value.startswith(("<", DASH)) else f"p = {value}"
