"""Format-neutral, ordered document tree.

A document is a :class:`Branch` (an ordered mapping that may hold comment
items).  Values are ``str``, ``int``, ``float``, ``bool``, ``None``,
:class:`Timestamp`, ``bytes``, :class:`Branch` or ``list``; lists may hold
:class:`Comment` items too.  A file is a list of documents (only YAML can
have more than one).

Strings that came from non-UTF-8 bytes (the binary store, or a decrypted
``type:str`` value) carry the raw bytes through ``surrogateescape`` so that
every byte round-trips; :func:`str_to_bytes` undoes it.

This module knows nothing about files, formats or crypto (stdlib only).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = [
    "Branch", "Item", "Comment", "Timestamp", "Value", "PathKey",
    "str_to_bytes", "bytes_to_str", "to_python", "from_python",
    "parse_path", "get_path", "set_path", "unset_path", "first_duplicate",
]


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line; ``text`` excludes the leading ``#`` (``# hi`` -> `` hi``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A YAML timestamp, kept as its canonical Go RFC 3339 text.

    Go's ``time.MarshalText`` keeps nanoseconds, which ``datetime`` cannot
    hold, so the canonical text is the value (``2024-01-02T00:00:00Z``).
    """

    text: str


@dataclass(slots=True)
class Item:
    """One ``key: value`` entry of a :class:`Branch`."""

    key: str
    value: Any


class Branch(list[Any]):
    """An ordered mapping: a list of :class:`Item` and :class:`Comment`."""

    def keys(self) -> list[str]:
        """The keys of the non-comment items, in order."""
        return [i.key for i in self if isinstance(i, Item)]

    def items_(self) -> Iterator[Item]:
        """Iterate the non-comment items."""
        return (i for i in self if isinstance(i, Item))

    def get(self, key: str, default: Any = None) -> Any:
        """The value of the first item named ``key`` or ``default``."""
        for i in self:
            if isinstance(i, Item) and i.key == key:
                return i.value
        return default

    def index_of(self, key: str) -> int:
        """Position of the first item named ``key`` or -1."""
        for n, i in enumerate(self):
            if isinstance(i, Item) and i.key == key:
                return n
        return -1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.index_of(key) >= 0

    def set(self, key: str, value: Any) -> None:
        """Replace the first item named ``key`` or append a new one."""
        n = self.index_of(key)
        if n >= 0:
            self[n].value = value
        else:
            self.append(Item(key, value))

    def remove_key(self, key: str) -> bool:
        """Remove every item named ``key``; True if one existed."""
        before = len(self)
        self[:] = [i for i in self if not (isinstance(i, Item) and i.key == key)]
        return len(self) != before


Value = str | int | float | bool | None | Timestamp | bytes | Branch | list[Any]
PathKey = str | int


def bytes_to_str(data: bytes) -> str:
    """Decode bytes to str, keeping invalid UTF-8 as lone surrogates."""
    return data.decode("utf-8", "surrogateescape")


def str_to_bytes(text: str) -> bytes:
    """Inverse of :func:`bytes_to_str`."""
    return text.encode("utf-8", "surrogateescape")


def to_python(value: Any) -> Any:
    """Convert a tree value to plain Python data (dict/list/scalars).

    Comments are dropped; timestamps become their RFC 3339 text.
    """
    if isinstance(value, Branch):
        return {i.key: to_python(i.value) for i in value.items_()}
    if isinstance(value, list):
        return [to_python(v) for v in value if not isinstance(v, Comment)]
    if isinstance(value, Timestamp):
        return value.text
    return value


