"""A subcommand's arguments read as sops reads them, before click parses them.

sops parses a subcommand's flags with Go's ``flag`` package after moving
them in front of the positional arguments, so ``-output-type json`` (one
dash), ``--in-place=true`` and ``--enable-local-keyservice=false`` are all
valid there.  click knows only ``--output-type`` and bare boolean flags;
:func:`normalize_args` rewrites the first forms into the second, using the
click command's own options, and takes out sops's key-service flags (which
secretsctl's commands do not define) into ``meta``.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

import click

from ..errors import ExitCode, SecretsctlError
from .sopsargs import BOOL_T, KEYSERVICE_FLAGS, SLICE, env_default, parse_bool

META_CONFIG = "sops.config"
META_INDENT = "sops.indent"
META_KEYSERVICES = "sops.keyservices"
META_LOCAL_KEYSERVICE = "sops.local_keyservice"
META_SERVICES = "sops.services"

#: The sops subcommands that carry ``--keyservice``/``--enable-local-keyservice``.
KEYSERVICE_COMMANDS = {"exec-env", "exec-file", "publish", "groups", "add", "delete", "updatekeys",
                       "decrypt", "encrypt", "rotate", "edit", "set", "unset"}


def _options(cmd: click.Command) -> dict[str, click.Option]:
    found: dict[str, click.Option] = {}
    for param in cmd.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                found[opt] = param
    return found


def normalize_args(cmd: click.Command, args: list[str], meta: MutableMapping[str, Any]) -> list[str]:
    """``args`` of ``cmd`` with sops's flag spellings turned into click's."""
    opts = _options(cmd)
    takes_keyservice = cmd.name in KEYSERVICE_COMMANDS and "--keyservice" not in opts
    if takes_keyservice:
        _keyservice_defaults(meta)
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            out += args[i - 1:]
            break
        if not token.startswith("-") or token == "-":
            if isinstance(cmd, click.Group):
                sub = cmd.get_command(click.Context(cmd), token)
                if sub is not None:
                    return [*out, token, *normalize_args(sub, args[i:], meta)]
            out.append(token)
            continue
        body = token[2:] if token.startswith("--") else token[1:]
        name, eq, value = body.partition("=")
        if takes_keyservice and name in KEYSERVICE_FLAGS:
            if not eq and KEYSERVICE_FLAGS[name].kind == SLICE and i < len(args):
                value, i = args[i], i + 1
            _record_keyservice(meta, name, value if (eq or KEYSERVICE_FLAGS[name].kind == SLICE) else None)
            continue
        long = f"--{name}"
        option = opts.get(long) if len(name) > 1 else None
        if option is None:
            out.append(token)
            if token in opts and not opts[token].is_flag and not eq and i < len(args):
                out.append(args[i])  # a value is never read as a flag
                i += 1
            continue
        if option.is_flag and not option.count:
            if not eq or parse_bool(value, name):
                out.append(long if long in option.opts else option.opts[0])
            elif option.secondary_opts:
                out.append(option.secondary_opts[0])
            continue
        out.append(f"{long}={value}" if eq else long)
        if not eq and i < len(args):
            out.append(args[i])
            i += 1
    return out


def _keyservice_defaults(meta: MutableMapping[str, Any]) -> None:
    environ = dict(os.environ)
    meta.setdefault(META_LOCAL_KEYSERVICE, env_default(KEYSERVICE_FLAGS["enable-local-keyservice"], environ))
    meta.setdefault(META_KEYSERVICES, env_default(KEYSERVICE_FLAGS["keyservice"], environ))
    meta.setdefault("sops.keyservices_from_env", True)


def _record_keyservice(meta: MutableMapping[str, Any], name: str, value: str | None) -> None:
    if KEYSERVICE_FLAGS[name].kind == BOOL_T:
        meta[META_LOCAL_KEYSERVICE] = True if value is None else parse_bool(value, name)
        return
    if meta.pop("sops.keyservices_from_env", False):
        meta[META_KEYSERVICES] = []   # a flag replaces SOPS_KEYSERVICE's list
    meta[META_KEYSERVICES] = [*meta.get(META_KEYSERVICES, []), value]


def key_services(command: str, meta: MutableMapping[str, Any]) -> tuple[Any, ...]:
    """The key services of this command line, in sops's order: local first, then each URI.

    The default (local keys, no ``--keyservice``) is the empty tuple.  With
    ``--enable-local-keyservice=false`` and no URI there is nothing left to
    use, and the command fails as sops fails without key services: exit 1
    when encrypting ("no key services provided"), 128 when unwrapping.
    """
    remotes = meta.get(META_KEYSERVICES) or []
    local = meta.get(META_LOCAL_KEYSERVICE, True) is not False
    if local and not remotes:
        return ()
    if not remotes:
        code = ExitCode.GENERIC if command == "encrypt" else ExitCode.COULD_NOT_RETRIEVE_KEY
        raise SecretsctlError("no key service to use: the local one is disabled "
                              "(--enable-local-keyservice=false) and no --keyservice was given",
                              exit_code=code)
    from ..keyservice.client import RemoteService
    from ..keysources.base import LOCAL_KEYS
    environ = dict(os.environ)
    return ((LOCAL_KEYS,) if local else ()) + tuple(RemoteService(uri, environ) for uri in remotes)
