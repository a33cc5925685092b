"""Tree -> YAML text, byte-compatible with what sops (go-yaml v3) writes.

Layout follows docs/format.md §9.1.2 (indent ``I``, sequences indented
under their key, mappings inside sequences at ``dash + 2``), scalar styles
§9.1.3 (go-yaml's analyse-then-downgrade: plain -> single -> double, literal
blocks for multi-line text) and comments §9.1.4.  Generic emitters
(PyYAML/ruamel) wrap lines, quote differently and indent differently, hence
this dedicated one.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from ..errors import EmitError
from ..gofmt import float_yaml
from ..tree import Branch, Comment, Item, Timestamp, str_to_bytes
from .yaml_resolve import is_base60_float, is_old_bool, resolve_plain

__all__ = ["Emitter", "scalar_text"]

_BREAKS = "\r\n\x85\u2028\u2029"
# Breaks other than \n that go-yaml writes raw (inside single quotes and
# literal blocks); it then treats the rest of the line as a new line.
_RAW_BREAKS = "\u2028\u2029"
# Marks an emitted line that ends in a raw break: the next line follows it
# directly, without a \n (NUL itself is always written escaped).
_JOIN = "\x00"
_FIRST_INDICATORS = "#,[]{}&*!|>'\"%@`"
_ESCAPES = {"\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f",
            "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
            "\u2028": "L", "\u2029": "P"}


def _printable(ch: str) -> bool:
    """go-yaml's is_printable (4-byte UTF-8 and C1 controls are not)."""
    return (ch in "\n\t" or "\x20" <= ch <= "\x7e" or "\xa0" <= ch <= "\ud7ff"
            or ("\ue000" <= ch <= "\ufffd" and ch != "\ufeff"))


@dataclass
class _Analysis:
    """The subset of go-yaml's scalar analysis that decides the style."""

    plain: bool = True
    single: bool = True
    block: bool = True
    multiline: bool = False


# Starts with a letter or digit, then printable ASCII without blanks, and
# does not end in ":" (the end of the string counts as a blank after it): no
# rule below can fire (no ": ", no " #", no leading indicator, no break).
# Every ENC[...] value is such a string, so this skips the per-character
# loop for nearly everything an encrypted file holds.
_SIMPLE = re.compile(r"[A-Za-z0-9](?:[!-~]*[!-9;-~])?")


def _analyze(s: str) -> _Analysis:
    """Which styles can carry ``s`` (a port of the *rules*, not of the code)."""
    a = _Analysis()
    if _SIMPLE.fullmatch(s):
        return a
    if not s:
        a.plain = a.block = False
        return a
    block_ind = s.startswith(("---", "...")) or s[0] in _FIRST_INDICATORS
    if s[0] in "?:-" and (len(s) == 1 or s[1] in " \t" + _BREAKS):
        block_ind = True
    special = tab = space_break = break_space = False
    for i, ch in enumerate(s):
        # go-yaml: "followed by" checks blanks only, "preceded by" also
        # breaks and NUL.
        follow_ws = i + 1 >= len(s) or s[i + 1] in " \t"
        prev_ws = i == 0 or s[i - 1] in " \t\0" + _BREAKS
        if i > 0 and ((ch == ":" and follow_ws) or (ch == "#" and prev_ws)):
            block_ind = True
        if ch == "\t":
            tab = True
        elif not _printable(ch):
            special = True
        if ch in _BREAKS:
            a.multiline = True
            if i > 0 and s[i - 1] == " ":
                space_break = True
        elif ch == " " and i > 0 and s[i - 1] in _BREAKS:
            break_space = True
    edge = s[0] in " " + _BREAKS or s[-1] in " " + _BREAKS
    if edge or a.multiline or block_ind:
        a.plain = False
    if s[-1] == " ":
        a.block = False
    if break_space or space_break or tab or special:
        a.plain = False
        a.single = False
    if space_break or special or s[0] == "\t":
        # A literal block with a leading tab and no indentation indicator
        # is rejected by go-yaml's scanner (and ours): "found a tab character
        # where an indentation space is expected"; sops then writes `null`.
        # Double quotes, as libyaml chooses for any tab.
        a.block = False
    return a


def _double(s: str) -> str:
    # go-yaml's BOM test looks at the start of the value, so a string that
    # starts with U+FEFF has every character escaped (`\x41` for `A`).
    escape_all = s.startswith("\ufeff")
    out = ['"']
    for ch in s:
        if ch in _ESCAPES and (ch != "\xa0" or escape_all):
            out.append("\\" + _ESCAPES[ch])
        elif escape_all or not _printable(ch) or ch == "\ufeff" or ch == "\t":
            n = ord(ch)
            out.append("\\x%02X" % n if n <= 0xFF else "\\u%04X" % n if n <= 0xFFFF
                       else "\\U%08X" % n)
        else:
            out.append(ch)
    return "".join(out) + '"'


