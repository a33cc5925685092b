"""Go's number and time text forms, as sops prints them.

sops is written in Go, so every number it turns into text goes through
``strconv.FormatFloat`` with one of several verbs; Python's ``repr`` matches
none of them (``repr(1.0) == '1.0'``, ``repr(1e20) == '1e+20'``).  Each
function here names the Go call it reproduces (docs/format.md §3.2, §3.3,
§9.1.6, §9.2, §9.3).
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

__all__ = [
    "float_plain", "float_yaml", "float_json", "float_dotenv",
    "parse_go_float", "parse_go_bool", "parse_rfc3339", "normalize_time_text",
]


def _shortest(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(x)`` and the exponent of the first digit."""
    from decimal import Decimal  # only files with floats need it (start-up)
    _, digits, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    ds = "".join(map(str, digits))
    return ds, exp + len(ds) - 1  # type: ignore[operator]


def _fixed(x: float) -> str:
    from decimal import Decimal
    return format(Decimal(repr(abs(x))).normalize(), "f")


def _e_form(ds: str, exp: int, min_exp_digits: int, upper: bool = False) -> str:
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    e = "E" if upper else "e"
    return "%s%s%s%0*d" % (mant, e, "-" if exp < 0 else "+", min_exp_digits, abs(exp))


def _g_shortest(x: float, upper: bool) -> str:
    """Go ``'g'``/``'G'`` with precision -1 for a finite non-zero ``abs(x)``."""
    ds, exp = _shortest(x)
    return _e_form(ds, exp, 2, upper) if (exp < -4 or exp >= 6) else _fixed(x)


def _special(x: float, inf: str, ninf: str, nan: str) -> str | None:
    if math.isnan(x):
        return nan
    if math.isinf(x):
        return inf if x > 0 else ninf
    return None


def _sign(x: float) -> str:
    return "-" if math.copysign(1.0, x) < 0 else ""


def float_plain(x: float) -> str:
    """``FormatFloat(x, 'f', -1, 64)``: the encrypted plaintext of a float.

    Never an exponent and no trailing ``.0`` (``1.0`` -> ``1``, ``1e21`` ->
    ``1000000000000000000000``); ``-0.0`` -> ``-0``.
    """
    sp = _special(x, "+Inf", "-Inf", "NaN")
    if sp is not None:
        return sp
    if x == 0:
        return _sign(x) + "0"
    return _sign(x) + _fixed(x)


def float_yaml(x: float) -> str:
    """go-yaml v3 float output: ``FormatFloat(x, 'g', -1, 64)``.

    Exponent form iff the first digit's decimal exponent is < -4 or >= 6:
    in shortest mode Go fixes the precision used for that decision at 6
    (``1234567.0`` -> ``1.234567e+06``, ``100000.0`` -> ``100000``).
    """
    sp = _special(x, ".inf", "-.inf", ".nan")
    if sp is not None:
        return sp
    if x == 0:
        return _sign(x) + "0"
    return _sign(x) + _g_shortest(x, upper=False)


def float_json(x: float) -> str:
    """Go ``encoding/json`` float text ('f' in [1e-6, 1e21), else short 'e')."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"json: unsupported value: {float_plain(x)}")
    if x == 0:
        return _sign(x) + "0"
    if 1e-6 <= abs(x) < 1e21:
        return _sign(x) + _fixed(x)
    ds, exp = _shortest(x)
    return _sign(x) + _e_form(ds, exp, 1)


def float_dotenv(x: float) -> str:
    """sops's dotenv/INI ``ValToString`` for floats: ``%G``-like shortest.

    ``FormatFloat(x, 'G', -1, 64)`` plus ``.0`` when the text has neither a
    ``.`` nor an ``E`` (``1`` -> ``1.0``, ``1e20`` -> ``1E+20``).
    """
    sp = _special(x, "+Inf", "-Inf", "NaN")
    if sp is not None:
        return sp
    if x == 0:
        text = _sign(x) + "0"
    else:
        text = _sign(x) + _g_shortest(x, upper=True)
    if "." not in text and "E" not in text:
        text += ".0"
    return text


_GO_FLOAT = re.compile(r"[+-]?(inf|infinity|nan|(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?)", re.I)


def parse_go_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for the spellings sops writes."""
    t = text.strip()
    low = t.lower().lstrip("+-")
    if low in ("inf", "infinity"):
        return float("-inf") if t.startswith("-") else float("inf")
    if low == "nan":
        return float("nan")
    if not _GO_FLOAT.fullmatch(t):
        raise ValueError(f"invalid float {text!r}")
    return float(t.replace("_", ""))


_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_go_bool(text: str) -> bool:
    """``strconv.ParseBool``: the spellings sops accepts for ``type:bool``."""
    try:
        return _GO_BOOLS[text]
    except KeyError:
        raise ValueError(f"invalid bool {text!r}") from None


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339(text: str) -> tuple[datetime, str]:
    """Parse RFC 3339 as Go's ``time.Parse(time.RFC3339, …)`` does.

    Returns the datetime (fraction cut to microseconds) and the fraction
    digits as written (Go keeps nanoseconds).  Go rejects lower-case ``z``.
    """
    m = _RFC3339.fullmatch(text)
    if not m or m.group(8) == "z":
        raise ValueError(f"parsing time {text!r} as RFC 3339 failed")
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[1:]
    zone = m.group(8)
    if zone in ("Z",):
        tz = timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    micro = int((frac + "000000")[:6]) if frac else 0
    return datetime(y, mo, d, h, mi, s, micro, tzinfo=tz), frac


def _zone_text(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    if off == timedelta(0):
        return "Z"
    total = int(off.total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return "%s%02d:%02d" % (sign, total // 60, total % 60)


def normalize_time_text(text: str, keep_fraction: bool = True) -> str:
    """Re-format RFC 3339 text as Go's ``MarshalText``/``Format(RFC3339)``.

    ``keep_fraction`` keeps nanoseconds with trailing zeros trimmed (the
    ``type:time`` plaintext); without it the fraction is dropped (the MAC
    AAD built from ``lastmodified``, docs/format.md §5.4).  A zero offset,
    including ``-00:00``, becomes ``Z``; other offsets are kept as written.
    """
    dt, frac = parse_rfc3339(text)
    # Not strftime: it writes year 125 as "125"; RFC 3339 needs four digits.
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
    frac = frac[:9].rstrip("0") if keep_fraction else ""
    return base + ("." + frac if frac else "") + _zone_text(dt)
