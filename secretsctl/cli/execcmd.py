"""``exec-env``, ``exec-file`` and ``export``: decrypt once, hand the secrets to a job.

The library does the work (:mod:`secretsctl.execenv` selects and renders,
:mod:`secretsctl.exportfmt` formats, :mod:`secretsctl.runner` runs the
child); these commands parse flags and wire them together.

Command forms, as in sops plus an argv form: ``exec-env FILE -- CMD ARGS…``
runs CMD directly; ``exec-env FILE 'cmd string'`` (one argument, no ``--``)
runs ``/bin/sh -c 'cmd string'`` like sops.
"""
from __future__ import annotations

import os
from typing import Any

import click

from .. import api, execenv, exportfmt, runner, switchuser
from ..errors import OutputError, SecretsctlError
from ..tree import str_to_bytes
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


def _target(user: str | None) -> switchuser.TargetUser | None:
    """The ``--user`` target, checked before anything is decrypted."""
    return switchuser.prepare(user) if user is not None else None


def _become(target: switchuser.TargetUser | None, env: dict[str, str]) -> dict[str, str]:
    """Switch this process to ``target`` (if any); the child's env gets its HOME/USER/LOGNAME."""
    if target is None:
        return env
    switchuser.switch(target)
    return {**env, **switchuser.user_env(target)}

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


def _selection(vars_: tuple[str, ...], flatten: bool, prefix: str, missing: str) -> execenv.Selection:
    paths = tuple(p.strip() for chunk in vars_ for p in chunk.split(",") if p.strip())
    return execenv.Selection(vars=paths if vars_ else None, flatten=flatten, prefix=prefix,
                             missing=missing)


def _decrypt(file: str, input_type: str | None, ignore_mac: bool, decryption_order: str | None,
             config_path: str | None) -> api.Decrypted:
    """The one decryption of this invocation (the data key is unwrapped once)."""
    return api.decrypt_file(file, input_type=input_type, ignore_mac=ignore_mac,
                            decryption_order=o.order(decryption_order), runtime=o.runtime(config_path),
                            reencrypt=False)


def _secrets(file: str, kw: dict[str, Any]) -> dict[str, str]:
    """Decrypt ``file`` and select its variables (pops the shared options from ``kw``)."""
    sel = _selection(kw.pop("vars_"), kw.pop("flatten"), kw.pop("prefix"), kw.pop("missing"))
    dec = _decrypt(file, kw.pop("input_type"), kw.pop("ignore_mac"), kw.pop("decryption_order"),
                   kw.pop("config_path"))
    return execenv.tree_to_env(dec.docs[0] if dec.docs else None, sel)


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
    target = _target(user)
    secrets = _secrets(file, kw)
    argv = runner.build_argv(command, _shell_form(ctx, command))
    env = _become(target, runner.child_env(secrets, os.environ, pristine))
    if same_process:
        runner.exec_in_place(argv, env)
    ctx.exit(runner.run(argv, env))


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
    target = _target(user)
    dec = _decrypt(file, input_type, ignore_mac, decryption_order, config_path)
    data = api.emit_plain(dec, output_type=output_type)
    shell = _shell_form(ctx, command)
    # As sops: switch before the private directory is made, so the user owns it.
    env = _become(target, dict(os.environ))
    # Block the signals before the writer thread starts, so it inherits the mask.
    with runner.SignalGuard() as guard, runner.ServedFile(data, filename, fifo=not no_fifo) as path:
        argv = runner.build_argv(runner.substitute_path(command, path, shell), shell)
        code = runner.run(argv, env, guard=guard)
    ctx.exit(code)


def _stdout(text: str) -> None:
    o.write_stdout(str_to_bytes(text))


def _append_github_env(path: str, text: str) -> None:
    # GitHub's protocol is "append to the runner's file" (the runner holds
    # the path and reads it after the step), so this is an append, not
    # fileio.write_atomic's replace.  The file belongs to the runner.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(str_to_bytes(text))
    except OSError as exc:
        raise OutputError(f"cannot append to the GitHub env file: {exc.strerror}", file=path) from None


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
    if fmt == "github" and not github_env:
        raise SecretsctlError("--format github needs $GITHUB_ENV or --github-env "
                              "(mask commands go to stdout, values to that file)")
    secrets = _secrets(file, kw)
    if fmt == "github":
        masks, entries = exportfmt.github(secrets)
        _stdout(masks)  # mask first, so no later output can show a value
        _append_github_env(str(github_env), entries)
    else:
        _stdout(exportfmt.render(secrets, fmt))
