"""Three-way merge of decrypted document trees (the git merge driver's core).

git cannot merge two branches that changed one sops file: every changed
value has new ciphertext and the MAC line always conflicts (sops issue
#52).  Merged as *trees* instead, two branches that changed different keys
merge cleanly.  The rules, per mapping key, with ``base``/``ours``/``theirs``:

* the same on both sides, or changed on one side only: that side wins;
* a mapping changed on both sides: merged key by key;
* anything else changed differently on both sides (scalars, lists, a key
  removed on one side and changed on the other): a conflict at that path.

Lists are merged as whole values (an index means nothing across edits).
The result keeps *ours'* layout and comments; keys only theirs added are
inserted after the key that precedes them in theirs.  Stdlib only.
"""
from __future__ import annotations

from typing import Any

from .tree import Branch, Item, PathKey, format_path

__all__ = ["merge_documents", "MISSING"]


class _Missing:
    """A key that is absent on one side."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def merge_documents(base: list[Branch], ours: list[Branch],
                    theirs: list[Branch]) -> tuple[list[Branch], list[str]]:
    """Merge every document; returns (merged documents, conflicting paths)."""
    conflicts: list[str] = []
    if len(ours) != len(theirs):
        return ours, ["(the number of documents)"]
    merged = []
    for n, (o, t) in enumerate(zip(ours, theirs)):
        b = base[n] if n < len(base) else Branch()
        prefix: list[PathKey] = [] if len(ours) == 1 else [n]
        merged.append(_merge(b, o, t, prefix, conflicts))
    return merged, conflicts


def _merge(base: Any, ours: Any, theirs: Any, path: list[PathKey], conflicts: list[str]) -> Any:
    if _same(ours, theirs) or _same(base, theirs):
        return ours
    if _same(base, ours):
        return theirs
    if isinstance(ours, Branch) and isinstance(theirs, Branch):
        return _merge_mapping(base if isinstance(base, Branch) else Branch(), ours, theirs, path, conflicts)
    conflicts.append(format_path(path) if path else "(the whole document)")
    return ours


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    # type() too: 1 == True and 1 == 1.0 in Python, but not in the file.
    return type(a) is type(b) and a == b


def _merge_mapping(base: Branch, ours: Branch, theirs: Branch, path: list[PathKey],
                   conflicts: list[str]) -> Branch:
    out = Branch()
    for entry in ours:
        if not isinstance(entry, Item):
            out.append(entry)   # ours' comments stay where they are
            continue
        value = _merge(base.get(entry.key, MISSING), entry.value, theirs.get(entry.key, MISSING),
                       [*path, entry.key], conflicts)
        if value is not MISSING:
            out.append(Item(entry.key, value))
    previous: str | None = None
    for entry in theirs.items_():
        if entry.key not in ours:
            value = _merge(base.get(entry.key, MISSING), MISSING, entry.value, [*path, entry.key], conflicts)
            if value is not MISSING:
                at = out.index_of(previous) + 1 if previous is not None and previous in out else len(out)
                out.insert(at, Item(entry.key, value))
        previous = entry.key
    return out
