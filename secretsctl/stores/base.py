"""The store protocol: bytes <-> tree for one file format, no crypto.

A store never touches the filesystem and never encrypts.  Encrypted files
carry their ``sops`` metadata as a tree (:class:`~secretsctl.tree.Branch`)
in the *JSON-like* shape of docs/format.md §7 (lists of entry branches,
strings, ints, bools); :mod:`secretsctl.metadata` converts that shape to and
from :class:`~secretsctl.metadata.Metadata`.  Flat stores (dotenv, INI)
flatten/unflatten it with :mod:`secretsctl.stores.flatten`.
"""
from __future__ import annotations

from typing import Any, Protocol

from ..tree import Branch

METADATA_KEY = "sops"


class Store(Protocol):
    """One file format.  All methods raise :class:`~secretsctl.errors.SecretsctlError` subclasses.

    Besides bytes <-> tree, a store declares what the format can do, so
    that no code outside ``stores/`` switches on format names:
    """

    name: str
    #: The whole file is one opaque value (binary): no selection rules apply.
    single_value: bool
    #: A null value can be written and read back (dotenv and INI write ``<nil>``).
    holds_null: bool
    #: The document ``edit`` opens for a new file (sops's example, per format).
    example: bytes

    def reserved_key(self, doc: Branch) -> tuple[str, str] | None:
        """A top-level key the metadata is stored under, if ``doc`` has one: (key, what it is)."""
        ...

    def check_emittable(self, docs: list[Branch]) -> None:
        """Refuse documents this format would write but not read back (``EmitError``)."""
        ...

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
        """Serialise one extracted value (``decrypt --extract``), docs/format.md §10."""
        ...

    def has_metadata(self, docs: list[Branch]) -> bool:
        """True if a plaintext parse already holds sops metadata (encrypt refuses: 203)."""
        ...


class TopLevelMetadata:
    """For stores that keep the metadata under a top-level ``sops`` key (YAML, JSON, INI)."""

    def reserved_key(self, doc: Branch) -> tuple[str, str] | None:
        """``sops`` itself, if the document has that key."""
        return (METADATA_KEY, f"the top-level key '{METADATA_KEY}' is") if METADATA_KEY in doc else None

    def check_emittable(self, docs: list[Branch]) -> None:
        """Nothing beyond what emitting checks."""
