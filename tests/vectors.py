"""Access to the known-answer vectors in fixtures/vectors (test-only keys)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

VECTORS = Path(__file__).resolve().parent.parent / "fixtures" / "vectors"
DATA_KEY = bytes(range(32))
MAC_IV = b"\x4d" * 32


@lru_cache(maxsize=None)
def manifest() -> dict:
    """The parsed manifest.json."""
    return json.loads((VECTORS / "manifest.json").read_text())


def names() -> list[str]:
    """Vector file names, in manifest order."""
    return list(manifest()["vectors"])


def fixed_iv_randbytes():
    """A ``randbytes`` that yields the vectors' IV schedule: n-th call -> bytes([n])*32."""
    counter = {"n": 0}

    def randbytes(size: int) -> bytes:
        counter["n"] += 1
        return bytes([counter["n"]]) * size
    return randbytes
