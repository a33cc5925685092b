"""Run the user's editor on plaintext, safely.  No crypto here.

The plaintext goes to a file with the target's base name (editors pick
their syntax mode from it) inside a fresh private directory (0700, file
0600), on ``/dev/shm`` when it is usable so it never reaches a disk.  The
directory is removed on every exit path: normal return, errors, and
SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGABRT, for which handlers are installed for
the duration of the session (the previous handlers are restored afterwards).

vim and neovim are started so that they write no swap, undo, backup or
viminfo/shada file, each of which would copy the plaintext somewhere else
(``~/.vim/undo``, ``~/.local/state/nvim/swap`` …).  Checked with vim 9.0 and
nvim 0.7 against a vimrc/init.vim that turns all of them on:

    vim -n -i NONE --cmd 'set noswapfile noundofile nobackup nowritebackup' \\
        -c 'set noswapfile noundofile nobackup nowritebackup viminfofile=NONE' FILE

(``-c`` runs after the user's vimrc, which could turn the options back on;
``-n`` alone still lets a vimrc's ``undofile`` write ``~/.vim/undo``.)
nvim gets the same with ``shadafile=NONE`` instead of ``viminfofile=NONE``.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, TextIO, TypeVar

from .errors import EditorError, FileNotModified, InputError, SecretsctlError

__all__ = ["Interrupted", "editor_command", "edit_loop", "private_file", "temp_root",
           "tty_prompt", "VIM_SAFE_OPTIONS"]

T = TypeVar("T")
Notify = Callable[[str], None]
Prompt = Callable[[str], bool]

SHM = "/dev/shm"
DIR_PREFIX = "secretsctl-edit-"
FALLBACK_EDITORS = ("vim", "nano", "vi")
VIM_SAFE_OPTIONS = "set noswapfile noundofile nobackup nowritebackup"
_VIM_FAMILY = {"vim": "viminfofile", "vim.basic": "viminfofile", "vim.tiny": "viminfofile",
               "gvim": "viminfofile", "vimx": "viminfofile", "nvim": "shadafile"}
# SIGQUIT and SIGABRT too: their default action dumps core and leaves the
# temp directory; a core is already prevented (secretsctl.hardening), the
# directory is removed here.
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGABRT)


def _signal_name(signum: int) -> str:
    """``SIGTERM``; real-time signals have no ``signal.Signals`` member: ``signal 35``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(SecretsctlError):
    """A signal ended the edit session; exit status 128 + signal number."""

    def __init__(self, signum: int) -> None:
        name = _signal_name(signum)
        super().__init__(f"interrupted by {name}; the file was not changed and the "
                         "temporary plaintext was removed", exit_code=128 + signum)
        self.signum = signum


# ------------------------------------------------------------------ temp file

def temp_root(shm: str = SHM) -> str:
    """``/dev/shm`` when it exists and is writable (RAM only), else the default temp dir."""
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


@contextmanager
def private_file(basename: str, data: bytes, root: str | None = None) -> Iterator[str]:
    """A 0600 file named ``basename`` holding ``data`` in a fresh 0700 dir; removed on exit."""
    directory = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=root or temp_root())
    try:
        os.chmod(directory, 0o700)
        path = os.path.join(directory, os.path.basename(basename) or "file")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------ editor

def _with_safe_flags(argv: list[str]) -> list[str]:
    """Add no-swap/undo/backup/viminfo flags when the editor is vim or neovim."""
    name = os.path.basename(argv[0])
    if name == "vi":  # Debian's vi is often vim; nvi would reject the flags
        resolved = shutil.which(argv[0])
        name = os.path.basename(os.path.realpath(resolved)) if resolved else name
    info = _VIM_FAMILY.get(name)
    if info is None:
        return argv
    return [argv[0], "-n", "-i", "NONE", "--cmd", VIM_SAFE_OPTIONS,
            "-c", f"{VIM_SAFE_OPTIONS} {info}=NONE", *argv[1:]]


