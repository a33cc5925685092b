"""Two checks go-yaml v3's decoder makes, which sops inherits for YAML input.

sops decodes a plaintext YAML file into Go values before it builds its
tree, so go-yaml's decoder rules apply to everything it encrypts:

* a merge key ``<<`` needs a mapping (or a sequence of mappings) as its
  value: ``<<: S3CRET`` is "map merge requires map or sequence of maps as
  the value", exit 2;
* a document whose aliases expand to far more nodes than it spells out
  ("billion laughs") is "document contains excessive aliasing", exit 2.

:mod:`secretsctl.stores.yaml_load` composes a node graph in which an alias
is the anchored node itself; :class:`AliasGuard` counts, while composing,
the decodes go-yaml's walk would make, so a bomb is refused before anything
is expanded.  :func:`check_merge_tree` applies the merge rule to a tree
about to be written as YAML (``set f.yaml '["<<"]' '"x"'``), since the
emitter writes a ``<<`` key as a real merge key (``!!merge <<``).
"""
from __future__ import annotations

from typing import Any

from ..errors import EmitError, InputError
from ..tree import Branch, Comment, format_path
from .yaml_comments import Node

__all__ = ["AliasGuard", "is_merge_key", "check_merge_value", "check_merge_tree"]

MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE_PROBLEM = "map merge requires map or sequence of maps as the value"

# go-yaml v3 decode.go (allowedAliasRatio): up to 400,000 decodes 99% may
# come from alias expansion, from 4,000,000 on only 10%, linear in between.
_RATIO_LOW = 400_000
_RATIO_HIGH = 4_000_000


def allowed_alias_ratio(decodes: int) -> float:
    """The share of decodes go-yaml lets aliases account for, at ``decodes`` decodes."""
    if decodes <= _RATIO_LOW:
        return 0.99
    if decodes >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


class AliasGuard:
    """go-yaml v3's excessive-aliasing heuristic, counted on one document's events.

    go-yaml counts one decode per node it walks (the document node too) and
    walks an alias's target again in full at each use; decodes made inside
    an alias expansion are alias decodes.  It fails once there are more
    than 100 of those, more than 1000 decodes in all, and their share
    exceeds :func:`allowed_alias_ratio`.  That share only grows during an
    expansion, so checking once per alias (after adding its whole
    expansion) fails exactly the documents go-yaml fails, without
    expanding anything.
    """

    def __init__(self) -> None:
        self.decodes = 1          # the document node
        self.aliases = 0
        self._open: list[int] = []          # decodes of each node being composed
        self._sizes: dict[int, int] = {}    # id(anchored node) -> decodes to walk it

    def open(self) -> None:
        """A scalar, sequence or mapping node starts."""
        self.decodes += 1
        self._open.append(1)

    def close(self, node: Node, anchored: bool) -> None:
        """The node opened last is complete; remember its size if it can be aliased."""
        size = self._open.pop()
        if self._open:
            self._open[-1] += size
        if anchored:
            self._sizes[id(node)] = size

    def alias(self, target: Node, line: int) -> None:
        """An alias of ``target``: one decode for the alias, then the whole target again."""
        size = self._sizes.get(id(target), 1)
        self.decodes += 1 + size
        self.aliases += size
        if self._open:
            self._open[-1] += 1 + size
        if self.aliases > 100 and self.decodes > 1000 and \
                self.aliases / self.decodes > allowed_alias_ratio(self.decodes):
            raise InputError(f"Error unmarshalling input yaml: yaml: line {line + 1}: "
                             "document contains excessive aliasing")


def is_merge_key(key: Node) -> bool:
    """go-yaml's isMerge: a plain ``<<`` (or one tagged ``!!merge``), not a quoted one."""
    return key.kind == "scalar" and key.value == "<<" and (
        key.tag == MERGE_TAG or (key.tag is None and key.style is None))


def check_merge_value(key: Node, value: Node) -> None:
    """Refuse a merge whose value is not a mapping or a sequence of mappings.

    (An alias has already been replaced by its target here, which is what
    go-yaml checks too.)  The value is not quoted: it may be a secret.
    """
    if value.kind == "map" or (value.kind == "seq" and all(n.kind == "map" for _, n in value.items)):
        return
    raise InputError(f"Error unmarshalling file: yaml: line {key.line + 1}: {_MERGE_PROBLEM}")


def check_merge_tree(node: Any, path: list[Any] | None = None) -> None:
    """Refuse to write a ``<<`` key whose value sops (and we) could not read back."""
    path = path or []
    if isinstance(node, Branch):
        for item in node.items_():
            here = path + [item.key]
            if item.key == "<<" and not _mergeable(item.value):
                raise EmitError("a '<<' key is written as a YAML merge key, which needs a "
                                "mapping or a list of mappings as its value", tree_path=format_path(here))
            check_merge_tree(item.value, here)
    elif isinstance(node, list):
        for n, elem in enumerate(node):
            check_merge_tree(elem, path + [n])


def _mergeable(value: Any) -> bool:
    if isinstance(value, Branch):
        return True
    return isinstance(value, list) and all(isinstance(v, (Branch, Comment)) for v in value)
