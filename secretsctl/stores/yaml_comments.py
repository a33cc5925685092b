"""Comment discovery and attribution for the YAML loader (docs/format.md §9.1.1).

go-yaml attaches comments to nodes as head/line/foot comments and sops turns
them into comment items; the rules here reproduce where they end up, as
observed case by case with the real binary (see tests/test_store_yaml.py).
Also home of the composed-node types both modules use.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any


__all__ = ["Node", "Entry", "Attach", "SourceComment", "gap_marks", "collect_entries", "attribute",
           "move_doc_head", "next_start"]

@dataclass(eq=False, slots=True)
class Node:
    """A composed YAML node with the source positions we need.

    Slots and shared empty ``pairs``/``items`` defaults: a 100k-leaf file
    composes a quarter of a million of these, mostly scalars, which need
    neither a ``__dict__`` nor two lists of their own; the composer gives
    collections their own list.
    """

    kind: str                      # "map", "seq" or "scalar"
    index: int                     # source offset of the node's start
    line: int                      # 0-based line of the start
    col: int                       # 0-based column of the start
    flow: bool = False
    value: str = ""                # scalar text
    style: str | None = None    # scalar style (None = plain)
    tag: str | None = None      # explicit tag, if any
    pairs: Any = ()                # map: [(key Node, value Node)]
    items: Any = ()                # seq: [(dash offset, value Node)]
    end: int = -1                  # collections: source offset after `]`/`}`/the last entry


@dataclass(eq=False, slots=True)
class Entry:
    """A block mapping key or block sequence item: where comments attach."""

    start: int
    line: int
    col: int
    container: Node
    idx: int
    parent: Entry | None      # the entry whose value holds ``container``
    value: Node


# --------------------------------------------------------------------------
# comments


@dataclass
class SourceComment:
    index: int
    line: int
    col: int
    text: str
    own_line: bool
    to_previous_doc: bool = False


def gap_marks(text: str, spans: list[Any]) -> tuple[list[SourceComment], list[int]]:
    """Comments and block-entry dashes: what lies in the gaps between event spans.

    Outside scalars (and anchors, tags, aliases, document markers, which
    event spans cover too) a ``#`` always starts a comment, and a ``-``
    followed by a blank is a block sequence entry.  libyaml folds a comment
    on a block scalar's header line (``key: |  # note``) into the scalar's
    span; go-yaml keeps it, so that line is searched as well.
    """
    comments: list[SourceComment] = []
    dashes: list[int] = []
    pos = 0
    for span in sorted(spans, key=lambda sp: sp.start) + [None]:
        start = len(text) if span is None else span.start
        if start > pos:
            _gap_comments(text, pos, start, comments)
            _gap_dashes(text, pos, start, dashes)
        if span is None:
            break
        if span.block_scalar:
            eol = text.find("\n", span.start)
            hdr = text.find("#", span.start, eol if eol >= 0 else len(text))
            if hdr >= 0:
                _gap_comments(text, hdr, eol if eol >= 0 else len(text), comments)
        pos = max(pos, span.end)
    return comments, dashes


def _gap_dashes(text: str, lo: int, hi: int, out: list[int]) -> None:
    i = text.find("-", lo, hi)
    while i >= 0:
        bol = text.rfind("\n", 0, i) + 1
        in_comment = "#" in text[bol:i]
        marker = i == bol and text.startswith("---", i)
        if not in_comment and not marker and (i + 1 >= len(text) or text[i + 1] in " \t\r\n"):
            out.append(i)
        i = text.find("-", i + 1, hi)


def _gap_comments(text: str, lo: int, hi: int, out: list[SourceComment]) -> None:
    i = text.find("#", lo, hi)
    while i >= 0:
        eol = text.find("\n", i, hi)
        eol = hi if eol < 0 else eol
        bol = text.rfind("\n", 0, i) + 1
        body = text[i + 1:eol].rstrip("\r")
        own = text[bol:i].strip() == ""
        out.append(SourceComment(i, text.count("\n", 0, i), i - bol, body, own))
        i = text.find("#", eol, hi)


def collect_entries(node: Node, parent: Entry | None, out: list[Entry],
                     seen: set[int]) -> None:
    """All block entries in source order (aliases are visited once)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if node.kind == "map":
        for i, (k, v) in enumerate(node.pairs):
            entry = Entry(k.index, k.line, k.col, node, i, parent, v)
            if not node.flow:
                out.append(entry)
            collect_entries(v, entry, out, seen)
    elif node.kind == "seq":
        for i, (dash, v) in enumerate(node.items):
            entry = Entry(dash, v.line if node.flow else -1, -1, node, i, parent, v)
            if not node.flow:
                out.append(entry)
            collect_entries(v, entry, out, seen)


