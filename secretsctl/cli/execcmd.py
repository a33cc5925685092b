"""``exec-env``, ``exec-file`` and ``export``: decrypt once, hand the secrets to a job.

The library decides and does the work (:mod:`secretsctl.execflows`); these
commands parse flags, call it and exit with the child's status.

Command forms, as in sops plus an argv form: ``exec-env FILE -- CMD ARGS…``
runs CMD directly; ``exec-env FILE 'cmd string'`` (one argument, no ``--``)
runs ``/bin/sh -c 'cmd string'`` like sops.
"""
from __future__ import annotations

from typing import Any

import click

from .. import execenv, execflows, exportfmt
from . import options as o

_DASHDASH = "secretsctl.dashdash"


class ExecCommand(click.Command):
    """Remembers whether ``--`` was typed: without it one COMMAND is a shell string."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_DASHDASH] = "--" in args
        return super().parse_args(ctx, args)


def _shell_form(ctx: click.Context, command: tuple[str, ...]) -> bool:
    return len(command) == 1 and not ctx.meta.get(_DASHDASH, False)


decrypt_opts = o.compose(o.input_type, o.ignore_mac, o.decryption_order, o.config_opt)
user_opt = click.option("--user", metavar="NAME",
                        help="Run the command as this user: groups, uid, gid, HOME/USER/LOGNAME "
                             "(root only; sops 3.13).")


selection_opts = o.compose(
    click.option("--vars", "vars_", multiple=True, metavar="PATHS",
                 help="Comma list of dotted paths (a,b.c,list.0) to export as a, b__c, list__0; "
                      "repeatable. Default: all top-level scalars (sops's rule)."),
    click.option("--flatten", is_flag=True,
                 help="Export every leaf (of the selection) as its own variable, joined with '__'."),
    click.option("--prefix", default="", help="Put this in front of every variable name."),
    click.option("--missing", type=click.Choice(execenv.MISSING_MODES), default="error",
                 show_default=True,
                 help="A selected path that does not exist: fail, or export the string 'null' "
                      "(makes' old behaviour)."),
)


def _source(file: str, kw: dict[str, Any]) -> execflows.Source:
    """The file and its decryption options (popped from ``kw``)."""
    return execflows.Source(file, input_type=kw.pop("input_type"), ignore_mac=kw.pop("ignore_mac"),
                            decryption_order=o.order(kw.pop("decryption_order")))


def _selection(kw: dict[str, Any]) -> execenv.Selection:
    """The ``--vars``/``--flatten``/``--prefix``/``--missing`` selection (popped from ``kw``)."""
    return execflows.selection(kw.pop("vars_"), flatten=kw.pop("flatten"), prefix=kw.pop("prefix"),
                               missing=kw.pop("missing"))


@click.command("exec-env", cls=ExecCommand)
@click.argument("file", type=click.Path())
@click.argument("command", nargs=-1, required=True)
@click.option("--pristine", is_flag=True, help="Give the command only the secrets, no other variables.")
@click.option("--same-process", is_flag=True, help="Replace secretsctl with the command (execve).")
@user_opt
@selection_opts
@decrypt_opts
@click.pass_context
def exec_env_cmd(ctx: click.Context, file: str, command: tuple[str, ...], pristine: bool,
                 same_process: bool, user: str | None, **kw: Any) -> None:
    """Run COMMAND with the secrets of FILE in its environment.

    \b
    secretsctl exec-env FILE -- CMD [ARGS...]   run CMD directly (no shell)
    secretsctl exec-env FILE 'cmd string'       run it with /bin/sh -c (sops)

    SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded; the exit status is the
    command's (128+N if it dies of signal N).
    """
    rt = o.runtime(kw.pop("config_path"))
    ctx.exit(execflows.exec_env(_source(file, kw), command, shell=_shell_form(ctx, command),
                                sel=_selection(kw), pristine=pristine, same_process=same_process,
                                user=user, runtime=rt))


@click.command("exec-file", cls=ExecCommand)
@click.argument("file", type=click.Path())
@click.argument("command", nargs=-1, required=True)
@click.option("--no-fifo", is_flag=True,
              help="Use a 0600 temporary file instead of a FIFO (removed when the command exits).")
@click.option("--filename", default="tmp-file", show_default=True, help="Name of the served file.")
@user_opt
@o.output_type
@decrypt_opts
@click.pass_context
def exec_file_cmd(ctx: click.Context, file: str, command: tuple[str, ...], no_fifo: bool,
                  filename: str, user: str | None, output_type: str | None, input_type: str | None,
                  ignore_mac: bool, decryption_order: str | None, config_path: str | None) -> None:
    """Run COMMAND with '{}' replaced by the path of the decrypted FILE.

    The plaintext is served through a FIFO in a private directory (it can
    be read once and never touches the disk); the directory is removed when
    COMMAND exits.
    """
    source = execflows.Source(file, input_type=input_type, ignore_mac=ignore_mac,
                              decryption_order=o.order(decryption_order))
    ctx.exit(execflows.exec_file(source, command, shell=_shell_form(ctx, command),
                                 no_fifo=no_fifo, filename=filename, output_type=output_type,
                                 user=user, runtime=o.runtime(config_path)))


@click.command("export")
@click.argument("file", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(exportfmt.FORMATS), default="sh",
              show_default=True, help="Output syntax.")
@click.option("--github-env", type=click.Path(), envvar="GITHUB_ENV",
              help="--format github: the env file to append to (default $GITHUB_ENV).")
@selection_opts
@decrypt_opts
def export_cmd(file: str, fmt: str, github_env: str | None, **kw: Any) -> None:
    """Print the secrets of FILE as variable assignments.

    \b
    eval "$(secretsctl export FILE)"                       # sh: export NAME='...'
    secretsctl export --format dotenv FILE > .env          # NAME='...' (python-dotenv quoting)
    secretsctl export --format gitlab FILE > job.env       # GitLab dotenv report
    secretsctl export --format github FILE                 # masks to stdout, values to $GITHUB_ENV

    Note: bash's set -e does not see a failure inside eval "$(...)"; to stop
    on errors use: exports="$(secretsctl export FILE)"; eval "$exports"
    """
    rt = o.runtime(kw.pop("config_path"))
    execflows.export(_source(file, kw), fmt=fmt, sel=_selection(kw), github_env=github_env,
                     runtime=rt, stdout=o.write_stdout)
