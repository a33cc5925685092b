"""Flatten / unflatten the ``sops`` metadata tree for the flat stores.

dotenv and INI cannot nest, so sops writes its metadata as flat
``key = value`` pairs whose keys spell the path with ``__map_<key>`` and
``__list_<index>`` tokens (docs/format.md §7.4)::

    age__list_0__map_recipient
    kms__list_0__map_context__map_app
    key_groups__list_1__map_pgp__list_0__map_fp

The metadata tree here is the JSON-like shape of §7 (a :class:`Branch` of
strings, ints, bools, lists of branches).  Values come back as strings
except ``shamir_threshold`` (int) and ``mac_only_encrypted`` (bool), which
is exactly the set sops converts (``stores.DecodeNonStrings``).
Newline escaping (``\\n``) is the stores' job, not this module's.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from ..errors import MetadataError
from ..tree import Branch, Comment, Item

__all__ = ["flatten", "unflatten", "MAP_TOKEN", "LIST_TOKEN"]

MAP_TOKEN = "__map_"
LIST_TOKEN = "__list_"

# A token boundary: "__map_" or "__list_<digits>".  Splitting on these keeps
# ordinary double underscores inside keys ("a__b") intact.
_TOKEN = re.compile(r"__map_|__list_(?=\d)")

# Groups always carry these two lists (empty ones are JSON null / YAML []),
# while the flat form skips nulls; unflatten restores them so that both
# paths hand the metadata layer the same shape (§7.1 quirk).
_GROUP_ALWAYS = ("hc_vault", "age")


def _scalar_text(value: Any) -> str | None:
    """Flat text of a scalar; None means "skip" (null leaves are omitted)."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    return str(value)  # str as is, int in decimal


def _walk(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Branch):
        for item in value:
            if isinstance(item, Item):
                _walk(prefix + MAP_TOKEN + item.key, item.value, out)
        return
    if isinstance(value, list):
        elems = [v for v in value if not isinstance(v, Comment)]
        for n, elem in enumerate(elems):
            _walk(f"{prefix}{LIST_TOKEN}{n}", elem, out)
        return
    text = _scalar_text(value)
    if text is not None:
        out.append((prefix, text))


def flatten(metadata: Branch) -> list[tuple[str, str]]:
    """Flatten a metadata tree into ``(flat_key, text)`` pairs in tree order.

    Nested branches/lists become ``__map_``/``__list_`` paths; ``None`` and
    empty lists/branches produce no pair; bools become ``true``/``false``.
    """
    out: list[tuple[str, str]] = []
    for item in metadata:
        if not isinstance(item, Item):
            continue
        if isinstance(item.value, (Branch, list)):
            _walk(item.key, item.value, out)
        else:
            text = _scalar_text(item.value)
            if text is not None:
                out.append((item.key, text))
    return out


def _split(flat_key: str) -> list[str | int]:
    """``a__list_0__map_b`` -> ``["a", 0, "b"]``."""
    parts: list[str | int] = []
    pos = 0
    kind = "map"  # the top-level segment is a plain key
    for m in _TOKEN.finditer(flat_key):
        parts.append(_segment(flat_key[pos:m.start()], kind, flat_key))
        kind = "map" if m.group(0) == MAP_TOKEN else "list"
        pos = m.end()
    parts.append(_segment(flat_key[pos:], kind, flat_key))
    return parts


def _segment(text: str, kind: str, flat_key: str) -> str | int:
    if kind == "map":
        return text
    if not text.isdigit():
        raise MetadataError(f"invalid list index in flattened metadata key {flat_key}")
    return int(text)


class _Node:
    """Intermediate container: a map (ordered) or a sparse list by index."""

    def __init__(self, is_list: bool) -> None:
        self.is_list = is_list
        self.children: dict[Any, Any] = {}


def _insert(root: _Node, path: list[str | int], value: Any, flat_key: str) -> None:
    node = root
    for n, comp in enumerate(path):
        last = n == len(path) - 1
        if last:
            node.children[comp] = value
            return
        child = node.children.get(comp)
        want_list = isinstance(path[n + 1], int)
        if child is None:
            child = node.children[comp] = _Node(want_list)
        if not isinstance(child, _Node) or child.is_list != want_list:
            # The same prefix used both as a leaf and a container, or as both
            # a map and a list: the flat metadata is corrupt.
            raise MetadataError(f"inconsistent flattened metadata key {flat_key}")
        node = child


def _build(node: Any) -> Any:
    if not isinstance(node, _Node):
        return node
    if node.is_list:
        # Order by index, like sops; gaps simply close up.
        return [_build(node.children[i]) for i in sorted(node.children)]
    return Branch(Item(k, _build(v)) for k, v in node.children.items())


def _typed(key: str, text: str) -> Any:
    """Restore the two non-string top-level fields sops encodes as text."""
    if key == "shamir_threshold":
        try:
            number = float(text)
        except ValueError:
            raise MetadataError("invalid shamir_threshold in metadata") from None
        # sops accepts an int or an integral float ("2.0"), §7.4.
        if not number.is_integer():
            raise MetadataError("invalid shamir_threshold in metadata")
        return int(number)
    if key == "mac_only_encrypted":
        return text == "true"  # anything but exactly "true" is false
    return text


def unflatten(pairs: Iterable[tuple[str, str]]) -> Branch:
    """Rebuild the metadata tree from ``(flat_key, text)`` pairs.

    Keys keep their first-appearance order, list elements are ordered by
    index; ``shamir_threshold`` becomes an int and ``mac_only_encrypted`` a
    bool, all other leaves stay strings.  Key-group entries always get
    ``hc_vault`` and ``age`` lists (empty when absent).
    """
    root = _Node(False)
    for flat_key, text in pairs:
        path = _split(flat_key)
        value: Any = _typed(flat_key, text) if len(path) == 1 else text
        _insert(root, path, value, flat_key)
    tree = _build(root)
    groups = tree.get("key_groups")
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, Branch):
                for name in _GROUP_ALWAYS:
                    if name not in group:
                        group.append(Item(name, []))
    return tree
