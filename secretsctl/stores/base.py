"""The store protocol: bytes <-> tree for one file format, no crypto.

A store never touches the filesystem and never encrypts.  Encrypted files
carry their ``sops`` metadata as a tree (:class:`~secretsctl.tree.Branch`)
in the *JSON-like* shape of SOPS_FORMAT.md §7 (lists of entry branches,
strings, ints, bools); :mod:`secretsctl.metadata` converts that shape to and
from :class:`~secretsctl.metadata.Metadata`.  Flat stores (dotenv, INI)
flatten/unflatten it with :mod:`secretsctl.stores.flatten`.
"""
from __future__ import annotations

from typing import Any, Protocol

from ..tree import Branch

METADATA_KEY = "sops"


class Store(Protocol):
    """One file format.  All methods raise :class:`~secretsctl.errors.SecretsctlError` subclasses."""

    name: str

    def load_plain(self, data: bytes) -> list[Branch]:
        """Parse a plaintext file into documents (exactly one unless YAML).

        Raises ``InputError`` (exit 2) on syntax errors,
        ``EmptyDocumentError`` (92) for an empty YAML input.
        """
        ...

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Parse an encrypted file: documents without metadata, and the metadata tree.

        Raises ``MetadataError`` ("sops metadata not found") when absent.
        """
        ...

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """Serialise plaintext documents (``EmitError``, exit 4, when impossible)."""
        ...

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """Serialise encrypted documents with the metadata appended as sops does."""
        ...

    def emit_value(self, value: Any) -> bytes:
        """Serialise one extracted value (``decrypt --extract``), SOPS_FORMAT.md §10."""
        ...

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if a plaintext parse already holds sops metadata (encrypt refuses: 203)."""
        ...
