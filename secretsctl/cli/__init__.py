"""The ``secretsctl`` command: a click group of thin commands.

Only this package prints or exits.  Every :class:`SecretsctlError` becomes
one line on stderr, ``secretsctl: error: FILE: PATH: message``, and sops's
exit code; anything unexpected is reported in one line without a traceback
(set ``SECRETSCTL_DEBUG=1`` to see it) and without the exception text,
which could quote input.
"""
from __future__ import annotations

import importlib
import os
import traceback
from typing import Any

import click

from ..errors import SecretsctlError

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
}


def report(exc: SecretsctlError) -> None:
    """Print an error as sops does: plainly on stderr (multi-line reports stay multi-line)."""
    click.echo(f"secretsctl: error: {exc.user_message()}", err=True)
    if exc.hint:
        click.echo(f"secretsctl: hint: {exc.hint}", err=True)


class Group(click.Group):
    """A group that loads commands lazily and maps our errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f"{__name__}.{spec[0]}")
        return getattr(module, spec[1])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SecretsctlError as exc:
            report(exc)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("secretsctl: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, no traceback
            if os.environ.get("SECRETSCTL_DEBUG"):
                traceback.print_exc()
            click.echo(f"secretsctl: internal error ({type(exc).__name__}); "
                       "rerun with SECRETSCTL_DEBUG=1 for details", err=True)
            ctx.exit(1)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """``secretsctl FILE`` alone means ``secretsctl edit FILE``, as in sops."""
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and _looks_like_file(name):
            return "edit", self.get_command(ctx, "edit"), args
        return super().resolve_command(ctx, args)


def _looks_like_file(name: str) -> bool:
    # An existing file, or a creatable path that names a directory or an
    # extension: a mistyped command ("decryt") must not open an editor.
    if name.startswith("-"):
        return False
    if os.path.isfile(name):
        return True
    parent = os.path.dirname(name) or "."
    return os.path.isdir(parent) and ("/" in name or "." in os.path.basename(name))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="secretsctl", prog_name="secretsctl")
def cli() -> None:
    """Encrypt and decrypt sops files (YAML, JSON, dotenv, INI, binary).

    Files are compatible with sops 3.x in both directions.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="secretsctl")
