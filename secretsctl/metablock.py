"""The ``sops`` metadata block of a YAML or JSON file, found without parsing the values.

sops writes the metadata last: a top-level ``sops:`` mapping at the end of
a (single-document) YAML file, the last member ``"sops": {...}`` of a JSON
object.  A command that changes only the metadata (``updatekeys``
re-wrapping the data key) can then read that block alone and replace it,
keeping every other byte, instead of parsing, walking and re-emitting a
100k-leaf document it does not change.

The shortcut is taken only when it is exact: the block must be exactly
what our emitter writes for the metadata it holds (so its boundaries and
layout are the canonical ones sops and secretsctl produce); anything else
-- several YAML documents, a hand-formatted block, other stores -- answers
``None`` and the caller takes the full path.
"""
from __future__ import annotations

import re

from .errors import SecretsctlError
from .stores.base import Store
from .tree import Branch

__all__ = ["split", "emit"]

_YAML_START = re.compile(rb"(?m)^sops:\n")
_YAML_TOP_LEVEL = re.compile(rb"\n[^ \n]")          # a line starting at column 0
_YAML_DOC_MARK = re.compile(rb"(?m)^(---|\.\.\.)([ \t\r\n]|$)|^%")
_JSON_START = re.compile(rb'\n[ \t]*"sops": \{')


def split(data: bytes, fmt: str, store: Store) -> tuple[bytes, Branch] | None:
    """``(bytes before the block, metadata tree)``, or None when the file is not in canonical form."""
    if fmt == "yaml":
        start = _yaml_start(data)
    elif fmt == "json":
        start = _json_start(data)
    else:
        return None
    if start is None:
        return None
    head, block = data[:start], data[start:]
    try:
        _, meta = store.load_encrypted(block if fmt == "yaml" else b"{" + block)
    except SecretsctlError:
        return None
    if emit(meta, fmt, store) != block:
        return None
    return head, meta


def emit(meta: Branch, fmt: str, store: Store) -> bytes:
    """The block as the store writes it at the end of a file (see :func:`split`)."""
    out = store.emit_encrypted([Branch()], meta)
    return out[1:] if fmt == "json" else out   # JSON: without the object's `{`


def _yaml_start(data: bytes) -> int | None:
    found = list(_YAML_START.finditer(data))
    if not found:
        return None
    start = found[-1].start()
    # One document only, and nothing at the top level after `sops:`.
    if _YAML_DOC_MARK.search(data, 0, start) or _YAML_TOP_LEVEL.search(data, start + 5, len(data) - 1):
        return None
    if start and not data[:start].endswith(b"\n"):
        return None
    return start


def _json_start(data: bytes) -> int | None:
    found = list(_JSON_START.finditer(data))
    if not found or not data.lstrip().startswith(b"{"):
        return None
    start = found[-1].start()      # the newline before the member
    head = data[:start].rstrip()
    if not (head.endswith(b",") or head == b"{"):
        return None
    return start
