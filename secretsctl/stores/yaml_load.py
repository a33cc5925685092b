"""YAML bytes -> document trees, resolving types the way sops (go-yaml v3) does.

ruamel.yaml is used only as a tokenizer/parser (events with positions); the
composition, type resolution (docs/format.md §3.4) and comment attribution
(§9.1.1) are ours, because both of ruamel's loaders resolve YAML 1.2 types
and attach comments differently from go-yaml.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import re
from dataclasses import dataclass
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import YAMLError

from ..errors import EmptyDocumentError, EncryptError, InputError
from ..tree import Branch, Comment, Item, bytes_to_str
from .yaml_comments import (Attach, Entry, Node, SourceComment, attribute, collect_entries,
                            gap_marks, move_doc_head, next_start)
from .yaml_errors import decode_utf8 as _decode
from .yaml_errors import yaml_error as _yaml_error
from .yaml_guard import AliasGuard, check_merge_value, is_merge_key
from .yaml_resolve import ResolveError, resolve_plain, resolve_tagged

__all__ = ["load_documents", "check_depth"]

try:  # the C parser of the same project (libyaml); optional
    from _ruamel_yaml import CParser  # type: ignore[import-not-found]
    _HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - platforms without a wheel
    _HAVE_LIBYAML = False

_NEWLINE = re.compile("\n")

# go-yaml refuses documents whose aliases expand too much; we keep a budget
# of built nodes so that an alias bomb cannot exhaust memory.
_NODE_BUDGET = 5_000_000

# Collections nested deeper than this are refused while parsing.  go-yaml's
# limit is 10,000; our composer, tree walk and emitters recurse, and the
# interpreter's stack ends a little above 450 levels.  Counting on the
# event stream also bounds the time: libyaml's scanner does work
# proportional to the open flow levels for every token, so a 100 KB line
# of `[` took 53 s to refuse (sops: 0.02 s).
MAX_DEPTH = 400
_OPEN = (ev.SequenceStartEvent, ev.MappingStartEvent)
_CLOSE = (ev.SequenceEndEvent, ev.MappingEndEvent)

# go-yaml (YAML 1.1) treats U+2028/U+2029 as line breaks and writes them raw
# in single quotes and literal blocks (then indents the rest of the line);
# ruamel does not read that back.  The parser therefore sees them as \n
# (same offsets) and the affected scalar values are corrected afterwards.
_RAW_BREAKS = "\u2028\u2029"
_AS_NEWLINE = {ord(c): "\n" for c in _RAW_BREAKS}


def _source_breaks(src: str, pos: int) -> Iterator[str]:
    """The line breaks of ``src`` from ``pos`` on, as go-yaml reads them."""
    while pos < len(src):
        ch = src[pos]
        if ch in "\r\n\x85" + _RAW_BREAKS:
            if ch == "\r" and src.startswith("\n", pos + 1):
                pos += 1
            yield ch if ch in _RAW_BREAKS else "\n"
        pos += 1


def _literal_breaks(src: str, start: int, value: str) -> str:
    """A literal block's value with its breaks as written in the source:
    each break of the value is the next source break after the header."""
    header_end = src.find("\n", start)   # header lines end with a real \n
    breaks = _source_breaks(src, header_end + 1)
    return "".join(next(breaks, "\n") if ch == "\n" else ch for ch in value)


def _single_quoted(body: str) -> str:
    """go-yaml's folding of a single-quoted scalar's source text."""
    lines = [""]
    seps: list[str] = []
    for ch in _split_keep(body):
        if isinstance(ch, tuple):
            seps.append(ch[0])
            lines.append("")
        else:
            lines[-1] += ch
    out = lines[0].rstrip(" \t")
    i = 1
    while i < len(lines):
        lead = seps[i - 1]
        trail = []
        while i < len(lines) - 1 and lines[i].strip(" \t") == "":
            trail.append(seps[i])
            i += 1
        text = lines[i].lstrip(" \t")
        text = text if i == len(lines) - 1 else text.rstrip(" \t")
        if lead == "\n":
            out += "".join(trail) if trail else " "
        else:
            out += lead + "".join(trail)
        out += text
        i += 1
    return out.replace("''", "'")


def _split_keep(body: str) -> Iterator[str | tuple[str]]:
    """Characters of ``body``, with each line break as a 1-tuple."""
    breaks = iter(_source_breaks(body, 0))
    i = 0
    while i < len(body):
        ch = body[i]
        if ch in "\r\n\x85" + _RAW_BREAKS:
            yield (next(breaks),)
            if ch == "\r" and body.startswith("\n", i + 1):
                i += 1
        else:
            yield ch
        i += 1


def _raw_break_value(src: str, e: Any) -> str:
    """The value go-yaml reads for a scalar whose source has raw breaks."""
    start, end = e.start_mark.index, e.end_mark.index
    if not any(c in src[start:end] for c in _RAW_BREAKS) and e.style != "|":
        return e.value
    if e.style == "|":
        return _literal_breaks(src, start, e.value)
    if e.style == "'":
        return _single_quoted(src[start + 1:end - 1])
    return e.value   # folded/double-quoted/plain: never written raw by go-yaml


@dataclass(frozen=True, slots=True)
class Span:
    """The source range an event covers (scalar text with its properties, `[`, `---` …)."""

    start: int
    end: int
    block_scalar: bool = False   # `|`/`>`: the header line may hold a comment


def _parse(text: str) -> tuple[list[Any], list[Span]]:
    """Parser events and the source spans they cover.

    libyaml (``ruamel.yaml.clib``) parses ~20x faster than ruamel's pure
    Python scanner, which dominated load time; the pure parser is the
    fallback.  Comments and block-entry dashes are found in the gaps
    between event spans (:func:`gap_marks`), so no token stream is needed.
    """
    if _HAVE_LIBYAML:
        # The bare C parser: ``YAML(typ="safe").parse`` would wrap it in a
        # loader class built per call (plus a plug-in glob), 3x the cost of
        # parsing a small file, and we only want the events.
        parser = CParser(text)
        try:
            events = _bounded(iter(lambda: parser.get_event() if parser.check_event() else None,
                                   None))
        finally:
            parser.dispose()
    else:
        events = _bounded(YAML(typ="safe", pure=True).parse(text))
    spans = [Span(e.start_mark.index, _span_end(text, e),
                  isinstance(e, ev.ScalarEvent) and e.style in ("|", ">"))
             for e in events if e.end_mark.index > e.start_mark.index]
    return events, spans


def _bounded(source: Iterator[Any]) -> list[Any]:
    """All events of ``source``, refusing nesting deeper than :data:`MAX_DEPTH`
    as soon as it is reached (the rest of the input is never scanned)."""
    events, depth = [], 0
    for e in source:
        if isinstance(e, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"Error unmarshalling input yaml: yaml: line "
                                 f"{e.start_mark.line + 1}: exceeded max depth of {MAX_DEPTH}")
        elif isinstance(e, _CLOSE):
            depth -= 1
        events.append(e)
    return events


def check_depth(data: bytes) -> None:
    """Refuse YAML nested deeper than :data:`MAX_DEPTH` (``InputError``), in bounded
    time, for callers that parse with another loader (``.sops.yaml``).  Any
    other problem is left to that loader to report."""
    try:
        _parse(_decode(data).translate(_AS_NEWLINE))
    except (YAMLError, IndexError, KeyError, TypeError, AttributeError):
        pass


def _span_end(text: str, e: Any) -> int:
    """End of an event's span, without the first ``-`` of an indentless list
    (libyaml's start event covers it; the item's column places comments)."""
    end = e.end_mark.index
    if isinstance(e, ev.SequenceStartEvent) and not e.flow_style and text[end - 1:end] == "-":
        return end - 1
    return end


# --------------------------------------------------------------------------
# composition (events -> Node graph)


class _Composer:
    """Build Nodes from parser events, expanding nothing yet (aliases share)."""

    def __init__(self, events: Iterator[Any], dashes: list[int], src: str = "") -> None:
        self.events = events
        self.dashes = dashes
        self.src = src   # the original text, only when it has raw U+2028/9
        self.anchors: dict[str, Node] = {}
        self.guard = AliasGuard()   # go-yaml's alias bomb check, per document

    def documents(self) -> list[tuple[int, Node | None]]:
        """(start offset, root node) for each document of the stream."""
        out: list[tuple[int, Node | None]] = []
        for e in self.events:
            if isinstance(e, ev.DocumentStartEvent):
                start = e.start_mark.index
                root = self.node(next(self.events))
                out.append((start, root))
                self.anchors, self.guard = {}, AliasGuard()
        return out

    def _dash_before(self, offset: int) -> int:
        """Offset of the ``-`` introducing a block sequence item at ``offset``."""
        i = bisect.bisect_right(self.dashes, offset) - 1
        return self.dashes[i] if i >= 0 else offset

    def node(self, e: Any) -> Node:
        m = e.start_mark
        if isinstance(e, ev.AliasEvent):
            if e.anchor not in self.anchors:
                # No anchor name: an unquoted value such as `*Pa55word` is
                # parsed as an alias, so the "name" is often a secret.
                raise InputError(f"Error unmarshalling input yaml: yaml: line {m.line + 1}: "
                                 "unknown anchor referenced")
            self.guard.alias(self.anchors[e.anchor], m.line)
            return self.anchors[e.anchor]
        self.guard.open()
        if isinstance(e, ev.ScalarEvent):
            tag = None if e.tag in (None, "!") else e.tag
            value = _raw_break_value(self.src, e) if self.src else e.value
            n = Node("scalar", m.index, m.line, m.column, value=value,
                     style=e.style or None, tag=tag)
        elif isinstance(e, ev.SequenceStartEvent):
            n = Node("seq", m.index, m.line, m.column, flow=bool(e.flow_style), items=[])
            for child in iter(lambda: next(self.events), None):
                if isinstance(child, ev.SequenceEndEvent):
                    n.end = child.end_mark.index
                    break
                item = self.node(child)
                dash = item.index if n.flow else self._dash_before(child.start_mark.index)
                n.items.append((dash, item))
        elif isinstance(e, ev.MappingStartEvent):
            n = Node("map", m.index, m.line, m.column, flow=bool(e.flow_style), pairs=[])
            for child in iter(lambda: next(self.events), None):
                if isinstance(child, ev.MappingEndEvent):
                    n.end = child.end_mark.index
                    break
                key = self.node(child)
                n.pairs.append((key, self.node(next(self.events))))
        else:  # pragma: no cover - parser guarantees node events here
            raise InputError(f"Error unmarshalling input yaml: unexpected {type(e).__name__}")
        if getattr(e, "anchor", None):
            self.anchors[e.anchor] = n
        self.guard.close(n, bool(getattr(e, "anchor", None)))
        return n


# --------------------------------------------------------------------------
# building the tree


class _Builder:
    """Node graph -> tree values (aliases become deep copies)."""

    def __init__(self, attach: Attach, plain: bool) -> None:
        self.attach = attach
        self.plain = plain
        self.budget = _NODE_BUDGET

    def value(self, n: Node, path: str, timestamps: bool = True) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise InputError("Error unmarshalling input yaml: yaml: document contains "
                             "excessive aliasing")
        if n.kind == "scalar":
            return self.scalar(n, timestamps)
        if n.kind == "seq":
            out: list[Any] = []
            for i, (_, child) in enumerate(n.items):
                out.extend(Comment(t) for t in self._comments(n, i))
                out.append(self.value(child, f"{path}[{i}]", timestamps))
            out.extend(Comment(t) for t in self._comments(n, len(n.items)))
            return out
        return self.mapping(n, path, timestamps)

    def _comments(self, n: Node, idx: int) -> list[str]:
        return self.attach.get(id(n), {}).get(idx, [])

    def mapping(self, n: Node, path: str, timestamps: bool) -> Branch:
        out = Branch()
        seen: dict[str, int] = {}
        for i, (k, v) in enumerate(n.pairs):
            out.extend(Comment(t) for t in self._comments(n, i))
            if self.plain and is_merge_key(k):  # plaintext only: go-yaml's decoder rule
                check_merge_value(k, v)
            key = self.key(k, path)
            if key in seen:
                # go-yaml refuses duplicates in every file sops reads, plain
                # or encrypted (only the prefix of the message differs).
                what = "file" if self.plain else "input yaml"
                raise InputError(f"Error unmarshalling {what}: yaml: unmarshal errors:\n  "
                                 f"line {k.line + 1}: mapping key \"{key}\" already defined "
                                 f"at line {seen[key] + 1}")
            seen.setdefault(key, k.line)
            # The metadata keeps its timestamps as text (they are Go strings
            # in sops's struct), so resolution is switched off below `sops`.
            ts = timestamps and not (path == "" and key == "sops" and not self.plain)
            out.append(Item(key, self.value(v, f"{path}['{key}']", ts)))
        out.extend(Comment(t) for t in self._comments(n, len(n.pairs)))
        return out

    def key(self, k: Node, path: str) -> str:
        """Mapping keys must resolve to strings (sops: exit 23 otherwise)."""
        if k.kind == "scalar":
            if k.style is None and k.tag is None and k.value == "<<":
                return "<<"   # the merge key stays a literal key (§3.4)
            val = self.scalar(k, True)
            if isinstance(val, str):
                return val
            kind = type(val).__name__
        else:
            kind = "map" if k.kind == "map" else "slice"
        raise EncryptError(f"Error walking tree: Tree contains a non-string key (type {kind}) "
                           f"at line {k.line + 1} under {path or 'the document root'}: "
                           "Only string keys are supported")

    def scalar(self, n: Node, timestamps: bool) -> Any:
        if n.tag is not None:
            if n.tag.endswith(":binary"):
                try:
                    raw = base64.b64decode("".join(n.value.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise InputError(f"Error unmarshalling input yaml: yaml: line {n.line + 1}: "
                                     "!!binary value contains invalid base64 data") from None
                return bytes_to_str(raw)
            try:
                return resolve_tagged(n.tag, n.value, n.style is None, timestamps)
            except ResolveError as exc:
                raise InputError(f"Error unmarshalling input yaml: yaml: line {n.line + 1}: "
                                 f"{exc}") from None
        if n.style is not None:
            return n.value
        return resolve_plain(n.value, timestamps)


def load_documents(data: bytes, *, plain: bool) -> list[Branch]:
    """Parse a YAML stream into documents (each must be a mapping)."""
    src = _decode(data)
    text = src.translate(_AS_NEWLINE)
    if text.strip() == "":
        raise EmptyDocumentError("File cannot be completely empty, it must contain at least "
                                 "one document")
    try:
        events, spans = _parse(text)
    except YAMLError as exc:
        raise _yaml_error(exc) from None
    except (IndexError, KeyError, TypeError, AttributeError):
        # ruamel bugs on odd input (e.g. a %TAG directive before the first
        # document raises IndexError): report a parse error, not a crash.
        raise InputError("Error unmarshalling input yaml: yaml: malformed document") from None
    comments, dashes = gap_marks(text, spans)
    raw = src if src != text else ""
    try:
        docs = _Composer(iter(events), dashes, raw).documents()
    except YAMLError as exc:
        raise _yaml_error(exc) from None
    if not docs:
        # Only comments (or `...`): go-yaml's decoder reports EOF.
        raise InputError("Error unmarshalling file: EOF")
    for i in range(1, len(docs)):
        move_doc_head(text, docs[i], comments)
    starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]

    def pos(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, offset) - 1
        return line, offset - starts[line]

    return [_build_doc(i, docs, comments, plain, pos) for i in range(len(docs))]


def _build_doc(i: int, docs: list[tuple[int, Node | None]], comments: list[SourceComment],
               plain: bool, pos: Any) -> Branch:
    start, root = docs[i]
    end = docs[i + 1][0] if i + 1 < len(docs) else None
    mine = [c for c in comments
            if ((c.index >= start or i == 0) and (end is None or c.index < end)
                and not c.to_previous_doc)
            or (end is not None and c.to_previous_doc and end <= c.index < next_start(docs, i + 1))]
    assert root is not None
    if root.kind == "scalar" and root.style is None and root.tag is None and \
            resolve_plain(root.value, False) is None:
        # An empty document (`---` alone) is an empty mapping.
        root = Node("map", root.index, root.line, root.col)
    if root.kind != "map":
        kind = {"seq": "!!seq"}.get(root.kind, "!!str")
        raise InputError(f"Error unmarshalling file: yaml: unmarshal errors:\n  line "
                         f"{root.line + 1}: cannot unmarshal {kind} into map[string]interface {{}}")
    entries: list[Entry] = []
    collect_entries(root, None, entries, set())
    entries.sort(key=lambda e: e.start)
    for e in entries:
        if e.col < 0:   # a block sequence item: position of its dash
            e.line, e.col = pos(e.start)
    attach = attribute(mine, root, entries, end is None)
    return _Builder(attach, plain).mapping(root, "", True)
