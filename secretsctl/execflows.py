"""``exec-env``, ``exec-file`` and ``export`` as library functions.

Decrypt once, hand the secrets to a job.  The decisions live here: the
``--user`` target is checked before anything is decrypted, the switch
happens before the private directory exists (as sops), which variables a
selection exports, and where ``export --format github`` sends what (masks
to standard output first, values appended to the runner's ``$GITHUB_ENV``
file).  :mod:`secretsctl.execenv` selects and renders, :mod:`secretsctl.exportfmt`
formats, :mod:`secretsctl.runner` runs the child.  Standard output is
injected; nothing here prints.  ``exec_env``/``exec_file`` return the
child's exit status for the caller to exit with.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import api, execenv, exportfmt, runner, switchuser
from .api import Runtime
from .errors import OutputError, SecretsctlError
from .tree import str_to_bytes

__all__ = ["Source", "exec_env", "exec_file", "export", "selection"]

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class Source:
    """The encrypted file a job's secrets come from, and how to decrypt it."""

    file: str
    input_type: str | None = None
    ignore_mac: bool = False
    decryption_order: list[str] | None = None

    def decrypt(self, runtime: Runtime) -> api.Decrypted:
        """The one decryption of this invocation (the data key is unwrapped once)."""
        return api.decrypt_file(self.file, input_type=self.input_type, ignore_mac=self.ignore_mac,
                                decryption_order=self.decryption_order, runtime=runtime,
                                reencrypt=False)

    def secrets(self, sel: execenv.Selection, runtime: Runtime) -> dict[str, str]:
        """The selected variables of the first document."""
        dec = self.decrypt(runtime)
        return execenv.tree_to_env(dec.docs[0] if dec.docs else None, sel)


def selection(vars_: Sequence[str], *, flatten: bool = False, prefix: str = "",
              missing: str = "error") -> execenv.Selection:
    """A selection from ``--vars`` values (comma lists, repeatable); none given = sops's rule."""
    paths = tuple(p.strip() for chunk in vars_ for p in chunk.split(",") if p.strip())
    return execenv.Selection(vars=paths if vars_ else None, flatten=flatten, prefix=prefix,
                             missing=missing)


def _target(user: str | None) -> switchuser.TargetUser | None:
    """The ``--user`` target, checked before anything is decrypted."""
    return switchuser.prepare(user) if user is not None else None


def _become(target: switchuser.TargetUser | None, env: dict[str, str]) -> dict[str, str]:
    """Switch this process to ``target`` (if any); the child's env gets its HOME/USER/LOGNAME."""
    if target is None:
        return env
    switchuser.switch(target)
    return {**env, **switchuser.user_env(target)}


def exec_env(source: Source, command: Sequence[str], *, shell: bool, sel: execenv.Selection,
             pristine: bool = False, same_process: bool = False, user: str | None = None,
             runtime: Runtime, environ: Mapping[str, str] | None = None) -> int:
    """Run ``command`` with the secrets in its environment; its exit status (128+N for signal N).

    ``shell``: one string run by ``/bin/sh -c`` (sops's form) instead of an
    argv.  ``same_process`` replaces this process (never returns).
    """
    target = _target(user)
    secrets = source.secrets(sel, runtime)
    argv = runner.build_argv(command, shell)
    base = os.environ if environ is None else environ
    env = _become(target, runner.child_env(secrets, base, pristine))
    if same_process:
        runner.exec_in_place(argv, env)
    return runner.run(argv, env)


def exec_file(source: Source, command: Sequence[str], *, shell: bool, no_fifo: bool = False,
              filename: str = "tmp-file", output_type: str | None = None,
              user: str | None = None, runtime: Runtime,
              environ: Mapping[str, str] | None = None) -> int:
    """Run ``command`` with ``{}`` replaced by the path of the decrypted file; its exit status.

    The plaintext is served through a FIFO in a private directory (read
    once, never on disk) or a 0600 file with ``no_fifo``; the directory is
    removed when the command exits.
    """
    target = _target(user)
    data = api.emit_plain(source.decrypt(runtime), output_type=output_type)
    # As sops: switch before the private directory is made, so the user owns it.
    env = _become(target, dict(os.environ if environ is None else environ))
    # Block the signals before the writer thread starts, so it inherits the mask.
    with runner.SignalGuard() as guard, runner.ServedFile(data, filename, fifo=not no_fifo) as path:
        argv = runner.build_argv(runner.substitute_path(command, path, shell), shell)
        return runner.run(argv, env, guard=guard)


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


def export(source: Source, *, fmt: str, sel: execenv.Selection, github_env: str | None = None,
           runtime: Runtime, stdout: Sink) -> None:
    """The secrets as assignments in ``fmt`` (:data:`secretsctl.exportfmt.FORMATS`).

    ``github``: ``::add-mask::`` lines to ``stdout`` first (so no later output
    can show a value), then the values appended to ``github_env``.
    """
    if fmt == "github" and not github_env:
        raise SecretsctlError("--format github needs $GITHUB_ENV or --github-env "
                              "(mask commands go to stdout, values to that file)")
    secrets = source.secrets(sel, runtime)
    if fmt == "github":
        masks, entries = exportfmt.github(secrets)
        stdout(str_to_bytes(masks))
        _append_github_env(str(github_env), entries)
    else:
        stdout(str_to_bytes(exportfmt.render(secrets, fmt)))
