"""Plain-scalar type resolution as go-yaml v3 does it (docs/format.md §3.4).

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

from ..errors import InputError
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
# strconv.ParseFloat syntax for text starting with `.` (go-yaml passes it
# unmodified, so Go's digit-separating underscores are accepted: `.1_0`).
_DOT_FLOAT = re.compile(r"\.[0-9_]*[0-9][0-9_]*(?:[eE][-+]?[0-9][0-9_]*)?")
# go-yaml's fallback for `0b`/`0o` prefixes: ParseInt of the rest, which may
# carry its own sign (`0b-1` is -1).
_PREFIX_SIGNED = re.compile(r"0([bo])([-+]?)([0-9]+)")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_OLD_BOOLS = frozenset(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"])  # noqa: E501

# go-yaml's allowedTimestampFormats as regexes (Go's non-padded layout
# fields accept one or two digits; the fraction separator may be `,`).
# (ASCII digits only: Python's \d would also match other scripts' digits.)
_TS_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_TS_TIME = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]+))?"
_TS_ZONED = re.compile(_TS_DATE + r"[Tt]" + _TS_TIME + r"(Z|[+-][0-9]{2}:[0-9]{2})")
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


def _format_ts(parts: tuple[Any, ...], zone: str) -> Timestamp | None:
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


_MAX_DEC_DIGITS = 4000  # below sys.get_int_max_str_digits()'s default of 4300


def _int(plain: str, big_ints: bool) -> int | None:
    m = _GO_INT.fullmatch(plain)
    if not m:
        return None
    sign, hx, octo, binary, lead0, dec = m.groups()
    if dec is not None and len(dec) > _MAX_DEC_DIGITS:
        # Python refuses int() on more than 4300 decimal digits (ValueError,
        # a crash further up); such a number is a malformed document here.
        raise InputError("Error unmarshalling input yaml: yaml: integer literal is too long")
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
    if not _go_int_range(v, sign):
        # Out of go-yaml's range: a decimal becomes a float there (kept as an
        # exact int with big_ints, docs/format.md §16); other spellings
        # (`+0x8000000000000000`, long octal) stay strings.
        return v if big_ints and dec is not None else None
    return v


def _go_int_range(v: int, sign: str) -> bool:
    """ParseInt (int64, any sign) or else ParseUint (uint64, no sign at all)."""
    return -_INT64 <= v < _INT64 or (sign == "" and 0 <= v < _UINT64)


def _underscore_ok(s: str) -> bool:
    """Go's strconv.underscoreOK: ``_`` only between digits (decimal here)."""
    saw = "^"
    for ch in s:
        if "0" <= ch <= "9":
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _dot_float(text: str) -> Any:
    """``strconv.ParseFloat`` of a scalar starting with ``.`` (else the text)."""
    if not _DOT_FLOAT.fullmatch(text) or ("_" in text and not _underscore_ok(text)):
        return text
    f = float(text.replace("_", ""))
    return text if math.isinf(f) else f   # ErrRange: go-yaml keeps the string


def _prefixed_signed(plain: str) -> int | None:
    """``0b-1``/``0o+7``: go-yaml's ParseInt(plain[2:], base) fallback."""
    m = _PREFIX_SIGNED.fullmatch(plain)
    if not m or not m.group(2):
        return None
    base, digits = (2, "01") if m.group(1) == "b" else (8, "01234567")
    if any(ch not in digits for ch in m.group(3)):
        return None
    v = int(m.group(3), base) * (-1 if m.group(2) == "-" else 1)
    return v if -_INT64 <= v < _INT64 else None


def resolve_plain(text: str, timestamps: bool = True, big_ints: bool = True) -> Any:
    """The value of an untagged plain scalar.

    ``big_ints`` keeps integers of any size as ``int`` (secretsctl's choice,
    docs/format.md §16); without it, out-of-range ones follow go-yaml (float
    if float-shaped, else string) — the emitter uses that to decide quoting.
    """
    if text in _SPECIAL:
        return _SPECIAL[text]
    first = text[0]
    if first == ".":
        return _dot_float(text)
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
        if not math.isinf(f):
            return f
    v = _prefixed_signed(plain)
    return text if v is None else v


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
