"""INI store (§9.4): sops uses go-ini, so this module mimics go-ini's parser
and writer with the options sops uses (non-unique sections, inline
comments on, pretty format, continuation lines on).

Tree shape: every section is a top-level item whose value is a Branch; keys
before any header belong to ``DEFAULT``, which go-ini always lists first
(even when empty).  A section comment is the section's first item, a key's
comment is placed right *after* the key (that is where sops puts it, and the
walk order decides the AAD and the IV order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import EmitError, InputError, MetadataError
from ..tree import Branch, Comment, Item, bytes_to_str, str_to_bytes
from .base import METADATA_KEY, TopLevelMetadata
from .dotenv import val_to_string
from .flatten import flatten, unflatten

__all__ = ["IniStore", "parse_ini", "emit_ini"]

DEFAULT_SECTION = "DEFAULT"
_DELIMITERS = "=:"  # go-ini's default key/value delimiters
# Go's unicode.IsSpace set (TrimSpace/TrimLeftFunc), not Python's isspace.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" \
            "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _trim(text: str) -> str:
    return text.strip(_GO_SPACE)


@dataclass
class _Key:
    value: str
    comment: str = ""


@dataclass
class _Section:
    name: str
    comment: str = ""
    line: int = 0
    keys: dict[str, _Key] = field(default_factory=dict)


class _Parser:
    """A line reader with go-ini's state: pending comment, auto-key counter."""

    def __init__(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]  # go-ini drops a UTF-8 BOM
        self.lines = _split_lf(text)  # go-ini splits on \n only
        self.pos = 0
        self.lineno = 0
        self.comment = ""
        self.count = 1
        self.sections = [_Section(DEFAULT_SECTION, line=1)]

    def eof(self) -> bool:
        return self.pos >= len(self.lines)

    def read_line(self) -> str:
        """Next line including its ``\\n`` ('' at end of input)."""
        if self.eof():
            return ""
        line = self.lines[self.pos]
        self.pos += 1
        self.lineno += 1
        return line

    def error(self, what: str) -> InputError:
        # Line numbers only: INI values may be secrets.
        return InputError(f"invalid INI input line {self.lineno}: {what}")

    def parse(self) -> list[_Section]:
        section = self.sections[0]
        while not self.eof():
            line = self.read_line().lstrip(_GO_SPACE)
            if not line:
                continue
            if line[0] in "#;":
                self.comment += line  # multi-line comments keep their newlines
            elif line[0] == "[":
                section = self._section(line)
            else:
                self._key(section, line)
        self._check_sections()
        return self.sections

    def _check_sections(self) -> None:
        """Refuse a section name used twice (deliberate difference from sops).

        go-ini (AllowNonUniqueSections) keeps both and sops prints both, but
        as JSON or YAML the later one shadows the earlier.  The implicit
        ``DEFAULT`` section, when nothing is in it, is not a use of the name
        (a file may start with ``[DEFAULT]``).
        """
        seen: dict[str, int] = {}
        for n, section in enumerate(self.sections):
            if n == 0 and not section.keys and not section.comment:
                continue
            if section.name in seen:
                raise InputError(f"invalid INI input line {section.line}: section "
                                 f"[{section.name}] is defined twice (first at line "
                                 f"{seen[section.name]})")
            seen[section.name] = section.line

    def _section(self, line: str) -> _Section:
        close = line.rfind("]")
        if close == -1:
            raise self.error("unclosed section")
        name = line[1:close]  # go-ini does not trim section names
        if not name:
            raise self.error("empty section name")
        section = _Section(name, line=self.lineno)
        self.sections.append(section)
        self.comment += _inline_comment(line[close + 1:])
        section.comment = _trim(self.comment)
        self.comment = ""
        self.count = 1
        return section

    def _key(self, section: _Section, line: str) -> None:
        name, offset = self._key_name(line)
        if name == "-":
            # go-ini's auto-increment keys: "-" becomes "#1", "#2", ...
            name = f"#{self.count}"
            self.count += 1
        value = self._value(line[offset:])
        if not name:
            raise self.error("empty key name")
        if name in section.keys:
            # go-ini (and so sops) lets the later value overwrite silently:
            # an inserted line would replace an authenticated value.
            raise self.error(f"duplicate key {name!r} in section [{section.name}]")
        key = section.keys[name] = _Key(value)
        key.comment = _trim(self.comment)
        self.comment = ""

    def _key_name(self, line: str) -> tuple[str, int]:
        quote = ""
        if line.startswith('"'):
            quote = '"""' if len(line) > 6 and line.startswith('"""') else '"'
        elif line.startswith("`"):
            quote = "`"
        if quote:
            end = line.find(quote, len(quote))
            if end == -1:
                raise self.error("missing closing key quote")
            delim = _find_any(line, _DELIMITERS, end + len(quote))
            if delim == -1:
                raise self.error("key-value delimiter not found")
            return _trim(line[len(quote):end]), delim + 1
        delim = _find_any(line, _DELIMITERS, 0)
        if delim == -1:
            raise self.error("key-value delimiter not found")
        if delim == 0:
            raise self.error("empty key name")
        return _trim(line[:delim]), delim + 1

    def _value(self, text: str) -> str:
        line = text.lstrip(_GO_SPACE)
        if not line:
            return ""
        quote = '"""' if len(line) > 3 and line.startswith('"""') else (
            "`" if line.startswith("`") else "")
        if quote:
            end = line.rfind(quote, len(quote))
            if end == -1:
                return self._multiline(line[len(quote):], quote)
            # Anything after the closing quote (even a comment) is ignored.
            return line[len(quote):end]
        line = _trim(line)
        if line.endswith("\\"):
            return self._continuation(line[:-1])
        cut = _find_any(line, "#;", 0)
        if cut != -1:
            # go-ini splits inline comments even without whitespace: a=x#y.
            self.comment += line[cut:]
            line = _trim(line[:cut])
        for q in "'\"":
            if len(line) >= 2 and line[0] == q == line[-1] and line.count(q) == 2:
                return line[1:-1]
        return line

    def _multiline(self, value: str, quote: str) -> str:
        while True:
            if self.eof():
                raise self.error("missing closing value quote")
            nxt = self.read_line()
            end = nxt.rfind(quote)
            if end != -1:
                self.comment += _trim(_inline_comment(nxt[end:]))
                return value + nxt[:end]
            value += nxt

    def _continuation(self, value: str) -> str:
        # Trailing backslash joins the next trimmed line (no inline comments).
        while True:
            nxt = _trim(self.read_line())
            if not nxt:
                return value
            value += nxt
            if not value.endswith("\\"):
                return value
            value = value[:-1]


