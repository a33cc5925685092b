"""The ``secretsctl`` console entry point: plain decrypts without click (issue 13).

Most calls tools make are a small decrypt (``sops -d FILE``, ``secretsctl
decrypt --output-type json FILE``), and most of such a run used to be
start-up: click, the command modules and what they import.  :func:`main`
recognises those command lines and runs the library's decrypt directly;
every other command line goes to :func:`secretsctl.cli.main` unchanged.

Recognised, and nothing else:

* ``decrypt [OPTS] FILE [OPTS]`` and sops's legacy ``-d``/``--decrypt``
  with ``OPTS`` before ``FILE`` (in any order with ``-d``);
* ``OPTS``, each at most once: ``--output-type T``, ``--input-type T`` (a
  built-in format), ``--extract PATH``, ``--output F`` (also written
  ``--name=VALUE``), ``--ignore-mac``;
* ``FILE`` an existing regular file that is not a command name.

Any other flag or spelling, a second positional argument, a value that is
empty or starts with ``-``, or an environment variable the click layer
reads itself (``SOPS_KEYSERVICE``, ``SOPS_ENABLE_LOCAL_KEYSERVICE``,
``SOPS_DECRYPTION_ORDER``, click's completion variable) means the click
path runs instead: when in doubt, fall back.  ``SECRETSCTL_NO_FASTPATH=1``
forces the click path (the tests compare the two byte for byte).

What the click path does around the command is done here in the same
order: the cyclic collector off, the stdout guard (closed descriptors,
EPIPE -> 141), core dumps disabled before any plaintext exists, errors
naming the file, one line on stderr and sops's exit code.  Messages are
printed by the CLI's own functions (imported, with click, only when there
is something to report), so that they are the same bytes.

This module imports only the standard library at import time.
"""
from __future__ import annotations

import os
import sys
from typing import Any

#: Set (to anything) to always take the click path.
NO_FASTPATH_VAR = "SECRETSCTL_NO_FASTPATH"

#: Variables read by the click layer itself rather than by the library
#: through the Runtime's environment: their handling stays in one place.
CLI_ENV = ("SOPS_KEYSERVICE", "SOPS_ENABLE_LOCAL_KEYSERVICE", "SOPS_DECRYPTION_ORDER",
           "_SECRETSCTL_COMPLETE", NO_FASTPATH_VAR)

#: The built-in formats (click checks --input-type/--output-type against the
#: registry as it was when the options were built; these are always in it).
TYPES = frozenset({"yaml", "json", "dotenv", "ini", "binary"})

VALUE_FLAGS = {"--output-type": "output_type", "--input-type": "input_type",
               "--extract": "extract", "--output": "output"}
BOOL_FLAGS = {"--ignore-mac": "ignore_mac"}
DECRYPT_FLAGS = ("-d", "--decrypt")

#: secretsctl's command names and urfave's ``help``/``h``: ``sops -d WORD``
#: with one of these runs that command (sopsargs.translate), not a decrypt.
#: tests/test_fastpath.py checks it against secretsctl.cli.COMMANDS.
COMMAND_WORDS = frozenset({
    "encrypt", "decrypt", "filestatus", "edit", "set", "unset", "exec-env", "exec-file", "export",
    "rotate", "updatekeys", "groups", "keys", "keyservice", "git", "validate", "check-encrypted",
    "config", "keygen", "completion", "publish", "help", "h"})


def _option(plan: dict[str, Any], token: str, args: list[str], i: int) -> int | None:
    """Read the option at ``args[i]`` (``token``) into ``plan``; the next index, or None."""
    name, eq, value = token.partition("=")
    if name in BOOL_FLAGS and not eq:
        if BOOL_FLAGS[name] in plan:
            return None
        plan[BOOL_FLAGS[name]] = True
        return i + 1
    key = VALUE_FLAGS.get(name)
    if key is None or key in plan:
        return None
    if not eq:
        if i + 1 >= len(args):
            return None
        value = args[i + 1]
        i += 1
    if not value or value.startswith("-"):
        return None
    if key in ("input_type", "output_type") and value not in TYPES:
        return None
    plan[key] = value
    return i + 1


