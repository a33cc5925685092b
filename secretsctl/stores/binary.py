"""Binary store (§9.5): the whole plaintext is one opaque value ``data``.

The plaintext is any bytes; they travel through the tree as a string with
``surrogateescape`` so that non-UTF-8 bytes survive.  The encrypted form is
simply the JSON store's format (``{"data": "ENC[...]", "sops": {...}}``).
"""
from __future__ import annotations

from typing import Any

from ..errors import EmitError
from ..tree import Branch, Item, bytes_to_str, str_to_bytes
from .json import JsonStore

__all__ = ["BinaryStore", "DATA_KEY"]

DATA_KEY = "data"
_HINT = ("This is likely not an encrypted binary file? If not, use --output-type "
         "to select the correct output type.")


class BinaryStore:
    """sops's binary store; ``indent`` applies to the encrypted JSON form."""

    name = "binary"
    single_value = True
    holds_null = True
    example = b"Welcome to SOPS! Edit this file as you please!"

    def __init__(self, indent: int = -1) -> None:
        self._json = JsonStore(indent)

    def load_plain(self, data: bytes) -> list[Branch]:
        """Wrap the raw bytes as ``{data: <bytes>}``; never fails."""
        return [Branch([Item(DATA_KEY, bytes_to_str(data))])]

    def load_encrypted(self, data: bytes) -> tuple[list[Branch], Branch]:
        """Encrypted binary files are JSON files."""
        return self._json.load_encrypted(data)

    def emit_plain(self, docs: list[Branch]) -> bytes:
        """The raw bytes of the ``data`` string, nothing added."""
        if len(docs) != 1:
            raise EmitError("error emitting binary store: there must be exactly one tree branch",
                            hint=_HINT)
        value = docs[0].get(DATA_KEY)
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str):
            # Also covers non-string data (sops panics there).
            raise EmitError("error emitting binary store: no binary data found in tree",
                            hint=_HINT)
        return str_to_bytes(value)

    def emit_encrypted(self, docs: list[Branch], metadata: Branch) -> bytes:
        """The JSON store's encrypted form."""
        return self._json.emit_encrypted(docs, metadata)

    def emit_value(self, value: Any) -> bytes:
        """Only a string can be extracted to a binary output (written raw)."""
        if isinstance(value, str):
            return str_to_bytes(value)
        raise EmitError("Binary files are not structured and extracting a single value "
                        "is not possible")

    def has_metadata(self, docs: list[Branch]) -> bool:
        """Always False: a plaintext binary file is opaque (sops never refuses it)."""
        return False

    def reserved_key(self, doc: Branch) -> tuple[str, str] | None:
        """None: the document is one opaque value."""
        return None

    def check_emittable(self, docs: list[Branch]) -> None:
        """Nothing beyond what emitting checks."""