def from_python(value: Any) -> Any:
    """Convert plain Python data (dict/list/scalars) to tree values.

    Tree values may be mixed in (a Branch holding dicts, as ``set`` gets
    from library callers): a Branch is checked before ``list``, since it
    is one, and keeps its comments.
    """
    if isinstance(value, Branch):
        return Branch(Item(i.key, from_python(i.value)) if isinstance(i, Item) else i for i in value)
    if isinstance(value, dict):
        return Branch(Item(str(k), from_python(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [from_python(v) for v in value]
    return value


_COMPONENT = re.compile(r"\[([^\[\]]*)\]")


def parse_path(text: str) -> list[PathKey]:
    """Parse sops's path syntax ``["a"][0]['b']`` into components.

    Like sops: the first and last character inside quoted brackets are
    stripped with no escape handling; a bare integer is a list index.
    Raises ``ValueError`` on anything else.
    """
    out: list[PathKey] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _COMPONENT.match(text, pos)
        if not m:
            raise ValueError(f"component {text[pos:]!r} doesn't end with ]")
        inner = m.group(1)
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
            out.append(inner[1:-1])
        elif re.fullmatch(r"-?[0-9]+", inner):
            out.append(int(inner))
        else:
            raise ValueError(f"component [{inner}] is neither a quoted key nor an index")
        pos = m.end()
    return out


def _fmt(component: PathKey) -> str:
    return f"[{component}]" if isinstance(component, int) else f'["{component}"]'


def format_path(path: list[PathKey]) -> str:
    """Render a path the way it is typed on the command line."""
    return "".join(_fmt(c) for c in path)


def get_path(root: Any, path: list[PathKey]) -> Any:
    """Return the value at ``path``; ``KeyError`` names the missing component."""
    node = root
    for comp in path:
        if isinstance(comp, int) and isinstance(node, list) and not isinstance(node, Branch):
            elems = [v for v in node if not isinstance(v, Comment)]
            if not 0 <= comp < len(elems):
                raise KeyError(f"component [{comp}] accesses out of bounds")
            node = elems[comp]
        elif isinstance(comp, str) and isinstance(node, Branch) and comp in node:
            node = node.get(comp)
        else:
            raise KeyError(f"component {_fmt(comp)} not found")
    return node


def set_path(root: Branch, path: list[PathKey], value: Any) -> None:
    """Set ``value`` at ``path``, creating missing mappings/lists as sops does.

    An index at or past the end of a list appends (sops ``set`` semantics).
    """
    if not path:
        raise KeyError("empty path")
    node: Any = root
    for n, comp in enumerate(path):
        last = n == len(path) - 1
        nxt = path[n + 1] if not last else None
        fresh: Callable[[], Any] = (lambda: [] if isinstance(nxt, int) else Branch())  # noqa: E731, B023
        if isinstance(comp, str):
            if not isinstance(node, Branch):
                raise KeyError(f"component {_fmt(comp)} is not a mapping key here")
            if last:
                node.set(comp, value)
                return
            if comp not in node or not isinstance(node.get(comp), (list, Branch)):
                node.set(comp, fresh())
            node = node.get(comp)
        else:
            if not isinstance(node, list) or isinstance(node, Branch):
                raise KeyError(f"component [{comp}] is not a list index here")
            positions = [i for i, v in enumerate(node) if not isinstance(v, Comment)]
            if comp >= len(positions) or comp < 0:
                node.append(value if last else fresh())
                target = len(node) - 1
            else:
                target = positions[comp]
                if last:
                    node[target] = value
            if last:
                return
            if not isinstance(node[target], (list, Branch)):
                node[target] = fresh()
            node = node[target]


def unset_path(root: Branch, path: list[PathKey]) -> None:
    """Remove the value at ``path``; ``KeyError`` if it does not exist."""
    if not path:
        raise KeyError("empty path")
    parent = get_path(root, path[:-1]) if len(path) > 1 else root
    last = path[-1]
    if isinstance(last, str):
        if not isinstance(parent, Branch) or not parent.remove_key(last):
            raise KeyError(f"Key not found: {last}")
    else:
        if not isinstance(parent, list) or isinstance(parent, Branch):
            raise KeyError(f"Index {last} out of bounds")
        positions = [i for i, v in enumerate(parent) if not isinstance(v, Comment)]
        if not 0 <= last < len(positions):
            raise KeyError(f"Index {last} out of bounds")
        del parent[positions[last]]


def first_duplicate(root: Any) -> list[PathKey] | None:
    """The path of the first mapping key that repeats an earlier key of its mapping.

    Stores keep duplicate keys as separate items (sops's JSON and dotenv
    stores do too), but every consumer of the decrypted file keeps only
    one of them, so readers refuse them.  Iterative: the stores call this
    on documents of any depth.
    """
    todo: list[tuple[Any, list[PathKey]]] = [(root, [])]
    while todo:
        node, path = todo.pop()
        if isinstance(node, Branch):
            seen: set[str] = set()
            for item in node.items_():
                if item.key in seen:
                    return path + [item.key]
                seen.add(item.key)
            todo.extend((i.value, path + [i.key]) for i in reversed(list(node.items_())))
        elif isinstance(node, list):
            todo.extend((v, path + [n]) for n, v in reversed(list(enumerate(node))))
    return None
