"""File-format detection and store construction (SOPS_FORMAT.md §12.4)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError, EmitError
from .stores.base import Store

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")


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
    if path.endswith((".yaml", ".yml")):
        return "yaml"
    if path.endswith(".json"):
        return "json"
    if path.endswith(".env"):   # also the bare name `.env`
        return "dotenv"
    if path.endswith(".ini"):
        return "ini"
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
    opts = options or StoreOptions()
    if fmt == "yaml":
        from .stores.yaml import YamlStore
        if opts.yaml_indent < 0:   # only --indent can say so; go-yaml refuses it
            raise EmitError("YAML negative indentation not accepted")
        return YamlStore(indent=opts.yaml_indent)
    if fmt == "json":
        from .stores.json import JsonStore
        return JsonStore(indent=opts.json_indent)
    if fmt == "dotenv":
        from .stores.dotenv import DotenvStore
        return DotenvStore()
    if fmt == "ini":
        from .stores.ini import IniStore
        return IniStore()
    if fmt == "binary":
        from .stores.binary import BinaryStore
        return BinaryStore(indent=opts.json_binary_indent)
    raise ConfigError(f"unknown file type {fmt!r}")
