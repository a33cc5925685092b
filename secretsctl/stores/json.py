"""JSON store: bytes <-> tree the way sops's Go JSON store does it (§9.2).

Parsing keeps key order; an object with a duplicate key is refused.
Emission reproduces Go's ``json.Marshal`` of each scalar followed by
``json.Indent`` byte for byte.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

from .. import gofmt
from ..errors import EmitError, InputError, MetadataError
from ..tree import Branch, Comment, Item, Timestamp, bytes_to_str, first_duplicate, format_path
from .base import METADATA_KEY, TopLevelMetadata

__all__ = ["JsonStore", "go_json_string", "encode_json", "parse_json_object"]

# Characters Go's encoder escapes.  Go escapes <, > and & (HTML safety, on
# by default in json.Marshal) and U+2028/U+2029 (JavaScript line
# terminators); lone surrogates stand for invalid UTF-8, which Go writes as
# the \ufffd escape.
_ESCAPE = re.compile("[\"\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]")
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
          "\b": "\\b", "\f": "\\f"}
# One str.translate table (Go uses lower-case hex): the rewrite runs in C.
# A regex callback per character took 17 s and 2.5 GB to decrypt a 50 MB
# binary file to JSON (mostly lone surrogates); translate takes 3 s.
_TABLE = {**{c: "\\u%04x" % c for c in (*range(0x20), 0x3C, 0x3E, 0x26, 0x2028, 0x2029)},
          **{c: "\\ufffd" for c in range(0xD800, 0xE000)},
          **{ord(k): v for k, v in _SHORT.items()}}
_SURROGATE = re.compile("[\ud800-\udfff]")
_WS = " \t\n\r"  # JSON insignificant whitespace (Go's set)
_GROUP_NULLABLE = ("hc_vault", "age")


def go_json_string(text: str) -> str:
    """Quote ``text`` exactly like Go's ``json.Marshal`` (HTML-escaping on)."""
    return '"' + _escaped(text) + '"'


def _escaped(text: str) -> str:
    if _ESCAPE.search(text) is None:  # the common case: nothing to rewrite
        return text
    return text.translate(_TABLE)


def _scalar(value: Any, out: list[str]) -> None:
    if isinstance(value, (str, Timestamp)):
        # Three pieces, not one concatenation: a 50 MB value is copied once, by the final join.
        out.extend(('"', _escaped(value if isinstance(value, str) else value.text), '"'))
    elif value is None:
        out.append("null")
    elif isinstance(value, bool):  # before int: bool is an int subclass
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        try:
            out.append(gofmt.float_json(value))
        except ValueError as e:  # Inf/NaN: Go's "json: unsupported value"
            raise EmitError(str(e)) from None
    elif isinstance(value, bytes):
        # Go marshals []byte as base64; sops never produces bytes values.
        out.extend(('"', base64.b64encode(value).decode("ascii"), '"'))
    else:
        raise EmitError(f"cannot encode value of type {type(value).__name__} as JSON")


def encode_json(value: Any, indent: str | None = "\t", depth: int = 0) -> str:
    """Encode a tree value as Go's ``json.Indent`` would print it.

    ``indent=None`` gives compact output.  Comments are dropped, as sops
    does; empty containers are ``{}``/``[]``.
    """
    out: list[str] = []
    _write(value, out, indent, depth)
    return "".join(out)


def _write(value: Any, out: list[str], indent: str | None, depth: int) -> None:
    if isinstance(value, Branch):
        parts: list[tuple[str | None, Any]] = [(i.key, i.value) for i in value if isinstance(i, Item)]
        _container("{", "}", parts, out, indent, depth)
    elif isinstance(value, list):
        _container("[", "]", [(None, v) for v in value if not isinstance(v, Comment)], out, indent, depth)
    else:
        _scalar(value, out)


