"""dotenv store (§9.3): ``KEY=value`` lines, ``#`` comments, flat metadata.

sops's dotenv format is deliberately dumb: no quote processing, no
``export`` handling, no trimming.  Keys and values are kept verbatim because
they are part of the AAD and the MAC; any "cleverness" here would make files
unreadable by sops.
"""
from __future__ import annotations

from typing import Any

from .. import gofmt
from ..errors import EmitError, InputError, MetadataError
from ..tree import Branch, Comment, Item, Timestamp, bytes_to_str, str_to_bytes
from .flatten import flatten, unflatten

__all__ = ["DotenvStore", "val_to_string", "SOPS_PREFIX"]

SOPS_PREFIX = "sops_"


def val_to_string(value: Any) -> str:
    """sops's ``ValToString`` for flat stores (dotenv and INI).

    Used when another store's tree is written as dotenv/INI: ints ``%d``,
    floats ``%G``-like with ``.0`` added, bools ``true``/``false``,
    timestamps as RFC 3339 *without* fractional seconds, and null as Go's
    ``%s`` of nil: ``<nil>``.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return gofmt.float_dotenv(value)
    if isinstance(value, Timestamp):
        # sops uses time.Format(time.RFC3339) here, which drops the fraction
        # (2024-01-02T03:04:05.5+02:00 -> 2024-01-02T03:04:05+02:00) [V].
        try:
            return gofmt.normalize_time_text(value.text, keep_fraction=False)
        except ValueError:
            return value.text
    if isinstance(value, bytes):
        return bytes_to_str(value)
    raise EmitError(f"cannot convert value of type {type(value).__name__} to text")


def _escape(text: str) -> str:
    # A value is one line, so real newlines are written as the two chars \n.
    # Backslashes are NOT escaped: sops's reader does a plain replace, so a
    # literal "\n" in a value cannot round-trip either way (sops quirk).
    return text.replace("\n", "\\n")


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n")


def parse_dotenv(data: bytes) -> Branch:
    """Parse dotenv bytes into a Branch of items and comments.

    A line without ``=`` is an ``InputError``; the message gives its line
    number only, since the line may hold a secret.  A key that repeats an
    earlier one is refused too (see :func:`_check_unique`).
    """
    branch = Branch()
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue  # empty lines vanish (sops does not keep them)
        line = bytes_to_str(raw)
        if line.startswith("#"):
            branch.append(Comment(line[1:]))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(f"invalid dotenv input line {lineno}: missing '='")
        # Key and value verbatim: spaces, quotes and "export " stay.
        _check_unique(key, lineno, seen)
        branch.append(Item(key, _unescape(value)))
    return branch


def _check_unique(key: str, lineno: int, seen: dict[str, int]) -> None:
    """Refuse a repeated key (deliberate difference from sops).

    sops keeps both lines and decrypts both, but a shell, python-dotenv
    and ``exec-env`` each keep only one, so a line added to an encrypted
    file could shadow an authenticated value.  Key names are plaintext
    in the file, so the message may name them.
    """
    if key in seen:
        raise InputError(f"invalid dotenv input line {lineno}: duplicate key {key!r} "
                         f"(first defined at line {seen[key]})")
    seen[key] = lineno


def _check_key(key: str) -> None:
    """Refuse a key that would not read back as itself.

    sops writes ``KEY=value`` verbatim, so ``set f.env '["A=B"]'`` gives a
    line that reads back as key ``A`` (the value no longer decrypts), ``#C``
    reads back as a comment and a newline splits the line; sops writes such
    files with exit 0.  (Key names are not secret: they are plaintext in
    the file.)
    """
    if "=" in key:
        what = "contains '='"
    elif "\n" in key:
        what = "contains a line break"
    elif key.startswith("#"):
        what = "starts with '#'"
    else:
        return
    raise EmitError(f"the dotenv key {key!r} cannot be written: it {what}, "
                    "so it would not read back as the same key")


def _emit_lines(doc: Branch) -> list[str]:
    lines = []
    for entry in doc:
        if isinstance(entry, Comment):
            lines.append("#" + entry.text)
            continue
        _check_key(entry.key)
        if isinstance(entry.value, (Branch, list)):
            raise EmitError(f"cannot use complex value in dotenv file; offending key {entry.key}")
        lines.append(f"{entry.key}={_escape(val_to_string(entry.value))}")
    return lines


def _join(lines: list[str]) -> bytes:
    return str_to_bytes("".join(line + "\n" for line in lines))


class DotenvStore:
    """sops's dotenv store."""

    name = "dotenv"
    single_value = False
    holds_null = False   # sops writes null as the text <nil>, which then fails to decrypt
    example = (b"# This is an example file.\n"
               b"hello=Welcome to SOPS! Edit this file as you please!\n"
               b"example_key=example_value\n"
               b"example_multiline=foo\\nbar\\nbaz\n")

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse a plaintext dotenv file (one document)."""
        return [parse_dotenv(data)]

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Parse an encrypted dotenv file; ``sops_*`` lines form the metadata."""
        doc = parse_dotenv(data)
        pairs = [(i.key[len(SOPS_PREFIX):], i.value) for i in doc.items_()
                 if i.key.startswith(SOPS_PREFIX)]
        if not pairs:
            raise MetadataError("sops metadata not found")
        data_part = Branch(e for e in doc
                           if not (isinstance(e, Item) and e.key.startswith(SOPS_PREFIX)))
        return [data_part], unflatten(pairs)

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Emit the first document; nested values are an ``EmitError``."""
        return _join(_emit_lines(docs[0] if docs else Branch()))

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Emit data lines, then ``sops_<flatkey>=`` lines sorted by flat key."""
        lines = _emit_lines(docs[0] if docs else Branch())
        # sops sorts the flattened metadata keys (byte order, §7.3); Python
        # sorts str by code point, which is the same order as UTF-8 bytes.
        for key, value in sorted(flatten(metadata)):
            lines.append(f"{SOPS_PREFIX}{key}={_escape(value)}")
        return _join(lines)

    def emit_value(self, value: Any) -> bytes:
        """Strings raw; a mapping as a whole file; anything else is an error."""
        if isinstance(value, str):
            return str_to_bytes(value)
        if isinstance(value, Branch):
            return self.emit_plain([value])
        raise EmitError("the dotenv store only supports emitting strings, got "
                        + type(value).__name__)

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if any top-level key starts with ``sops_`` (sops refuses those)."""
        return any(k.startswith(SOPS_PREFIX) for d in docs for k in d.keys())

    def reserved_key(self, doc: Branch) -> tuple[str, str] | None:
        """The first ``sops_…`` key: the metadata is the ``sops_…=`` lines."""
        key = next((k for k in doc.keys() if k.startswith(SOPS_PREFIX)), None)
        return None if key is None else (key, f"keys starting with '{SOPS_PREFIX}' are")

    def check_emittable(self, docs: list[Branch]) -> None:
        """Nothing beyond what emitting checks."""