def _with_breaks(s: str, indent: int, quote: str = "") -> str:
    """go-yaml's single-quoted / literal writers: breaks are copied, and the
    first character after a run of breaks is indented to ``indent``."""
    out = []
    breaks = not quote   # a literal block starts on a fresh line
    for ch in s:
        if ch in _BREAKS:
            if quote and not breaks and ch == "\n":
                out.append("\n")   # a quoted scalar folds: \n needs a blank line
            out.append(ch)
            breaks = True
        else:
            if breaks:
                out.append(" " * indent)
            out.append(ch + ch if ch == quote else ch)
            breaks = False
    return "".join(out)


def _single(s: str, indent: int) -> str:
    return "'" + _with_breaks(s, indent, "'") + "'"


def _split(text: str) -> list[str]:
    """Physical lines of ``text``; a trailing raw break marks a joined line."""
    lines = text.split("\n")
    if text and text[-1] in _RAW_BREAKS:
        lines[-1] += _JOIN
    return lines


def _needs_quotes(s: str) -> bool:
    """Plain text that would read back as a non-string (YAML 1.1 or 1.2)."""
    if is_old_bool(s) or is_base60_float(s) or s == "<<":
        return True
    return not isinstance(resolve_plain(s, True, big_ints=False), str)


def scalar_text(value: Any) -> str:
    """One-line text of a non-string scalar (int, float, bool, null, time)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_yaml(value)
    if isinstance(value, Timestamp):
        return value.text
    raise EmitError(f"cannot emit a value of type {type(value).__name__}")


class Emitter:
    """Writes documents with indent ``I``; output is a list of lines."""

    def __init__(self, indent: int = 4) -> None:
        if indent < 0:
            raise EmitError("YAML Negative indentation not accepted")
        # sops: 0 is the default; go-yaml takes 2 for others outside 2..9.
        self.indent = 4 if indent == 0 else indent if 2 <= indent <= 9 else 2
        self.lines: list[str] = []

    def _next(self, col: int) -> int:
        """Next multiple of the indent strictly greater than ``col``."""
        return self.indent * ((col + self.indent) // self.indent)

    # -- scalars -----------------------------------------------------------

    def _string(self, s: str, key: bool, block_col: int, parent: int = 0) -> tuple[str, list[str]]:
        """(inline text, literal-block lines at ``block_col``; parent at ``parent``)."""
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            return self._binary(str_to_bytes(s), block_col)
        if s == "<<":
            # go-yaml resolves `<<` to the merge tag and writes it tagged,
            # for keys and values alike.
            return "!!merge <<", []
        a = _analyze(s)
        if "\n" in s and not key:
            # go-yaml asks for a literal block for every multi-line string
            # and falls back to double quotes when the block cannot carry it.
            if a.block:
                return self._literal(s, block_col, parent)
            return _double(s), []
        if _needs_quotes(s):
            return _double(s), []
        if a.plain:
            return s, []
        if a.single and not (key and a.multiline):
            return _single(s, block_col), []
        return _double(s), []

    def _literal(self, s: str, col: int, parent: int) -> tuple[str, list[str]]:
        header = "|"
        if s[0] in " " + _BREAKS:
            # Readers add the indicator to the parent's column.  go-yaml
            # writes I, wrong in a sequence (content at dash + 2, sops cannot
            # read its own output back), so we write the real offset.
            header += str(col - parent)
        # Chomping looks at any break kind, not only \n.
        if s[-1] not in _BREAKS:
            header += "-"
        elif len(s) == 1 or s[-2] in _BREAKS:
            header += "+"
        text = _with_breaks(s, col)
        if text.endswith("\n"):
            return header, text[:-1].split("\n")   # the final \n ends the last line
        return header, _split(text)

    def _binary(self, raw: bytes, col: int) -> tuple[str, list[str]]:
        # Invalid UTF-8 is written as !!binary like go-yaml; long payloads are
        # broken into 70-character lines inside a literal block.
        b64 = base64.b64encode(raw).decode()
        if len(b64) <= 70:
            return "!!binary " + b64, []
        chunks = [b64[i:i + 70] for i in range(0, len(b64), 70)]
        return "!!binary |", [" " * col + c for c in chunks]

    def _simple_key(self, key: Any) -> str | None:
        """The key's one-line text, or None if go-yaml needs the ``?`` form.

        go-yaml writes a simple key only for a one-line scalar of at most
        128 bytes (counting a written tag, e.g. ``!!binary``).
        """
        if not isinstance(key, str):
            raise EmitError(f"cannot emit a mapping key of type {type(key).__name__}")
        if key == "<<":
            return "!!merge <<"
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            text, block = self._binary(str_to_bytes(key), 0)
            return None if block else text
        if size > 128 or any(ch in _BREAKS for ch in key):
            return None
        return self._string(key, True, 0)[0]

    # -- collections -------------------------------------------------------

    def _comment(self, col: int, c: Comment) -> None:
        self._add(" " * col + "#" + c.text, [])

    def mapping(self, branch: Branch, col: int) -> None:
        """Emit the entries of a non-empty mapping at column ``col``."""
        for entry in branch:
            if isinstance(entry, Comment):
                self._comment(col, entry)
            elif isinstance(entry, Item):
                self._item(entry, col)
            else:
                raise EmitError(f"unexpected mapping entry {type(entry).__name__}")

    def _complex_key(self, key: str, col: int) -> None:
        """Emit ``? key`` (the explicit form for keys that are not simple)."""
        text, block = self._value(key, self._next(col), col)
        self._add(" " * col + "? " + text, block)

    def _add(self, first: str, rest: list[str]) -> None:
        """Append lines; a line ending in a raw break absorbs the next one."""
        for line in [first] + rest:
            if self.lines and self.lines[-1].endswith(_JOIN):
                # go-yaml is at column 0 after the break: the indentation of
                # the next line is written, but no line break.
                self.lines[-1] = self.lines[-1][:-1] + line
            else:
                self.lines.append(line)

    def _item(self, item: Item, col: int) -> None:
        simple = self._simple_key(item.key)
        if simple is None:
            self._complex_key(item.key, col)
            head = " " * col + ":"
        else:
            head = " " * col + simple + ":"
        v = item.value
        if isinstance(v, (Branch, list)):
            if not _has_values(v):
                # Comments of an empty collection can only go above the key.
                for c in v:
                    self._comment(col, c)
                self._add(head + (" {}" if isinstance(v, Branch) else " []"), [])
                return
            self._add(head, [])
            start = len(self.lines)
            inner = self._next(col)
            if isinstance(v, Branch):
                self.mapping(v, inner)
            else:
                self.sequence(v, inner)
            if simple is None and inner > col + 1:
                # After an explicit key go-yaml stays on the `:` line and
                # indents the collection's first line from there.
                self.lines[start - 1] += self.lines.pop(start)[col + 1:]
            return
        text, block = self._value(v, self._next(col), col)
        self._add(head + " " + text, block)

    def _value(self, v: Any, block_col: int, parent: int) -> tuple[str, list[str]]:
        if isinstance(v, str):
            return self._string(v, False, block_col, parent)
        if isinstance(v, bytes):
            return self._binary(v, block_col)
        return scalar_text(v), []

    def sequence(self, seq: list[Any], dash: int) -> None:
        """Emit the elements of a non-empty sequence with dashes at ``dash``."""
        for elem in seq:
            if isinstance(elem, Comment):
                # Comments inside lists stay comment lines (docs/format.md §16).
                self._comment(dash, elem)
                continue
            if isinstance(elem, (Branch, list)) and _has_values(elem):
                self._nested(elem, dash)
                continue
            if isinstance(elem, (Branch, list)):
                for c in elem:
                    self._comment(dash, c)
                text, block = ("{}" if isinstance(elem, Branch) else "[]"), list[str]()
            else:
                text, block = self._value(elem, dash + 2, dash)
            self._add(" " * dash + "- " + text, block)

    def _nested(self, elem: list[Any], dash: int) -> None:
        """A collection inside a sequence starts on the dash line."""
        # Leading comments of the element are written at the dash column,
        # above the dash, as sops does for a mapping's head comments.
        n = 0
        while isinstance(elem[n], Comment):
            self._comment(dash, elem[n])
            n += 1
        # After a raw break the first line is joined to the previous one
        # (see _add): the dash goes after that line's own text.
        joined = bool(self.lines) and self.lines[-1].endswith(_JOIN)
        start = len(self.lines) - joined
        cut = len(self.lines[-1]) - 1 if joined else 0
        rest = type(elem)(elem[n:])
        if isinstance(elem, Branch):
            self.mapping(rest, dash + 2)   # type: ignore[arg-type]
        else:
            self.sequence(rest, dash + 2)
        first = self.lines[start]
        self.lines[start] = first[:cut] + " " * dash + "- " + first[cut + dash + 2:]

    def document(self, doc: Branch) -> None:
        """Emit one document (``{}`` when it has no keys)."""
        if not _has_values(doc):
            for c in doc:
                self._comment(0, c)
            self._add("{}", [])
            return
        self.mapping(doc, 0)

    def text(self) -> str:
        """The emitted lines, each ended by a newline (unless it ends in a raw
        break: then the document, or the next ``---``, follows directly)."""
        return "".join(line[:-1] if line.endswith(_JOIN) else line + "\n"
                       for line in self.lines)


def _has_values(coll: list[Any]) -> bool:
    return any(not isinstance(e, Comment) for e in coll)


def emit_documents(docs: list[Branch], indent: int = 4) -> bytes:
    """Documents separated by ``---`` lines (no leading ``---``)."""
    parts = []
    for doc in docs:
        e = Emitter(indent)
        e.document(doc)
        parts.append(e.text())
    return "---\n".join(parts).encode("utf-8", "surrogateescape")


def emit_scalar_document(value: Any, indent: int = 4) -> bytes:
    """A non-mapping value as its own YAML document (``42\\n``, ``- x\\n``)."""
    e = Emitter(indent)
    if isinstance(value, list) and not isinstance(value, Branch):
        if _has_values(value):
            e.sequence(value, 0)
        else:
            e.lines.append("[]")
    else:
        text, block = e._value(value, e.indent, 0)
        e._add(text, block)
    return e.text().encode("utf-8", "surrogateescape")