def _container(open_: str, close: str, parts: list[tuple[str | None, Any]], out: list[str],
               indent: str | None, depth: int) -> None:
    if not parts:
        out.append(open_ + close)
        return
    colon = ":" if indent is None else ": "
    inner = "" if indent is None else "\n" + indent * (depth + 1)
    sep = "," + inner
    out.append(open_ + inner)
    for n, (key, value) in enumerate(parts):
        if n:
            out.append(sep)
        if key is not None:
            out.append(go_json_string(key) + colon)
        _write(value, out, indent, depth + 1)
    out.append("" if indent is None else "\n" + indent * depth)
    out.append(close)


def _fix_surrogates(text: str) -> str:
    # Go decodes invalid UTF-8 and lone \uD800-style escapes to U+FFFD; both
    # arrive here as lone surrogates (surrogateescape / json escapes).
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _pairs_hook(pairs: list[tuple[str, Any]]) -> Branch:
    # A Branch, not a dict: it keeps key order, and duplicates until
    # _refuse_duplicates names the first one.
    return Branch(Item(_fix_surrogates(k), v) for k, v in pairs)


def _parse_int(text: str) -> Any:
    """JSON integer literal -> float, as sops does (every number is float64).

    Deliberate improvement: an integer a float64 cannot hold exactly stays a
    Python int so it round-trips instead of silently losing digits.
    """
    try:
        value = int(text)
    except ValueError:  # more digits than Python's int() accepts (4300)
        raise InputError("JSON number out of range for float64") from None
    if value == 0 and text.startswith("-"):
        return -0.0  # Go keeps the sign of "-0"
    try:
        as_float = float(value)
    except OverflowError:
        return value
    return as_float if as_float == value else value


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        # Go: "cannot unmarshal number 1E400 into Go value of type float64"
        raise InputError("JSON number out of range for float64")
    return value


def _parse_constant(name: str) -> Any:
    raise InputError(f"invalid JSON literal {name}")  # NaN/Infinity are not JSON


def _decode(text: str, start: int) -> Any:
    """Decode one JSON value at ``start`` with sops's rules; nothing may follow it."""
    decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_int=_parse_int,
                               parse_float=_parse_float, parse_constant=_parse_constant)
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON input: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise InputError("invalid JSON input: nested too deeply") from None
    if text[end:].strip(_WS):
        raise InputError("invalid JSON input: unexpected data after the top-level value")
    value = _fix_tree_strings(value)
    _refuse_duplicates(value)
    return value


def _refuse_duplicates(value: Any) -> None:
    """Refuse an object that repeats a key (deliberate difference from sops).

    sops's JSON store keeps both members, encrypts and decrypts them and
    prints them both; every JSON consumer then silently keeps one (Go's
    and Python's decoders the last), so a value inserted into an
    encrypted file could shadow an authenticated one.  The key is plain
    text in the file, so it may be named.
    """
    path = first_duplicate(value)
    if path is not None:
        raise InputError(f"invalid JSON input: duplicate key {go_json_string(str(path[-1]))}",
                         tree_path=format_path(path))


def parse_json_value(text: str) -> Any:
    """Any JSON value as a tree value, with the same rules as a JSON file.

    Numbers are floats (as in sops) unless a float64 cannot hold the
    integer exactly; objects keep order, a duplicate key is refused; lone surrogates
    become U+FFFD; NaN/Infinity/1e400 are refused (``InputError``).
    """
    return _decode(text, _value_start(text))


def _value_start(text: str) -> int:
    """Index of the first non-blank character; blank input is Go's EOF error."""
    start = len(text) - len(text.lstrip(_WS))
    if start == len(text):
        raise InputError("invalid JSON input: unexpected end of input (EOF)")
    return start


def parse_json_object(data: bytes) -> Branch:
    """Parse a JSON document whose top level must be an object.

    Raises ``InputError`` (exit 2) with a message free of input content.
    Unlike sops (which silently ignores anything after the first object),
    trailing non-whitespace content is rejected: dropping it would lose data.
    """
    text = bytes_to_str(data)
    start = _value_start(text)
    if text[start] != "{":
        raise InputError("Expected JSON object start, got something else instead")
    return _decode(text, start)


