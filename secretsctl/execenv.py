"""A decrypted document -> environment variables (``exec-env``, ``export``).

Two rule sets, each matching the tool it replaces byte for byte:

* **Default selection: sops ``exec-env``.**  Every top-level scalar of the
  first document becomes ``KEY=value``; values go through sops's dotenv
  ``ValToString`` (ints ``%d``, floats ``%G``-shortest with ``.0`` added,
  bools ``true``/``false``, timestamps RFC 3339, null ``<nil>``).  A nested
  value is an error naming the key (sops: "cannot use complex value in
  environment").
* **``vars=`` / ``flatten=``: the makes ``secretsForEnvFromSops`` rule**,
  i.e. ``sops -d --output-type json FILE | jq -erc ".$var"`` exported as
  ``${var//./__}``.  Strings are raw; everything else is its JSON text as
  sops's JSON output writes it and ``jq -c`` prints it back (key order
  kept, non-ASCII raw, control characters and DEL ``\\u``-escaped).  A path
  that does not exist is an error unless ``missing="null"``, which
  reproduces makes' old behaviour (the string ``null``).

Names must be shell identifiers (``[A-Za-z_][A-Za-z0-9_]*``).  sops hands
other keys (``my-key``, dotenv ``export X``) to ``/bin/sh``, which drops them
silently; here they are an error naming the key.  No message ever contains a
value.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import SecretsctlError, TreePathError
from .gofmt import float_json
from .stores.dotenv import val_to_string
from .tree import Branch, Comment, Timestamp, bytes_to_str

__all__ = ["Selection", "tree_to_env", "check_name", "compact_json", "sops_value_text",
           "json_value_text", "MISSING_MODES"]

MISSING_MODES = ("error", "null")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SEP = "__"


@dataclass(frozen=True)
class Selection:
    """Which values become variables and how they are named.

    ``vars``: dotted paths (``a``, ``b.c``, ``list.0``), ``None`` = default
    (all top-level scalars, sops's rule).  ``flatten``: every leaf of the
    selection becomes its own variable (``a__b__0``).  ``prefix`` is put in
    front of every name.  ``missing``: ``"error"`` or ``"null"``.
    """

    vars: tuple[str, ...] | None = None
    flatten: bool = False
    prefix: str = ""
    missing: str = "error"


def check_name(name: str, where: str) -> str:
    """Return ``name`` if it is a valid variable name, else raise naming ``where``."""
    if not _NAME.match(name):
        raise SecretsctlError(f"{name!r} is not a valid environment variable name "
                              "(letters, digits and '_', not starting with a digit)", tree_path=where)
    return name


def _check_value(text: str, where: str) -> str:
    # The environment is a list of C strings: a NUL byte cannot be passed on.
    if "\0" in text:
        raise SecretsctlError("value contains a NUL byte, which cannot be put in the environment",
                              tree_path=where)
    return text


def _is_container(value: Any) -> bool:
    return isinstance(value, (Branch, list))


def sops_value_text(value: Any, key: str) -> str:
    """A top-level scalar as sops ``exec-env`` writes it: dotenv's ``ValToString``.

    (So a timestamp loses its fraction, exactly as in sops's environment.)
    """
    if _is_container(value):
        raise SecretsctlError("cannot use complex value in environment (use --vars or --flatten)",
                              tree_path=key)
    return val_to_string(value)


def _json_string(text: str) -> str:
    # jq -c escapes DEL as well as the C0 controls; json.dumps leaves it raw.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def compact_json(value: Any, where: str = "") -> str:
    """``jq -c`` text of a tree value as sops's JSON output would carry it."""
    if isinstance(value, Branch):
        return "{" + ",".join(_json_string(i.key) + ":" + compact_json(i.value, where)
                              for i in value.items_()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(compact_json(v, where) for v in value
                              if not isinstance(v, Comment)) + "]"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float):
        try:
            return float_json(value)
        except ValueError:
            raise SecretsctlError("value is not representable in JSON (Inf or NaN)",
                                  tree_path=where) from None
    if value is None:
        return "null"
    if isinstance(value, Timestamp):
        return _json_string(value.text)
    if isinstance(value, bytes):
        return _json_string(bytes_to_str(value))
    raise SecretsctlError(f"unsupported value type {type(value).__name__}", tree_path=where)


def json_value_text(value: Any, where: str) -> str:
    """makes' rule (``jq -r``): strings raw, everything else compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        return bytes_to_str(value)
    return compact_json(value, where)


_MISSING = object()


def _split_var(text: str) -> list[str]:
    parts = text.split(".")
    if not text or any(p == "" for p in parts):
        raise TreePathError("invalid variable path (use dotted keys like 'a.b' or 'list.0')",
                            tree_path=text)
    return parts


def _lookup(doc: Branch, parts: list[str], text: str) -> Any:
    """Walk a dotted path; ``_MISSING`` if a key/index does not exist.

    A numeric component indexes a list and is a key in a mapping.  Walking
    *through* a scalar is always an error: jq fails there too, and makes
    would then export an empty string.
    """
    node: Any = doc
    for n, part in enumerate(parts):
        if isinstance(node, Branch):
            if part not in node:
                return _MISSING
            node = node.get(part)
        elif isinstance(node, list):
            elems = [v for v in node if not isinstance(v, Comment)]
            if not part.isdigit() or not part.isascii():
                raise SecretsctlError(f"cannot index a list with {part!r}", tree_path=text)
            if int(part) >= len(elems):
                return _MISSING
            node = elems[int(part)]
        else:
            raise SecretsctlError(f"cannot select {part!r}: "
                                  f"{'.'.join(parts[:n]) or 'the root'} is not a mapping or list",
                                  tree_path=text)
    return node


def _leaves(value: Any, parts: list[str]) -> list[tuple[list[str], Any]]:
    """Every leaf under ``value`` with its path; empty containers count as leaves."""
    if isinstance(value, Branch) and any(True for _ in value.items_()):
        return [leaf for i in value.items_() for leaf in _leaves(i.value, parts + [i.key])]
    if isinstance(value, list) and not isinstance(value, Branch):
        elems = [v for v in value if not isinstance(v, Comment)]
        if elems:
            return [leaf for n, v in enumerate(elems) for leaf in _leaves(v, parts + [str(n)])]
    return [(parts, value)]


class _Env:
    """Ordered name -> value with collision detection (errors name both paths)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, str] = {}
        self.origin: dict[str, str] = {}

    def add(self, parts: list[str], text: str, where: str) -> None:
        name = check_name(self.prefix + _SEP.join(parts), where)
        if name in self.values:
            raise SecretsctlError(f"two selected values map to the variable {name} "
                                  f"({self.origin[name]} and {where})", tree_path=where)
        self.values[name] = _check_value(text, where)
        self.origin[name] = where


def _default_env(doc: Branch, sel: Selection, env: _Env) -> None:
    for item in doc.items_():
        if sel.flatten:
            for parts, leaf in _leaves(item.value, [item.key]):
                where = ".".join(parts)
                env.add(parts, json_value_text(leaf, where), where)
        else:
            env.add([item.key], sops_value_text(item.value, item.key), item.key)


def _vars_env(doc: Branch, sel: Selection, env: _Env) -> None:
    for text in sel.vars or ():
        parts = _split_var(text)
        value = _lookup(doc, parts, text)
        if value is _MISSING:
            if sel.missing != "null":
                raise SecretsctlError("selected path does not exist (use --missing=null to "
                                      "export the string 'null' instead)", tree_path=text)
            env.add(parts, "null", text)
        elif sel.flatten:
            for leaf_parts, leaf in _leaves(value, parts):
                where = ".".join(leaf_parts)
                env.add(leaf_parts, json_value_text(leaf, where), where)
        else:
            env.add(parts, json_value_text(value, text), text)


def tree_to_env(doc: Branch | None, selection: Selection | None = None) -> dict[str, str]:
    """The variables ``selection`` picks from ``doc`` (the first document), in order."""
    sel = selection or Selection()
    if sel.missing not in MISSING_MODES:
        raise SecretsctlError(f"--missing must be one of {', '.join(MISSING_MODES)}")
    if sel.prefix and not _NAME.match(sel.prefix):
        check_name(sel.prefix, "--prefix")
    env = _Env(sel.prefix)
    root = doc if isinstance(doc, Branch) else Branch()
    if sel.vars is None:
        _default_env(root, sel, env)
    else:
        _vars_env(root, sel, env)
    return env.values
