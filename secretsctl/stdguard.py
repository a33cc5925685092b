"""Standard output as every command uses it: guarded writes, closed descriptors, EPIPE.

Shared by the click commands (:mod:`secretsctl.cli`) and the click-free
decrypt launcher (:mod:`secretsctl.launch`), so it imports nothing beyond
the standard library and :mod:`secretsctl.errors`.  Standard output is
guarded for every command at once (:class:`StdoutGuard`): a reader that
went away ends us quietly with 141, as SIGPIPE ends sops; any other write
failure is a one-line exit 3.
"""
from __future__ import annotations

import io
import os
import sys
from typing import Any

from .errors import OutputError

#: What a shell reports for a process killed by SIGPIPE (128 + 13), like sops.
SIGPIPE_EXIT = 141


class StdoutBroken(Exception):
    """The reader of our standard output went away (EPIPE)."""


def _stdout_failure(exc: OSError) -> Exception:
    if isinstance(exc, BrokenPipeError):
        return StdoutBroken()
    return OutputError(f"cannot write to standard output: {exc.strerror or exc}")


class _Guarded:
    """Forwards to a stream; ``write``/``flush`` failures become our errors.

    Only OSError is translated: click probes streams with ``write(b"")``
    and relies on the TypeError a text stream raises.
    """

    def __init__(self, stream: Any, closed: bool) -> None:
        self._stream = stream
        self._closed = closed

    def _call(self, fn: Any, *args: Any) -> Any:
        if self._closed:
            raise OutputError("cannot write to standard output: it is closed")
        try:
            return fn(*args)
        except OSError as exc:
            raise _stdout_failure(exc) from None

    def write(self, data: Any) -> Any:
        return self._call(self._stream.write, data)

    def flush(self) -> None:
        # Flushing nothing must not fail, or the interpreter's own flush at
        # exit would report a closed stdout a second time.
        if not self._closed:
            self._call(self._stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StdoutGuard(_Guarded):
    """``sys.stdout`` stand-in; ``.buffer`` (raw bytes) is guarded the same way."""

    @property
    def buffer(self) -> _Guarded:
        return _Guarded(self._stream.buffer, self._closed)


def install_stdout_guard() -> None:
    """Guard stdout, and give closed descriptors 0-2 a /dev/null.

    A closed descriptor would otherwise be reused by the next ``open``: a
    temp file holding plaintext could become fd 1 of an editor or of an
    ``exec-env`` child.  Go, and so sops, does the same at start-up.
    """
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
    for fd in closed:
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if 0 in closed and sys.stdin is None:
        # Reading a closed stdin then reads nothing, as in sops (Go gives it
        # /dev/null too), instead of failing on ``None.buffer``.
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115 - lives as long as we do
    stream = sys.stdout
    if stream is None or 1 in closed:
        # Only for its attributes: the guard refuses every write.
        stream = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8")  # noqa: SIM115
    if not isinstance(stream, _Guarded):
        sys.stdout = StdoutGuard(stream, closed=1 in closed)


def silence_stdout() -> None:
    """Point fd 1 at /dev/null after EPIPE, so that the exit-time flush succeeds quietly.

    Whatever is still buffered would fail again in the interpreter's flush
    at exit ("Exception ignored ... BrokenPipeError").
    """
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def write_stdout(data: bytes) -> None:
    """Raw bytes to stdout, flushed (plaintext and files are bytes, not text).

    Failures are translated by the guard that :func:`install_stdout_guard`
    puts in place: :class:`StdoutBroken` (exit 141) for a closed pipe, an
    :class:`OutputError` (one line, exit 3) otherwise.
    """
    stream = sys.stdout
    if stream is None:  # not started through main(), and fd 1 closed
        raise OutputError("cannot write to standard output: it is closed")
    out = stream.buffer
    view = memoryview(data)
    while view:
        # A pipe whose reader leaves mid-write gives a short count, not an
        # error (seen with 4 MB: 65536 written, 0 returned as failure);
        # writing the rest raises the EPIPE that ends us with 141.
        written = out.write(view)
        if not written:
            raise OutputError("cannot write to standard output: nothing was written")
        view = view[written:]
    out.flush()
