"""The YAML store: sops-compatible YAML bytes <-> document trees (no crypto)."""
from __future__ import annotations

from typing import Any

from ..errors import MetadataError
from ..tree import Branch, Comment, Item
from .base import METADATA_KEY, TopLevelMetadata
from .yaml_guard import check_merge_tree
from .yaml_emit import emit_documents, emit_scalar_document
from .yaml_load import load_documents

__all__ = ["YamlStore"]


class YamlStore(TopLevelMetadata):
    """YAML files, possibly multi-document (docs/format.md §9.1)."""

    name = "yaml"
    single_value = False
    holds_null = True
    example = (b"hello: Welcome to SOPS! Edit this file as you please!\n"
               b"example_key: example_value\n"
               b"# Example comment\n"
               b"example_array:\n    - example_value1\n    - example_value2\n"
               b"example_number: 1234.56789\n"
               b"example_booleans:\n    - true\n    - false\n")

    def __init__(self, indent: int = 4) -> None:
        self.indent = indent

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse plaintext YAML; duplicate keys are rejected as sops does."""
        return load_documents(data, plain=True)

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Documents without their ``sops`` key, and the first document's metadata.

        sops repeats the metadata in every document and reads the first one.
        """
        docs = load_documents(data, plain=False)
        meta = docs[0].get(METADATA_KEY) if docs else None
        if not isinstance(meta, Branch):
            raise MetadataError("sops metadata not found")
        for doc in docs:
            doc.remove_key(METADATA_KEY)
        return docs, meta

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Documents as sops prints them (``---`` between documents)."""
        return emit_documents([_empty_lists(doc, False) for doc in docs], self.indent)

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Each document with ``sops: <metadata>`` appended as its last key."""
        out = []
        for doc in docs:
            copy = _empty_lists(doc, True)
            copy.append(Item(METADATA_KEY, metadata))
            out.append(copy)
        return emit_documents(out, self.indent)

    def emit_value(self, value: Any) -> bytes:
        """An extracted value (§10): strings raw, mappings as documents."""
        if isinstance(value, Branch):
            return self.emit_plain([value])
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, bytes):
            return value
        return emit_scalar_document(value, self.indent)

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if the first document already has a top-level ``sops`` key."""
        return bool(docs) and METADATA_KEY in docs[0]

    def check_emittable(self, docs: list[Branch]) -> None:
        """``<<`` is written as a merge key, and sops refuses a scalar there."""
        for doc in docs:
            check_merge_tree(doc)


# The stores may not import the cipher (tests/test_layering.py); the prefix
# is all that tells an encrypted comment from a plain one.
_ENC_PREFIX = "ENC[AES256_GCM,"


def _empty_lists(branch: Branch, encrypted: bool) -> Branch:
    """A copy of ``branch`` with comment-only lists laid out as sops does.

    sops keeps a line comment on an empty list (``a: [] # c``) inside the
    list, so its AAD is ``a:``.  Encrypted, sops writes it as a list element
    (``a:`` then ``- ENC[...,type:comment]``): after encryption it is a
    string to sops.  That is the one form both tools read back into the
    list, so we use it here too (elsewhere we keep comments in lists as
    comments, docs/format.md §16).  In plaintext, go-yaml prints the list's
    comments after ``a: []``, as head comments of whatever follows, and
    loses them when the next key has head comments of its own.
    """
    out = Branch()
    entries = list(branch)
    for i, entry in enumerate(entries):
        if not isinstance(entry, Item):
            out.append(entry)
            continue
        value = _nested(entry.value, encrypted)
        if not _comment_only(value):
            out.append(Item(entry.key, value))
        elif encrypted and all(c.text.startswith(_ENC_PREFIX) for c in value):
            out.append(Item(entry.key, [c.text for c in value]))
        else:
            out.append(Item(entry.key, []))
            if i + 1 == len(entries) or not isinstance(entries[i + 1], Comment):
                out.extend(value)
    return out


def _nested(value: Any, encrypted: bool) -> Any:
    if isinstance(value, Branch):
        return _empty_lists(value, encrypted)
    if isinstance(value, list):
        return [_nested(v, encrypted) for v in value]
    return value


def _comment_only(value: Any) -> bool:
    return isinstance(value, list) and not isinstance(value, Branch) and bool(value) and \
        all(isinstance(v, Comment) for v in value)
