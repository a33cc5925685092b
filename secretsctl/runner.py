"""Run the child of ``exec-env``/``exec-file``: signals forwarded, status propagated.

sops runs ``/bin/sh -c CMD`` and forwards no signals, so ``kill -TERM`` of
sops leaves the child running, and a child killed by a signal makes sops
exit 255.  Here:

* the command is an argv (no shell) unless the caller asks for sops's
  one-string form, which runs ``/bin/sh -c STRING`` exactly like sops;
* SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to secretsctl are passed on to
  the child, which decides what to do; secretsctl waits for it;
* the exit status is the child's, or ``128 + N`` when it died of signal N
  (the shell convention);
* the child gets the user's core-dump limit back (secretsctl runs with 0,
  see :mod:`secretsctl.hardening`).

How: the four signals and SIGCHLD are *blocked* and collected with
``sigtimedwait`` instead of Python handlers, so none can be lost between
spawning and waiting, and the ``siginfo`` tells who sent them.  Signals the
kernel generates for the terminal (Ctrl-C, Ctrl-\\, hang-up) already reach
the whole foreground process group, child included; forwarding those would
deliver them twice (sudo makes the same exception).  The child is started
with ``posix_spawn`` and an empty signal mask, so no Python code runs
between fork and exec (``preexec_fn`` is unsafe with the exec-file writer
thread running).
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import tempfile
import threading
from typing import Callable, Mapping, NoReturn, Sequence

from .errors import SecretsctlError
from .fileio import write_atomic
from .hardening import user_core_limit

__all__ = ["FORWARDED", "SHELL", "build_argv", "child_env", "exit_status", "run", "exec_in_place",
           "SignalGuard", "Spawn", "ServedFile", "substitute_path"]

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SHELL = "/bin/sh"
_SI_KERNEL = 0x80  # Linux si_code of signals the kernel (the tty driver) generates
# Python ignores these itself; a child must get the defaults back (Popen's restore_signals).
_PYTHON_IGNORED = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))
_POLL_SECONDS = 1.0  # safety net only: SIGCHLD normally ends the wait at once

Spawn = Callable[[str, Sequence[str], Mapping[str, str]], int]


def build_argv(command: Sequence[str], shell: bool) -> list[str]:
    """The child's argv: ``command`` itself, or ``/bin/sh -c STRING`` (sops's form)."""
    if not command:
        raise SecretsctlError("no command given", exit_code=1)
    if shell:
        if len(command) != 1:
            raise SecretsctlError("the shell form takes exactly one command string")
        return [SHELL, "-c", command[0]]
    return list(command)


def child_env(secrets: Mapping[str, str], base: Mapping[str, str], pristine: bool) -> dict[str, str]:
    """The child's environment: ``base`` plus the secrets (secrets win), or only them."""
    env = {} if pristine else dict(base)
    env.update(secrets)
    return env


def exit_status(wait_status: int) -> int:
    """A ``waitpid`` status as a shell would report it: code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _default_spawn(path: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
    # posix_spawnp resolves ``path`` with *our* PATH, so --pristine still finds commands.
    return os.posix_spawnp(path, list(argv), dict(env), setsigmask=set(),
                           setsigdef=set(_PYTHON_IGNORED))


def _spawn_error(exc: OSError, name: str) -> SecretsctlError:
    if isinstance(exc, FileNotFoundError):
        return SecretsctlError(f"command not found: {name}", exit_code=127)
    if isinstance(exc, PermissionError):
        return SecretsctlError(f"permission denied: {name}", exit_code=126)
    return SecretsctlError(f"cannot run {name}: {exc.strerror}", exit_code=126)


class SignalGuard:
    """Block the forwarded signals and SIGCHLD in this thread (and threads started later).

    Use as a context manager *before* starting helper threads, so a
    process-directed SIGTERM cannot land in a thread that does not block it.
    """

    SIGNALS = frozenset((*FORWARDED, signal.SIGCHLD))

    def __enter__(self) -> SignalGuard:
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        return self

    def __exit__(self, *exc: object) -> None:
        # Drop forwarded signals still pending, so unblocking cannot kill us after the child
        # is gone; they were meant for the child.
        while signal.sigtimedwait(self.SIGNALS, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


def _should_forward(info: signal.struct_siginfo, child: int) -> bool:
    if info.si_signo not in FORWARDED:
        return False
    if info.si_code == _SI_KERNEL:
        try:
            return os.getpgid(child) != os.getpgrp()  # the tty signalled its group already
        except OSError:
            return False
    return True


def _wait(pid: int) -> int:
    """Wait for ``pid`` while forwarding signals; returns the wait status."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        info = signal.sigtimedwait(SignalGuard.SIGNALS, _POLL_SECONDS)
        if info is not None and _should_forward(info, pid):
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass  # already exited; waitpid collects it next round


