"""Safe file writes: atomic replace, fsync, explicit modes.

sops truncates the target and writes in place, so a crash or a full disk
leaves a half-written secrets file, and new plaintext outputs get the
umask's mode (usually 0644).  Every write here goes to a temp file in the
same directory, is fsynced, then renamed over the target; a failure leaves
the old file untouched and no temp file behind.
"""
from __future__ import annotations

import os
import stat

from .errors import FileChanged, InputError, OutputError

PRIVATE_MODE = 0o600


def read_file(path: str) -> bytes:
    """Read a whole file; a missing or unreadable file is an ``InputError`` (exit 2)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError("file does not exist", file=path, exit_code=100) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from None


def read_if_exists(path: str) -> bytes | None:
    """Like :func:`read_file`, but a path that does not exist gives None."""
    try:
        return read_file(path)
    except InputError:
        if not os.path.lexists(path):
            return None
        raise


def write_if_unchanged(path: str, before: bytes | None, data: bytes) -> None:
    """:func:`write_atomic` ``data`` unless ``path`` no longer holds ``before``.

    ``before`` is what the file held when it was read (None: it did not
    exist).  Every read-modify-write (edit, set, rotate, updatekeys, groups)
    ends here, so a concurrent change is never overwritten; the window left
    is the few milliseconds between this check and the rename.
    Raises :class:`FileChanged` (exit 1) and writes nothing otherwise.
    """
    if read_if_exists(path) != before:
        raise FileChanged("the file changed on disk while it was being updated; nothing was "
                          "written, run the command again", file=path)
    write_atomic(path, data)


def existing_mode(path: str) -> int | None:
    """Permission bits of ``path`` or None if it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def write_atomic(path: str, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically.

    ``mode``: the permission bits to give the file; None keeps the mode of
    an existing file, or 0600 for a new one (we never widen access).
    """
    if os.path.islink(path):
        # Write through the link as sops does (it opens the path); renaming
        # over the link itself would turn it into a regular file and leave
        # the real target unchanged.
        path = os.path.realpath(path)
    if mode is None:
        mode = existing_mode(path)
        if mode is None:
            mode = PRIVATE_MODE
    import tempfile  # deferred: read-only commands (decrypt to stdout, exec-env) never write
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".secretsctl-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot create a file next to the output: {exc.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write output: {exc.strerror}", file=path) from None
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Persist the rename itself (best effort: some filesystems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