def _fix_tree_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _fix_surrogates(value)
    if isinstance(value, Branch):
        for item in value:
            item.value = _fix_tree_strings(item.value)
        return value
    if isinstance(value, list):
        value[:] = [_fix_tree_strings(v) for v in value]
    return value


def metadata_to_json(metadata: Branch) -> Branch:
    """Copy of ``metadata`` with key groups' empty ``hc_vault``/``age`` as null.

    sops's key-group struct lacks ``omitempty`` on these two fields, so an
    empty one is marshalled as JSON ``null`` (§7.1 quirk).
    """
    return _map_groups(metadata, lambda v: None if v == [] else v)


def metadata_from_json(metadata: Branch) -> Branch:
    """Inverse of :func:`metadata_to_json`, plus ``shamir_threshold`` -> int.

    JSON numbers are floats here, but the only numeric metadata field
    (``shamir_threshold``) is an int in sops's struct.
    """
    out = _map_groups(metadata, lambda v: [] if v is None else v)
    for item in out:
        if (isinstance(item, Item) and item.key == "shamir_threshold"
                and isinstance(item.value, float) and item.value.is_integer()):
            item.value = int(item.value)
    return out


def _map_groups(metadata: Branch, fix: Any) -> Branch:
    out = Branch(Item(i.key, i.value) if isinstance(i, Item) else i for i in metadata)
    for item in out:
        if isinstance(item, Item) and item.key == "key_groups" and isinstance(item.value, list):
            item.value = [_fix_group(g, fix) for g in item.value]
    return out


def _fix_group(group: Any, fix: Any) -> Any:
    if not isinstance(group, Branch):
        return group
    return Branch(Item(i.key, fix(i.value)) if isinstance(i, Item) and i.key in _GROUP_NULLABLE
                  else i for i in group)


class JsonStore(TopLevelMetadata):
    """sops's JSON store.  ``indent``: -1 tab, N >= 0 that many spaces."""

    name = "json"
    single_value = False
    holds_null = True
    example = (b'{\n\t"hello": "Welcome to SOPS! Edit this file as you please!",\n'
               b'\t"example_key": "example_value",\n'
               b'\t"example_array": [\n\t\t"example_value1",\n\t\t"example_value2"\n\t],\n'
               b'\t"example_number": 1234.56789,\n'
               b'\t"example_booleans": [\n\t\ttrue,\n\t\tfalse\n\t]\n}')

    def __init__(self, indent: int = -1) -> None:
        self.indent = indent

    def _indent_text(self) -> str:
        if self.indent < -1:
            raise EmitError("JSON Indentation parameter smaller than -1 is not accepted")
        # -1 means a tab; 0 still breaks lines, just without indentation.
        return "\t" if self.indent == -1 else " " * self.indent

    def _emit_doc(self, doc: Branch) -> bytes:
        return (encode_json(doc, self._indent_text()) + "\n").encode("utf-8")

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse a plaintext JSON object (one document)."""
        return [parse_json_object(data)]

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Parse an encrypted JSON file; the ``sops`` member is split off."""
        doc = parse_json_object(data)
        meta = doc.get(METADATA_KEY)   # never twice: the parser refuses duplicates
        if not isinstance(meta, Branch):
            raise MetadataError("sops metadata not found")
        doc.remove_key(METADATA_KEY)
        return [doc], metadata_from_json(meta)

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Emit the first document (sops ignores further YAML documents)."""
        return self._emit_doc(docs[0] if docs else Branch())

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Emit the document with ``"sops": {...}`` as the last member."""
        doc = Branch(docs[0] if docs else [])
        doc.append(Item(METADATA_KEY, metadata_to_json(metadata)))
        return self._emit_doc(doc)

    def emit_value(self, value: Any) -> bytes:
        """One extracted value (§10): strings raw, objects with a final newline."""
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, Branch):
            return self._emit_doc(value)
        return encode_json(value, self._indent_text()).encode("utf-8")

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if the top-level object has a ``sops`` member."""
        return any(METADATA_KEY in d for d in docs)