def _chain(entry: Entry) -> list[Node]:
    """Containers from the root down to ``entry``'s container."""
    out: list[Node] = []
    e: Entry | None = entry
    while e is not None:
        out.append(e.container)
        e = e.parent
    return out[::-1]


def _container_col(n: Node, entries_by_container: dict[int, Entry]) -> int:
    first = entries_by_container.get(id(n))
    return first.col if first is not None else n.col


Attach = dict[int, dict[int, list[str]]]   # id(container) -> index -> comment texts


def attribute(comments: list[SourceComment], root: Node, entries: list[Entry],
               last_doc: bool) -> Attach:
    """Decide, for every comment, the container and position it precedes.

    This reproduces how go-yaml + sops place comments (§9.1.1), verified
    case by case against the binary: line comments go before the entry that
    starts on their line; own-line comments go before the next entry when it
    is at least as indented, else to the deepest still-open collection whose
    column is <= the comment's column (a foot comment).  Comments in the gap
    where a nested collection closes follow go-yaml's own rules
    (:func:`_dedent_gap`), and comments inside an empty flow collection are
    dropped: go-yaml attaches them to no node, so sops loses them.
    """
    placed: dict[int, dict[int, list[tuple[int, str]]]] = {}
    firsts: dict[int, Entry] = {}
    for e in entries:
        firsts.setdefault(id(e.container), e)

    def put(container: Node, idx: int, c: SourceComment) -> None:
        placed.setdefault(id(container), {}).setdefault(idx, []).append((c.index, c.text))

    starts = [e.start for e in entries]
    empty = _empty_flows(root, [], set())
    gaps: dict[int, list[SourceComment]] = {}
    for c in comments:
        if any(f.index < c.index < f.end for f in empty):
            continue
        if not c.own_line and _line_comment(c, entries, put):
            continue
        if c.to_previous_doc:
            put(root, _size(root), c)
            continue
        n = bisect.bisect_left(starts, c.index)
        prev = entries[n - 1] if n > 0 else None
        nxt = entries[n] if n < len(entries) else None
        if prev is None:
            if nxt is not None:
                put(nxt.container, nxt.idx, c)
            else:
                put(root, _size(root), c)
            continue
        if nxt is None or (nxt.parent is not prev and nxt.container is not prev.container):
            gaps.setdefault(n, []).append(c)   # placed as a run, below
            continue
        chain = _chain(prev)
        if nxt.parent is prev or (nxt.col >= c.col and nxt.container in chain):
            put(nxt.container, nxt.idx, c)
            continue
        chosen = _foot_container(chain, c.col, firsts)
        if nxt.container is chosen:
            put(chosen, nxt.idx, c)
        else:
            put(chosen, _size(chosen), c)
    for n, run in gaps.items():
        nxt = entries[n] if n < len(entries) else None
        _dedent_gap(run, entries[n - 1], nxt, root, firsts, last_doc, put)
    # Gap runs are placed last; within a slot, comments keep source order.
    return {cont: {idx: [t for _, t in sorted(texts)]
                   for idx, texts in slots.items()}
            for cont, slots in placed.items()}


def _line_comment(c: SourceComment, entries: list[Entry], put: Any) -> bool:
    """Place a comment that follows content on its line; False if none does."""
    on_line = [e for e in entries if e.line == c.line and e.start < c.index]
    if not on_line:
        # `key:` alone, then `  [] # c` below it: the comment is the flow
        # collection's, as if it followed the key.
        on_line = [e for e in entries if e.value.flow and e.value.line == c.line
                   and e.value.index < c.index]
        if not on_line:
            return False
    target = on_line[-1]
    v = target.value
    if target.container.kind == "map" and v.flow and v.line == c.line and \
            (v.pairs or v.items or v.kind == "seq"):
        # A line comment after a flow collection that is a mapping value is
        # that collection's line comment, and sops puts it *inside* it: on
        # its first element, or as the only content of an empty list (AAD
        # `key:`; sops writes it as a list element, prints it after `[]`).
        # An empty *map* is the exception we keep apart: sops's layout
        # (`{` + comment + `}`) loses the comment when read back, so it
        # stays before the key, where both tools read it.
        put(v, 0, c)
    else:
        put(target.container, target.idx, c)
    return True


def _empty_flows(n: Node, out: list[Node], seen: set[int]) -> list[Node]:
    """The empty flow collections under ``n`` (each once, aliases too)."""
    if id(n) in seen:
        return out
    seen.add(id(n))
    if n.flow and not (n.pairs or n.items):
        out.append(n)
    for k, v in n.pairs:
        _empty_flows(k, out, seen)
        _empty_flows(v, out, seen)
    for _, v in n.items:
        _empty_flows(v, out, seen)
    return out


