"""``completion bash|zsh|fish``: print a shell completion script (sops 3.11 has ``completion``).

The script is click's: the shell calls the program again with
``_SECRETSCTL_COMPLETE=<shell>_complete`` and the words typed so far, and
click answers with the candidates.  The variable stays ``_SECRETSCTL_COMPLETE``
whatever name the script completes: ``secretsctl.cli.main`` answers it
before reading sops's command line, and the same script then works for
``secretsctl`` and for a ``sops`` symlink to it.

sops 3.11 prints scripts for bash and zsh only (urfave/cli's
``--generate-bash-completion`` protocol, which secretsctl does not speak);
fish is added here because click supports it.
"""
from __future__ import annotations

import os
import sys

import click

from . import COMPLETE_VAR
from . import options as o

SHELLS = ("bash", "zsh", "fish")
DEFAULT_NAME = "secretsctl"


def invoked_name(argv0: str) -> str:
    """The command name to complete: how we were invoked (``sops`` through a symlink).

    ``python -m secretsctl`` gives ``__main__.py`` as ``argv[0]``: no
    command name there, so the default.
    """
    name = os.path.basename(argv0 or "")
    if not name or name.endswith(".py") or name.startswith("-") or not name.isprintable() \
            or any(c.isspace() for c in name):
        return DEFAULT_NAME
    return name


def completion_script(root: click.Command, shell: str, prog_name: str) -> str:
    """The completion script of ``root`` for ``shell``, registered for ``prog_name``."""
    from click.shell_completion import get_completion_class
    cls = get_completion_class(shell)
    if cls is None:  # not reachable through the CLI: click.Choice checked the shell
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return cls(root, {}, prog_name, COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.option("--prog-name", metavar="NAME",
              help="Command name the script completes (default: the name secretsctl was "
                   "run as, e.g. sops through a symlink).")
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str, prog_name: str | None) -> None:
    """Print a completion script for SHELL (bash, zsh or fish).

    \b
    bash:  source <(secretsctl completion bash)        # e.g. in ~/.bashrc
    zsh:   source <(secretsctl completion zsh)         # after compinit
    fish:  secretsctl completion fish > ~/.config/fish/completions/secretsctl.fish
    """
    name = prog_name or invoked_name(sys.argv[0])
    script = completion_script(ctx.find_root().command, shell, name)
    o.write_stdout(script.encode() if script.endswith("\n") else (script + "\n").encode())