def editor_command(environ: Mapping[str, str]) -> list[str]:
    """The editor argv: ``$SOPS_EDITOR``, ``$EDITOR``, ``$VISUAL`` (shlex-split), else vim/nano/vi."""
    for var in ("SOPS_EDITOR", "EDITOR", "VISUAL"):
        text = environ.get(var, "").strip()
        if text:
            try:
                argv = shlex.split(text)
            except ValueError:
                raise EditorError(f"could not run editor: ${var} is not a valid command line") from None
            if argv:
                return _with_safe_flags(argv)
    for name in FALLBACK_EDITORS:
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found:
            return _with_safe_flags([found])
    raise EditorError("could not run editor: no editor available: set $EDITOR "
                      "(vim, nano and vi were not found in PATH)")


def tty_prompt(notify: Notify, stdin: TextIO | None = None) -> Prompt:
    """A prompt for :func:`edit_loop`: on a terminal wait for Enter, otherwise give up.

    ``reason`` (why the edit was refused) is shown first.  EOF (Ctrl+D)
    gives up too, so a closed input can never loop forever.
    """
    def prompt(reason: str) -> bool:
        stream = stdin or sys.stdin
        try:
            if not stream.isatty():
                return False
        except (ValueError, OSError):
            return False
        notify(f"the edited file is invalid: {reason}")
        notify("Press Enter to return to the editor, or Ctrl+C to exit.")
        return stream.readline() != ""
    return prompt


class _Signals:
    """Turn SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGABRT into :class:`Interrupted` while a session runs.

    While the editor runs, SIGINT is not fatal: a Ctrl+C typed in the
    terminal reaches the editor too, and vim uses it to cancel a command.
    Dying then would pull the file out from under the editor (git does the
    same when it runs an editor).  Only the first signal raises, so a second
    one cannot interrupt the cleanup.
    """

    def __init__(self) -> None:
        self.editor_running = False
        self.fired: int | None = None
        self.saved: dict[int, object] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.fired is not None or (signum == signal.SIGINT and self.editor_running):
            return
        self.fired = signum
        raise Interrupted(signum)

    def __enter__(self) -> _Signals:
        for sig in _SIGNALS:
            try:
                self.saved[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: the finally blocks still clean up
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _run_editor(argv: list[str], path: str, sigs: _Signals,
                popen: Callable[..., subprocess.Popen]) -> None:
    try:
        proc = popen([*argv, path])
    except OSError as exc:
        raise EditorError(f"could not run editor {os.path.basename(argv[0])!r}: "
                          f"{exc.strerror}") from None
    sigs.editor_running = True
    try:
        code = proc.wait()
    finally:
        sigs.editor_running = False
        if proc.poll() is None:  # we were interrupted: do not leave the editor behind
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if code < 0:
        raise EditorError(f"could not run editor: killed by {_signal_name(-code)}")
    if code != 0:
        raise EditorError(f"could not run editor: exit status {code}")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        raise EditorError("the editor removed or replaced the temporary file unreadably") from None


def edit_loop(data: bytes, basename: str, validate: Callable[[bytes], T], *,
              environ: Mapping[str, str] | None = None,
              prompt: Prompt | None = None, root: str | None = None,
              popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> T:
    """Let the user edit ``data``; return ``validate(edited bytes)``.

    * unchanged content (SHA-256) -> :class:`FileNotModified` (200);
    * editor fails -> :class:`EditorError` (201);
    * ``validate`` raises a :class:`SecretsctlError` -> if ``prompt(reason)``
      is true the editor re-opens on the text as the user left it, otherwise
      that error is raised (``prompt`` None: never retry).
    """
    env = os.environ if environ is None else environ
    argv = editor_command(env)
    original = hashlib.sha256(data).digest()
    with _Signals() as sigs, private_file(basename, data, root) as path:
        while True:
            _run_editor(argv, path, sigs, popen)
            edited = _read(path)
            if hashlib.sha256(edited).digest() == original:
                raise FileNotModified("File has not changed, exiting.")
            try:
                return validate(edited)
            except SecretsctlError as exc:
                if prompt is None or not prompt(exc.message):
                    raise InputError(f"the edited file is invalid, nothing was written: "
                                     f"{exc.message}", exit_code=exc.exit_code) from None
