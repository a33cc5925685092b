"""Plain-scalar type resolution as go-yaml v3 does it (SOPS_FORMAT.md §3.4).

Shared by the loader (what type does ``017`` have?) and the emitter (must
this string be quoted so that it reads back as a string?).  This is neither
YAML 1.1 nor 1.2: go-yaml mixes them (``017`` is octal but ``yes`` is a
string), and sops inherits that.
"""
from __future__ import annotations

import calendar
import math
import re
from typing import Any

from ..tree import Timestamp

__all__ = ["resolve_plain", "resolve_tagged", "is_old_bool", "is_base60_float",
           "canonical_timestamp", "ResolveError"]

_SPECIAL: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}

# strconv.ParseInt(s, 0, 64) spellings (after go-yaml removed underscores).
_GO_INT = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|0([0-7]*)|([1-9][0-9]*))")
# go-yaml's yamlStyleFloat, checked before strconv.ParseFloat.
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_OLD_BOOLS = frozenset("y Y yes Yes YES on On ON n N no No NO off Off OFF".split())

# go-yaml's allowedTimestampFormats as regexes (Go's non-padded layout
# fields accept one or two digits; the fraction separator may be `,`).
_TS_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_TS_TIME = r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d+))?"
_TS_ZONED = re.compile(_TS_DATE + r"[Tt]" + _TS_TIME + r"(Z|[+-]\d{2}:\d{2})")
_TS_SPACE = re.compile(_TS_DATE + " " + _TS_TIME)
_TS_DAY = re.compile(_TS_DATE)

_UINT64 = 1 << 64
_INT64 = 1 << 63


class ResolveError(ValueError):
    """An explicitly tagged scalar whose text does not fit its tag."""


def is_old_bool(s: str) -> bool:
    """YAML 1.1 booleans that go-yaml reads as strings but quotes on output."""
    return s in _OLD_BOOLS


def is_base60_float(s: str) -> bool:
    """YAML 1.1 sexagesimal numbers (``1:20``): quoted on output."""
    return _BASE60.fullmatch(s) is not None


def canonical_timestamp(text: str) -> Timestamp | None:
    """Go's RFC 3339 (nano) text for a go-yaml timestamp, or None if not one."""
    for rx, zoned in ((_TS_ZONED, True), (_TS_SPACE, False)):
        m = rx.fullmatch(text)
        if m:
            return _format_ts(m.groups()[:7], m.group(8) if zoned else "Z")
    m = _TS_DAY.fullmatch(text)
    if m:
        return _format_ts(m.groups() + ("0", "0", "0", None), "Z")
    return None


def _format_ts(parts: tuple, zone: str) -> Timestamp | None:
    y, mo, d, h, mi, s = (int(p) for p in parts[:6])
    frac = parts[6] or ""
    # time.Parse range checks: an invalid date is simply not a timestamp.
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
            and h < 24 and mi < 60 and s < 60):
        return None
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 24 or om > 60:
            return None
        if oh == 0 and om == 0:
            zone = "Z"   # Go formats a zero offset as Z
    frac = frac[:9].rstrip("0")   # nanosecond precision, trailing zeros trimmed
    body = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, mo, d, h, mi, s)
    return Timestamp(body + ("." + frac if frac else "") + zone)


def _int(plain: str, big_ints: bool) -> int | None:
    m = _GO_INT.fullmatch(plain)
    if not m:
        return None
    sign, hx, octo, binary, lead0, dec = m.groups()
    if hx is not None:
        v = int(hx, 16)
    elif octo is not None:
        v = int(octo, 8)
    elif binary is not None:
        v = int(binary, 2)
    elif lead0 is not None:
        v = int(lead0 or "0", 8)
    else:
        v = int(dec)
    v = -v if sign == "-" else v
    if not big_ints and not (-_INT64 <= v < _UINT64):
        return None   # go-yaml: out of range for int64/uint64
    return v


def resolve_plain(text: str, timestamps: bool = True, big_ints: bool = True) -> Any:
    """The value of an untagged plain scalar.

    ``big_ints`` keeps integers of any size as ``int`` (secretsctl's choice,
    SOPS_FORMAT.md §16); without it, out-of-range ones follow go-yaml (float
    if float-shaped, else string) — the emitter uses that to decide quoting.
    """
    if text in _SPECIAL:
        return _SPECIAL[text]
    first = text[0]
    if first == ".":
        # go-yaml hands these to ParseFloat as is (no underscore removal).
        return float(text) if _DOT_FLOAT.fullmatch(text) else text
    if not (first.isdigit() and first.isascii()) and first not in "+-":
        return text
    if timestamps and first != "+" and first != "-":
        ts = canonical_timestamp(text)
        if ts is not None:
            return ts
    plain = text.replace("_", "")
    v = _int(plain, big_ints)
    if v is not None:
        return v
    if _YAML_FLOAT.fullmatch(plain):
        f = float(plain)
        # ParseFloat fails with ErrRange on overflow and go-yaml keeps the string.
        return text if math.isinf(f) else f
    return text


_TAG = "tag:yaml.org,2002:"


def resolve_tagged(tag: str, text: str, plain: bool, timestamps: bool = True) -> Any:
    """The value of an explicitly tagged scalar (``!!str 12``, ``!!int "3"``)."""
    short = tag[len(_TAG):] if tag.startswith(_TAG) else tag
    if short == "str":
        return text
    wanted = {"int": int, "float": float, "bool": bool, "null": type(None),
              "timestamp": Timestamp}.get(short)
    if wanted is None:
        # Unknown local tags (`!custom 12`): sops ends up with the text.
        return text
    value = resolve_plain(text, True)
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not wanted:
        raise ResolveError(f"cannot decode !!{short}")
    return value
