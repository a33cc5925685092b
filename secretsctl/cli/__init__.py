"""The ``secretsctl`` command: a click group of thin commands.

Only this package prints or exits.  Every :class:`SecretsctlError` becomes
one line on stderr, ``secretsctl: error: FILE: PATH: message``, and sops's
exit code; anything unexpected is reported in one line without a traceback
(set ``SECRETSCTL_DEBUG=1`` to see it) and without the exception text,
which could quote input.  Standard output is guarded for every command at
once (:class:`secretsctl.stdguard.StdoutGuard`): a reader that went away
ends us quietly with 141, as SIGPIPE ends sops; any other write failure is a
one-line exit 3.  The console entry point is :func:`secretsctl.launch.main`,
which runs plain decrypts without click and hands every other command line
to :func:`main` here.
"""
from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

from ..errors import ExitCode, FlagError, SecretsctlError
# The stdout guard lives outside this package, free of click, so that an
# entry point that does not load click can share it; the names stay here.
from ..stdguard import SIGPIPE_EXIT, StdoutBroken, StdoutGuard  # noqa: F401 - re-exported
from ..stdguard import install_stdout_guard as _install_stdout_guard
from ..stdguard import silence_stdout as _silence_stdout
from .sopsargs import translate
from .subargs import (KEYSERVICE_COMMANDS, META_CONFIG, META_INDENT, META_SERVICES, key_services,
                      normalize_args)

# Command name -> (module in this package, attribute).  Modules are imported
# only when their command runs: `exec-env` in a CI job should not pay for
# importing the editor, the batch runner and the key-management code.
COMMANDS: dict[str, tuple[str, str]] = {
    "encrypt": ("crypt", "encrypt_cmd"),
    "decrypt": ("crypt", "decrypt_cmd"),
    "filestatus": ("crypt", "filestatus_cmd"),
    "edit": ("editcmd", "edit_cmd"),
    "set": ("editcmd", "set_cmd"),
    "unset": ("editcmd", "unset_cmd"),
    "exec-env": ("execcmd", "exec_env_cmd"),
    "exec-file": ("execcmd", "exec_file_cmd"),
    "export": ("execcmd", "export_cmd"),
    "rotate": ("keyscmd", "rotate_cmd"),
    "updatekeys": ("keyscmd", "updatekeys_cmd"),
    "groups": ("keyscmd", "groups_cmd"),
    "keys": ("keyscmd", "keys_cmd"),
    "keyservice": ("keyservicecmd", "keyservice_cmd"),
    "git": ("gitcmd", "git_cmd"),
    "validate": ("checkscmd", "validate_cmd"),
    "check-encrypted": ("checkscmd", "check_encrypted_cmd"),
    "config": ("checkscmd", "config_cmd"),
    "keygen": ("checkscmd", "keygen_cmd"),
    "completion": ("completioncmd", "completion_cmd"),
    "publish": ("publishcmd", "publish_cmd"),
}


#: The variable click's completion scripts set when they call us back, whatever
#: name (secretsctl, or sops through a symlink) they complete.
COMPLETE_VAR = "_SECRETSCTL_COMPLETE"

#: Commands that hold plaintext, data keys or private keys (keygen) in memory:
#: core dumps are disabled before they run.  The others read metadata only.
HOLD_PLAINTEXT = frozenset(COMMANDS) - {"filestatus", "keys", "config"}


def report(exc: SecretsctlError) -> None:
    """Print an error as sops does: plainly on stderr (multi-line reports stay multi-line)."""
    click.echo(f"secretsctl: error: {exc.user_message()}", err=True)
    if exc.hint:
        click.echo(f"secretsctl: hint: {exc.hint}", err=True)


def _file_of(params: dict[str, Any]) -> str | None:
    """The one file a command works on, from its parameters (None for several)."""
    if "file" in params:
        return params["file"] or "<stdin>"
    files = params.get("files")
    return files[0] if isinstance(files, tuple) and len(files) == 1 else None


