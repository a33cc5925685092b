"""The YAML store: sops-compatible YAML bytes <-> document trees (no crypto)."""
from __future__ import annotations

from typing import Any

from ..errors import MetadataError
from ..tree import Branch, Item
from .base import METADATA_KEY
from .yaml_emit import emit_documents, emit_scalar_document
from .yaml_load import load_documents

__all__ = ["YamlStore"]


class YamlStore:
    """YAML files, possibly multi-document (SOPS_FORMAT.md §9.1)."""

    name = "yaml"

    def __init__(self, indent: int = 4) -> None:
        self.indent = indent

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse plaintext YAML; duplicate keys are rejected as sops does."""
        return load_documents(data, check_dups=True)

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Documents without their ``sops`` key, and the first document's metadata.

        sops repeats the metadata in every document and reads the first one.
        """
        docs = load_documents(data, check_dups=False)
        meta = docs[0].get(METADATA_KEY) if docs else None
        if not isinstance(meta, Branch):
            raise MetadataError("sops metadata not found")
        for doc in docs:
            doc.remove_key(METADATA_KEY)
        return docs, meta

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Documents as sops prints them (``---`` between documents)."""
        return emit_documents(docs, self.indent)

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Each document with ``sops: <metadata>`` appended as its last key."""
        out = []
        for doc in docs:
            copy = Branch(doc)
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