def _split_lf(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _find_any(text: str, chars: str, start: int) -> int:
    hits = [i for i in (text.find(c, start) for c in chars) if i != -1]
    return min(hits) if hits else -1


def _inline_comment(text: str) -> str:
    cut = _find_any(text, "#;", 0)
    return text[cut:] if cut != -1 else ""


def _strip_comment_char(comment: str) -> str:
    """sops drops the leading ``;``/``#`` and following spaces of a comment."""
    if comment.startswith(";"):
        return comment.lstrip("; ")
    if comment.startswith("#"):
        return comment.lstrip("# ")
    return comment


def parse_ini(data: bytes) -> Branch:
    """Parse INI bytes into a Branch of sections (``DEFAULT`` always first)."""
    tree = Branch()
    for section in _Parser(bytes_to_str(data)).parse():
        items = Branch()
        if section.comment:
            items.append(Comment(_strip_comment_char(section.comment)))
        for name, key in section.keys.items():
            items.append(Item(name, key.value))
            if key.comment:
                items.append(Comment(_strip_comment_char(key.comment)))
        tree.append(Item(section.name, items))
    return tree


# ---------------------------------------------------------------- emission

def _comment_lines(comment: str, trim: bool) -> list[str]:
    out = []
    for line in comment.split("\n"):
        if line[:1] in ("#", ";"):
            out.append(line[0] + " " + _trim(line[1:]))
        else:
            # go-ini trims key comments but not section comments.
            out.append("; " + (_trim(line) if trim else line))
    return out


def _quote_key(name: str) -> str:
    # Deliberate fix: go-ini writes a key starting with "#", ";" or "[" bare
    # (e.g. its own auto-increment keys "#1"), which then reads back as a
    # comment or a section header and breaks the MAC.  Backticks keep them.
    if '"' in name or any(c in name for c in _DELIMITERS) or name[:1] in ("#", ";", "["):
        return "`" + name + "`"
    if "`" in name:
        return '"""' + name + '"""'
    return name


def _quote_value(value: str) -> str:
    if "\n" in value or "`" in value:
        return '"""' + value + '"""'
    if "#" in value or ";" in value:
        return "`" + value + "`"  # else the reader would cut a comment off
    if _trim(value) != value:
        return '"' + value + '"'
    return value


def _section_model(name: str, value: Any) -> _Section:
    if not isinstance(value, Branch):
        raise EmitError("Error encoding section: Section values should always be TreeBranches")
    section = _Section(name)
    entries = list(value)
    if entries and isinstance(entries[0], Comment):
        section.comment = entries.pop(0).text
    last: _Key | None = None
    for entry in entries:
        if isinstance(entry, Comment):
            if last is not None:
                last.comment = entry.text  # the last comment after a key wins
            continue
        if not entry.key:
            raise EmitError("Error encoding key: empty key name")
        if isinstance(entry.value, (Branch, list)):
            # sops would print Go's %v of the structure; refuse instead.
            raise EmitError(f"cannot use complex value in INI file; offending key {entry.key}")
        last = section.keys.get(entry.key)
        if last is None:
            last = section.keys[entry.key] = _Key(val_to_string(entry.value))
        else:
            last.value = val_to_string(entry.value)
    return section


def _section_text(section: _Section, first: bool) -> str | None:
    lines = _comment_lines(section.comment, trim=False) if section.comment else []
    headerless = first and section.name.upper() == DEFAULT_SECTION
    if headerless and not section.keys:
        return "".join(line + "\n" for line in lines) or None
    if not headerless:
        lines.append(f"[{section.name}]")
    names = {name: _quote_key(name) for name in section.keys}
    # Alignment counts bytes, like Go's len().
    width = max((len(q.encode("utf-8", "surrogateescape")) for q in names.values()), default=0)
    for name, key in section.keys.items():
        if key.comment:
            lines.extend(_comment_lines(key.comment, trim=True))
        quoted = names[name]
        pad = width - len(quoted.encode("utf-8", "surrogateescape"))
        lines.append(f"{quoted}{' ' * pad} = {_quote_value(key.value)}")
    return "".join(line + "\n" for line in lines)


def emit_ini(tree: Branch) -> str:
    """Serialise a Branch of sections the way go-ini's ``WriteTo`` does."""
    sections = [_section_model(i.key, i.value) for i in tree if isinstance(i, Item)]
    out = ""
    blank = False
    for n, section in enumerate(sections):
        text = _section_text(section, first=n == 0)
        if text is None:
            continue
        out += "\n" if blank else ""
        out += text
        # go-ini puts a blank line after each section except an empty
        # headerless DEFAULT (whose comment, oddly, is still written); sops's
        # output has no blank line after the last section.
        blank = not (n == 0 and section.name.upper() == DEFAULT_SECTION and not section.keys)
    _check_names(sections, out)
    return out


def _names(sections: list[_Section]) -> list[tuple[str, list[str]]]:
    # The reader always starts with DEFAULT; an empty one is not written.
    return [(s.name, list(s.keys)) for s in sections if s.keys or s.name != DEFAULT_SECTION]


def _check_names(sections: list[_Section], text: str) -> None:
    """Refuse to emit section/key names that would read back differently.

    Names are part of each value's AAD, so one that changes on the way
    back gives a file that no longer decrypts: ``set f.ini '["s"]["-"]'``
    reads back as go-ini's auto key ``#1``; a line break, both quote kinds,
    surrounding blanks or a first section ``default`` (written without its
    header) do not survive either.  sops writes such files with exit 0; we
    read the emitted text back with our reader, which mirrors go-ini's.
    """
    try:
        if _names(_Parser(text).parse()) == _names(sections):
            return
    except InputError:
        pass
    raise EmitError(f"the INI {_culprit(sections)} cannot be written so that it reads back "
                    "the same (the file would not decrypt)")


def _culprit(sections: list[_Section]) -> str:
    """The first section or key name that does not survive on its own."""
    for section in sections:
        if not _survives(section.name, None):
            return f"section name {section.name!r}"
        for key in section.keys:
            if not _survives(section.name, key):
                return f"key {key!r} in section {section.name!r}"
    return "section and key names"   # e.g. a first section `default`, written headerless


def _survives(section: str, key: str | None) -> bool:
    probe = _Section(section, keys={} if key is None else {key: _Key("v")})
    try:
        return _names(_Parser(_section_text(probe, first=False) or "").parse()) == _names([probe])
    except InputError:
        return False


class IniStore(TopLevelMetadata):
    """sops's INI store."""

    name = "ini"
    single_value = False
    holds_null = False   # sops writes null as the text <nil>, which then fails to decrypt
    example = (b"; This is an example file.\n[Welcome!]\n"
               b"hello       = Welcome to SOPS! Edit this file as you please!\n"
               b"example_key = example_value\n")

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse a plaintext INI file (one document of sections)."""
        return [parse_ini(data)]

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Parse an encrypted INI file; the ``[sops]`` section is the metadata."""
        tree = parse_ini(data)
        pairs: list[tuple[str, str]] = []
        found = False
        for item in tree.items_():
            if item.key == METADATA_KEY:
                found = True
                pairs += [(k.key, k.value.replace("\\n", "\n")) for k in item.value.items_()]
        if not found:
            raise MetadataError("sops metadata not found")
        tree.remove_key(METADATA_KEY)
        return [tree], unflatten(pairs)

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Emit the sections of every document (as sops does)."""
        tree = Branch(e for d in docs for e in d)
        return str_to_bytes(emit_ini(tree))

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Emit data sections then a ``[sops]`` section (sorted; sops: random)."""
        tree = Branch(e for d in docs for e in d)
        flat = sorted(flatten(metadata))
        # Real newlines in metadata (age armor) become \n: one line per key.
        meta = Branch(Item(k, v.replace("\n", "\\n")) for k, v in flat)
        tree.append(Item(METADATA_KEY, meta))
        return str_to_bytes(emit_ini(tree))

    def emit_value(self, value: Any) -> bytes:
        """Strings raw; a mapping as INI sections; other values as compact JSON."""
        if isinstance(value, str):
            return str_to_bytes(value)
        if isinstance(value, Branch):
            return str_to_bytes(emit_ini(value))
        from .json import encode_json
        # sops json.Marshals the Go value (its lists print compactly).
        return encode_json(value, indent=None).encode("utf-8")

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if a section is named ``sops``."""
        return any(METADATA_KEY in d for d in docs)