def run(argv: Sequence[str], env: Mapping[str, str], *, spawn: Spawn | None = None,
        guard: SignalGuard | None = None) -> int:
    """Run ``argv`` with exactly ``env``; return the shell-style exit status.

    ``spawn(path, argv, env) -> pid`` is injectable.  Pass an already entered
    ``guard`` when helper threads were started under it; otherwise ``run``
    blocks the signals itself for the child's lifetime.
    """
    if guard is None:
        with SignalGuard() as own:
            return run(argv, env, spawn=spawn, guard=own)
    try:
        with user_core_limit():  # the user's program dumps core as the user set it up
            pid = (spawn or _default_spawn)(argv[0], argv, env)
    except OSError as exc:
        raise _spawn_error(exc, argv[0]) from None
    return exit_status(_wait(pid))


def exec_in_place(argv: Sequence[str], env: Mapping[str, str], *,
                  execve: Callable[..., NoReturn] = os.execve,
                  search_path: str | None = None) -> NoReturn:
    """``--same-process``: replace this process with the command (``execve``).

    The command is looked up in *our* PATH (``--pristine`` may leave the
    child without one); signal dispositions Python changed are restored.
    """
    name = argv[0]
    path = name if "/" in name else shutil.which(name, path=search_path or os.environ.get("PATH"))
    if path is None:
        raise SecretsctlError(f"command not found: {name}", exit_code=127)
    for sig in _PYTHON_IGNORED:
        signal.signal(sig, signal.SIG_DFL)
    try:
        with user_core_limit():
            execve(path, list(argv), dict(env))
    except OSError as exc:
        raise _spawn_error(exc, name) from None
    raise AssertionError("execve returned")  # only reachable with a fake execve


class ServedFile:
    """The plaintext for ``exec-file``, served from a private ``mkdtemp`` (0700) directory.

    FIFO mode (default): a named pipe (0600); a writer thread opens it, writes
    the bytes once and closes, so the plaintext never reaches a disk and the
    file can be read once.  ``fifo=False``: a regular 0600 file (for programs
    that seek or read twice).  :meth:`close` removes the directory on every
    path, and frees a writer still waiting for a reader that never came.

    Enter a :class:`SignalGuard` *before* :meth:`open` so the writer thread
    inherits the blocked signals.
    """

    def __init__(self, data: bytes, filename: str = "tmp-file", fifo: bool = True) -> None:
        if not filename or "/" in filename or filename in (".", ".."):
            raise SecretsctlError("--filename must be a plain file name without '/'")
        self.data = data
        self.filename = filename
        self.fifo = fifo
        self.dir: str | None = None
        self.path = ""
        self._writer: threading.Thread | None = None

    def open(self) -> str:
        """Create the directory and the file (or FIFO); returns the path."""
        self.dir = tempfile.mkdtemp(prefix=".secretsctl-")
        self.path = os.path.join(self.dir, self.filename)
        if not self.fifo:
            write_atomic(self.path, self.data, mode=0o600)
            return self.path
        os.mkfifo(self.path, 0o600)
        self._writer = threading.Thread(target=self._serve, name="exec-file-writer", daemon=True)
        self._writer.start()
        return self.path

    def _serve(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until the child opens it
        except OSError:
            return
        try:
            view = memoryview(self.data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass  # the reader went away early (EPIPE): its business
        finally:
            os.close(fd)

    def close(self) -> None:
        """Stop the writer and remove the directory with everything in it."""
        if self._writer is not None and self._writer.is_alive():
            try:  # the child never opened the FIFO: open it ourselves to release the writer
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                self._writer.join(0.05)
                os.close(fd)
            except OSError:
                pass
            self._writer.join(5)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> str:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def substitute_path(argv: Sequence[str], path: str, shell: bool) -> list[str]:
    """Replace every ``{}`` by the path (shell-quoted inside a sops-style command string)."""
    repl = shlex.quote(path) if shell else path
    return [a.replace("{}", repl) for a in argv]
