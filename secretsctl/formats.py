"""File-format detection and store construction (docs/format.md §12.4)."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, EmitError
from .stores.base import Store

@dataclass(frozen=True)
class StoreEntry:
    """One format in the registry: how files are recognised and the store is built.

    ``store`` is ``"module:Class"``, imported on first use, so that a
    command pays only for the formats it reads.  ``suffixes`` are matched
    case-sensitively, as sops does; ``metadata_marker`` is a regex (bytes)
    that finds the metadata in a raw file without parsing it (``-r`` walks).
    ``options`` picks the constructor arguments from :class:`StoreOptions`.
    """

    name: str
    store: str
    suffixes: tuple[str, ...]
    metadata_marker: bytes
    options: Callable[[StoreOptions], dict[str, Any]] = lambda _: {}


#: Formats by name, in sops's detection order; a name that no suffix claims
#: is the last entry's, the binary store.
STORES: dict[str, StoreEntry] = {}


FORMATS: tuple[str, ...] = ()


def register_store(entry: StoreEntry) -> None:
    """Add a format (the binary store stays the fallback, last)."""
    fallback = STORES.pop("binary", None)
    STORES[entry.name] = entry
    if fallback is not None and entry.name != "binary":
        STORES["binary"] = fallback
    global FORMATS
    FORMATS = tuple(STORES)


@dataclass(frozen=True)
class StoreOptions:
    """``stores:`` settings of ``.sops.yaml``: indentation per store."""

    yaml_indent: int = 4
    json_indent: int = -1
    json_binary_indent: int = -1

    def with_indent(self, indent: int) -> StoreOptions:
        """sops's ``--indent N``: every store at N (YAML's 0 is its default, 4)."""
        return StoreOptions(yaml_indent=indent or 4, json_indent=indent, json_binary_indent=indent)


def detect_format(path: str | None) -> str:
    """The store name for a file name, by suffix as sops does; unknown -> binary.

    The test is case-sensitive, as in sops (``strings.HasSuffix``): ``x.YAML``
    or ``x.Json`` is a *binary* file for sops, and a file sops encrypted
    under such a name holds a binary envelope that only reads back as one.
    """
    if not path:
        return "binary"
    path = os.fspath(path)   # the API also takes Path objects
    for entry in STORES.values():
        if entry.suffixes and path.endswith(entry.suffixes):   # `.env`: also the bare name
            return entry.name
    return "binary"


def resolve_format(explicit: str | None, path: str | None) -> str:
    """``--input-type``/``--output-type`` if given, else by suffix.

    sops silently ignores an unknown type name and falls back to the suffix;
    we refuse it, since the fallback usually picks the binary store.
    """
    if explicit:
        if explicit not in FORMATS:
            raise ConfigError(f"unknown file type {explicit!r}; use one of {', '.join(FORMATS)}")
        return explicit
    return detect_format(path)


def make_store(fmt: str, options: StoreOptions | None = None) -> Store:
    """A store instance for ``fmt`` with the configured indentation."""
    entry = STORES.get(fmt)
    if entry is None:
        raise ConfigError(f"unknown file type {fmt!r}")
    module, _, cls = entry.store.partition(":")
    # __import__ (the import statement's path), so `-X importtime` lists it.
    store: Store = getattr(__import__(module, fromlist=[cls]), cls)(**entry.options(options or StoreOptions()))
    return store


def _yaml_options(opts: StoreOptions) -> dict[str, Any]:
    if opts.yaml_indent < 0:   # only --indent can say so; go-yaml refuses it
        raise EmitError("YAML negative indentation not accepted")
    return {"indent": opts.yaml_indent}


# Where each store puts the metadata (docs/format.md §7.3): a YAML/JSON
# top-level `sops` key, dotenv `sops_…=` lines, an INI `[sops]` section.
for _entry in (
    StoreEntry("yaml", "secretsctl.stores.yaml:YamlStore", (".yaml", ".yml"),
               rb"(^|\n)sops:[ \t]*\r?\n", _yaml_options),
    StoreEntry("json", "secretsctl.stores.json:JsonStore", (".json",), rb'"sops"\s*:\s*\{',
               lambda o: {"indent": o.json_indent}),
    StoreEntry("dotenv", "secretsctl.stores.dotenv:DotenvStore", (".env",), rb"(^|\n)sops_version="),
    StoreEntry("ini", "secretsctl.stores.ini:IniStore", (".ini",), rb"(^|\n)\[sops\]"),
    StoreEntry("binary", "secretsctl.stores.binary:BinaryStore", (), rb'"sops"\s*:\s*\{',
               lambda o: {"indent": o.json_binary_indent}),
):
    register_store(_entry)
