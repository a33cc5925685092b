"""IV stash keyed by tree *position*, for minimal diffs without leaks.

sops 3 remembers IVs by (plaintext, AAD).  All elements of a list share one
AAD (indices are not part of it), so after an edit equal values in a list
get the same IV and therefore the same ciphertext, which tells a reader
that they are equal.  We key by position (document, mapping keys *and* list
indices) and reuse an IV only when the value at that position is unchanged
(same type, same plaintext, same AAD).  A position occurs once per tree, so
no IV is ever used twice in one file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

Position = tuple[Hashable, ...]


@dataclass
class Stash:
    """Position -> (type, plaintext, aad, iv) recorded while decrypting."""

    _entries: dict[Position, tuple[str, bytes, str, bytes]] = field(default_factory=dict)

    def remember(self, pos: Position, typ: str, plaintext: bytes, aad: str, iv: bytes) -> None:
        """Record the IV a value was found under."""
        self._entries[pos] = (typ, plaintext, aad, iv)

    def iv_for(self, pos: Position, typ: str, plaintext: bytes, aad: str) -> bytes | None:
        """The stashed IV if this position still holds the same value, else None."""
        entry = self._entries.get(pos)
        if entry is not None and entry[:3] == (typ, plaintext, aad):
            return entry[3]
        return None

    def __len__(self) -> int:
        return len(self._entries)