def _subcommand(args: list[str]) -> dict[str, Any] | None:
    """``decrypt``'s arguments (after the word): options and one FILE, in any order."""
    plan: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            if "file" in plan or len(args) - i != 2:
                return None
            plan["file"] = args[i + 1]
            break
        if token.startswith("-"):
            nxt = _option(plan, token, args, i)
            if nxt is None:
                return None
            i = nxt
            continue
        if "file" in plan:
            return None
        plan["file"] = token
        i += 1
    return plan


def _legacy(args: list[str]) -> dict[str, Any] | None:
    """sops's ``-d [OPTS] FILE``: Go ``flag`` rules, flags stop at the first non-flag."""
    plan: dict[str, Any] = {}
    mode = False
    i = 0
    while i < len(args) and args[i].startswith("-"):
        token = args[i]
        if token == "--":
            i += 1
            break
        if token in DECRYPT_FLAGS:
            if mode:
                return None
            mode = True
            i += 1
            continue
        nxt = _option(plan, token, args, i)
        if nxt is None:
            return None
        i = nxt
    rest = args[i:]
    if not mode or len(rest) != 1 or rest[0] in COMMAND_WORDS:
        return None
    plan["file"] = rest[0]
    return plan


def recognise(args: list[str], environ: Any = os.environ) -> dict[str, Any] | None:
    """The decrypt ``args`` ask for, as a plan, or None for the click path."""
    if not args or any(name in environ for name in CLI_ENV):
        return None
    plan = _subcommand(args[1:]) if args[0] == "decrypt" else _legacy(args)
    if plan is None or not plan.get("file") or plan["file"].startswith("-"):
        return None
    if not os.path.isfile(plan["file"]):
        return None   # a missing file, a directory: the click path reports it
    # click reads SOPS_CONFIG for decrypt's --config; an empty value is unset.
    plan["config"] = environ.get("SOPS_CONFIG") or None
    return plan


def _echo_err(message: str) -> None:
    import click  # only to report: the same bytes as the click path (ANSI stripping, encoding)
    click.echo(message, err=True)


def _warn(message: str) -> None:
    _echo_err(f"secretsctl: warning: {message}")


def _decrypt(plan: dict[str, Any]) -> None:
    """``decrypt_cmd`` for a plan: the same library call, without click."""
    from . import api, cryptflows
    from .stdguard import write_stdout
    runtime = api.Runtime(environ=dict(os.environ), config_path=plan["config"], indent=None,
                          key_services=(), warn=_warn)
    target = cryptflows.Target(plan["file"], output=plan.get("output"),
                               stdin=sys.stdin.buffer.read, stdout=write_stdout)
    cryptflows.decrypt(target, input_type=plan.get("input_type"),
                       output_type=plan.get("output_type"), extract=plan.get("extract"),
                       ignore_mac=plan.get("ignore_mac", False), runtime=runtime)


def run(plan: dict[str, Any]) -> int:
    """Run a recognised decrypt; its exit code, errors reported as the click group reports them."""
    from .errors import FlagError, SecretsctlError
    from .hardening import disable_core_dumps
    from .stdguard import SIGPIPE_EXIT, StdoutBroken, silence_stdout
    # Before any plaintext exists: no core file may ever hold it.
    disable_core_dumps()
    try:
        try:
            _decrypt(plan)
        except FlagError:
            raise   # about a flag, not about the file
        except SecretsctlError as exc:
            raise exc.with_file(plan["file"]) from None
    except SecretsctlError as exc:
        from .cli import report
        report(exc)
        return int(exc.exit_code)
    except StdoutBroken:
        silence_stdout()
        return SIGPIPE_EXIT
    except KeyboardInterrupt:
        _echo_err("secretsctl: interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence, no traceback
        if os.environ.get("SECRETSCTL_DEBUG"):
            import traceback
            traceback.print_exc()
        _echo_err(f"secretsctl: internal error ({type(exc).__name__}); "
                  "rerun with SECRETSCTL_DEBUG=1 for details")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a recognised decrypt here, anything else through click."""
    args = sys.argv[1:] if argv is None else argv
    plan = recognise(args)
    if plan is None:
        from .cli import main as cli_main
        cli_main(argv)
        return
    import gc
    # As secretsctl.cli.main: no cyclic collection for a one-shot process,
    # and standard output guarded before anything is written.
    gc.disable()
    from .stdguard import install_stdout_guard
    install_stdout_guard()
    sys.exit(run(plan))