def name_the_file(cmd: click.Command) -> click.Command:
    """Make ``cmd`` report errors with its FILE: the one place the CLI names the file.

    Commands raise the library's errors as they are; this boundary raises a
    copy that names the command's file (one given FILE, or ``<stdin>``), so
    no command repeats ``except …: raise exc.with_file(file)``.  Groups
    (``groups add -f FILE``) get it on each subcommand.
    """
    if getattr(cmd, "_names_file", False):
        return cmd
    invoke = cmd.invoke

    def invoke_naming_file(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except FlagError:
            raise   # about a flag, not about the file
        except SecretsctlError as exc:
            raise exc.with_file(_file_of(ctx.params)) from None
    cmd.invoke = invoke_naming_file  # type: ignore[method-assign]
    cmd._names_file = True  # type: ignore[attr-defined]
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            name_the_file(sub)
    return cmd


class Group(click.Group):
    """A group that loads commands lazily and maps our errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = __import__(f"{__name__}.{spec[0]}", fromlist=[spec[1]])
        return name_the_file(getattr(module, spec[1]))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SecretsctlError as exc:
            report(exc)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except StdoutBroken:
            _silence_stdout()
            ctx.exit(SIGPIPE_EXIT)
        except KeyboardInterrupt:
            click.echo("secretsctl: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, no traceback
            if os.environ.get("SECRETSCTL_DEBUG"):
                import traceback
                traceback.print_exc()
            click.echo(f"secretsctl: internal error ({type(exc).__name__}); "
                       "rerun with SECRETSCTL_DEBUG=1 for details", err=True)
            ctx.exit(1)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """Find the command and read its arguments the way sops reads a subcommand's."""
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            if cmd.name in HOLD_PLAINTEXT:
                # Before any plaintext exists: no core file may ever hold it.
                from ..hardening import disable_core_dumps
                disable_core_dumps()
            rest = normalize_args(cmd, rest, ctx.meta)
            if cmd.name in KEYSERVICE_COMMANDS:
                ctx.meta[META_SERVICES] = key_services(cmd.name, ctx.meta)
        return name, cmd, rest


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .. import __version__
    from .sopsargs import SOPS_VERSION
    # community.sops reads `^sops (\d+)\.(\d+)\.(\d+)`; the rest says what we are.
    click.echo(f"sops {SOPS_VERSION} (secretsctl {__version__})")
    ctx.exit(0)


def _remember(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value != ():
            ctx.meta[key] = value
    return callback


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Print the sops version secretsctl answers to, and its own.")
# sops's flags before the subcommand that still matter there (see sopsargs).
@click.option("--config", hidden=True, expose_value=False, callback=_remember(META_CONFIG))
@click.option("--indent", type=int, hidden=True, expose_value=False, callback=_remember(META_INDENT))
def cli() -> None:
    """Encrypt and decrypt sops files (YAML, JSON, dotenv, INI, binary).

    Files are compatible with sops 3.x in both directions, and so is the
    command line: secretsctl installed as `sops` takes sops's flags too.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: sops's command line, then our click commands."""
    # One command builds one large tree (the loader's nodes, the document,
    # its plaintext) and exits.  The cyclic collector would walk every live
    # object again each time a few hundred thousand were allocated: 40% of
    # the time of loading a 100k-leaf file.  None of these structures holds
    # a cycle, and reference counting frees them as before.
    gc.disable()
    _install_stdout_guard()
    if os.environ.get(COMPLETE_VAR):
        # A completion script asking for candidates (click's protocol, see
        # completioncmd): the words are in the environment, not a sops command line.
        cli.main(args=[], prog_name="secretsctl", complete_var=COMPLETE_VAR)
    args = sys.argv[1:] if argv is None else argv
    try:
        inv = translate(args, dict(os.environ), set(COMMANDS))
    except SecretsctlError as exc:
        report(exc)
        sys.exit(int(exc.exit_code))
    for warning in inv.warnings:
        click.echo(f"secretsctl: warning: {warning}", err=True)
    try:
        rc = cli.main(args=inv.argv, prog_name="secretsctl", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        report_usage(exc)
        sys.exit(int(ExitCode.GENERIC))
    except click.exceptions.Abort:
        click.echo("secretsctl: aborted", err=True)
        sys.exit(int(ExitCode.GENERIC))
    except click.ClickException as exc:
        click.echo(f"secretsctl: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)


def report_usage(exc: click.exceptions.UsageError) -> None:
    """A usage error in one line plus a hint, exit 1 as sops (not click's usage block)."""
    possibilities = getattr(exc, "possibilities", None)
    message = " ".join((exc.message if possibilities else exc.format_message()).split())
    if possibilities:
        hint = "did you mean " + " or ".join(repr(p) for p in possibilities) + "?"
    else:
        command = exc.ctx.command_path if exc.ctx is not None else "secretsctl"
        hint = f"see '{command} --help'"
    click.echo(f"secretsctl: error: {message}", err=True)
    click.echo(f"secretsctl: hint: {hint}", err=True)