def _foot_container(chain: list[Node], col: int, firsts: dict[int, Entry]) -> Node:
    """The deepest still-open collection whose column is <= ``col``."""
    chosen = chain[0]
    for cont in chain:
        if _container_col(cont, firsts) <= col:
            chosen = cont
    return chosen


def _dedent_gap(run: list[SourceComment], prev: Entry, nxt: Entry | None, root: Node,
                firsts: dict[int, Entry], last_doc: bool, put: Any) -> None:
    """Own-line comments where the collection holding ``prev`` closes.

    Observed with sops 3.11 (tests/test_yaml_comment_interop.py; go-yaml's
    own rules are spread over its scanner, parser and decoder).  The
    comments form runs: a new run starts at a comment of another column
    that is less indented than ``prev``'s collection.  The first run is the
    foot of the deepest node (the end of ``prev``'s collection) even when it
    is indented like an outer one, so sops writes it deeper than it was.
    The last run is the head of the next entry when at its column; if it is
    also the first run it stays the deepest's foot; otherwise it, like any
    middle run, goes to the open collection matching its column, where one
    column right of a collection's own counts as outside it (go-yaml's
    unroll_indent tests `column == indent+1`).  An indentless list (dashes
    at its key's column) opens no indentation level: the next key at that
    column takes every run.
    """
    chain = _chain(prev)
    deep = chain[-1]
    deep_col = _container_col(deep, firsts)
    groups: list[list[SourceComment]] = []
    for c in run:
        # A comment at another column starts a new run, unless it is at
        # least as indented as the deepest collection (then it continues).
        if groups and (c.col == groups[-1][0].col or c.col >= deep_col):
            groups[-1].append(c)
        else:
            groups.append([c])

    def place(g: list[SourceComment], cont: Node, idx: int = -1) -> None:
        for c in g:
            put(cont, _size(cont) if idx < 0 else idx, c)

    first, last = groups[0], groups[-1]
    end = nxt is None
    if nxt is not None and deep.kind == "seq" and prev.parent is not None and \
            deep_col == prev.parent.col == nxt.col:
        for g in groups:
            place(g, nxt.container, nxt.idx)
        return
    if nxt is not None and last[0].col == nxt.col:
        # Only the run right before the next entry can be its head.
        place(last, nxt.container, nxt.idx)
    elif not end and first is last:
        place(last, deep)
    else:
        place(last, _end_foot(chain, last[0].col, firsts, root, last_doc or not end))
    if first is not last:
        place(first, deep)
    for g in groups[1:-1]:
        place(g, _end_foot(chain, g[0].col, firsts, root, True))


def _end_foot(chain: list[Node], col: int, firsts: dict[int, Entry], root: Node,
              last_doc: bool) -> Node:
    """Where a foot comment run at ``col`` goes once the deepest collection closed."""
    chosen = _foot_container(chain, col, firsts)
    at = chain.index(chosen)
    if chosen is not chain[-1] and col == _container_col(chosen, firsts) + 1:
        chosen = chain[at - 1] if at > 0 else chosen
    if not last_doc and col == 0:
        # Before a `---`, a column-0 comment after an indentless
        # top-level sequence is a document foot comment, not the list's.
        chosen = root
    return chosen


def _size(n: Node) -> int:
    return len(n.pairs) if n.kind == "map" else len(n.items)


def next_start(docs: list[tuple[int, Node | None]], i: int) -> float:
    return docs[i + 1][0] if i + 1 < len(docs) else float("inf")


def move_doc_head(text: str, doc: tuple[int, Node | None], comments: list[SourceComment]) -> None:
    """Mark a later document's head comment as a foot of the previous one.

    go-yaml makes the first comment block after ``---`` that is followed by
    a blank line the document's head comment, and sops ends up writing it
    before the ``---`` (i.e. at the end of the previous document).
    """
    start, root = doc
    if root is None:
        return
    lines = text.split("\n")
    sep_line = text.count("\n", 0, start)
    block: list[SourceComment] = []
    for c in comments:
        if c.index < start or c.index >= root.index:
            continue
        if c.line == sep_line or not c.own_line:
            return   # `--- # x`: the comments stay in their document
        if block and c.line != block[-1].line + 1:
            break
        block.append(c)
    if not block:
        return
    after = block[-1].line + 1
    if after < len(lines) and lines[after].strip() == "" and after < root.line:
        for c in block:
            c.to_previous_doc = True
