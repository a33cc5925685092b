"""Safe file writes: atomic replace, fsync, explicit modes and owner.

sops truncates the target and writes in place, so a crash or a full disk
leaves a half-written secrets file, and new plaintext outputs get the
umask's mode (usually 0644).  Every write to a regular file (or a new one)
here goes to a temp file in the same directory, is fsynced, then renamed
over the target; a failure leaves the old file untouched and no temp file
behind.  The price: other hard links to the file keep the old contents.
Special files (devices, FIFOs, ``/dev/stdout``) are written into instead.

Read-modify-write goes through :func:`updating` (lock, read, ... write,
unlock) or, for ``edit``, :func:`write_if_unchanged` (lock only for the
final check and rename): see :mod:`secretsctl.locking`.  Every replace
first sweeps our own stale temp files (a ``kill -9`` between temp file and
rename leaves one) from the target's directory.
"""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from . import locking
from .errors import FileChanged, InputError, NoFileSpecified, OutputError

PRIVATE_MODE = 0o600


def _read_error(exc: OSError, path: str) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return NoFileSpecified("file does not exist", file=path)
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, not a file", file=path)
    return InputError(f"cannot read file: {exc.strerror}", file=path)


def read_file(path: str) -> bytes:
    """Read a whole file; a missing or unreadable file is an ``InputError`` (exit 2)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise _read_error(exc, path) from None


def _read_fd(fd: int, path: str) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        with open(fd, "rb", closefd=False) as fh:
            return fh.read()
    except OSError as exc:
        raise _read_error(exc, path) from None


def read_if_exists(path: str) -> bytes | None:
    """Like :func:`read_file`, but a path that does not exist gives None."""
    try:
        return read_file(path)
    except InputError:
        if not os.path.lexists(path):
            return None
        raise


def _check_unchanged(path: str, before: bytes | None) -> None:
    if read_if_exists(path) != before:
        raise FileChanged("the file changed on disk while it was being updated; nothing was "
                          "written, run the command again", file=path)


def write_if_unchanged(path: str, before: bytes | None, data: bytes) -> None:
    """:func:`write_atomic` ``data`` unless ``path`` no longer holds ``before``.

    ``before`` is what the file held when it was read (None: it did not
    exist).  For ``edit``, whose read happened before an editor session of
    minutes: the lock is taken only here, for the check and the rename, so
    an open editor never blocks other writers, and a change made meanwhile
    is detected (a secretsctl writer's cannot slip in after the check; a
    non-locking writer's, sops's, within milliseconds can).  Commands
    without a user in the loop use :func:`updating` instead.
    Raises :class:`FileChanged` (exit 1) and writes nothing otherwise.
    """
    with locking.locked(path):
        _check_unchanged(path, before)
        write_atomic(path, data)


@dataclass
class Update:
    """A file being updated under its lock: ``before`` is what was read."""

    path: str
    before: bytes
    regular: bool

    def write(self, data: bytes, mode: int | None = None) -> None:
        """Replace the file with ``data`` (``mode`` as in :func:`write_atomic`).

        A regular file is compared with ``before`` once more first: writers
        that do not lock (sops, an editor, ``git checkout``) are still noticed.
        """
        if self.regular:
            _check_unchanged(self.path, self.before)
        write_atomic(self.path, data, mode=mode)


def reading(path: str) -> Update:
    """An :class:`Update` without the lock, for code that only reads (``--dry-run``, stdout)."""
    return Update(path, read_file(path), os.path.isfile(path))


@contextmanager
def updating(path: str) -> Iterator[Update]:
    """Lock ``path``, read it, and let the block :meth:`Update.write` it; unlock after.

    The lock is held from the read to the rename, so concurrent secretsctl
    writers (set, unset, rotate, updatekeys, groups, encrypt -i, decrypt -i)
    wait for each other instead of losing updates.  Read errors are those
    of :func:`read_file`; waiting too long is :class:`FileLocked` (exit 1).
    """
    with locking.locked(path) as held:
        before = read_file(path) if held.fd is None else _read_fd(held.fd, path)
        yield Update(path, before, held.regular)


def existing_mode(path: str) -> int | None:
    """Permission bits of ``path`` or None if it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def write_atomic(path: str, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path``; atomically when ``path`` is a regular file.

    ``mode``: the permission bits to give the file; None keeps the mode of
    an existing file, or 0600 for a new one (we never widen access).  The
    owner and group of an existing file are kept too (as far as we may).
    A target that exists but is not a regular file (``/dev/null``, a FIFO,
    ``/dev/stdout``, a process substitution) is opened and written into, as
    sops does: renaming over it would replace the device or pipe with a
    plaintext file and leave a reader waiting forever.  Errors name ``path``
    as the user typed it, never a resolved ``/proc/…/pipe:[…]`` name.
    """
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # missing (or a dangling symlink: create its target, as sops does)
    except OSError as exc:  # ELOOP, EACCES on a parent, ENOTDIR...
        raise OutputError(f"cannot open the output file: {exc.strerror}", file=path) from None
    target = _rename_target(path, st)
    if target is None:
        _write_into(path, data)
        return
    if mode is None:
        mode = stat.S_IMODE(st.st_mode) if st is not None else PRIVATE_MODE
    _replace(target, data, mode, st, shown=path)


def _rename_target(path: str, st: os.stat_result | None) -> str | None:
    """The real path to rename a temp file over, or None to write into ``path``.

    Symlinks are resolved so the link keeps pointing at the (new) file
    instead of being replaced by it.  A name that does not resolve back to
    the same inode (``/proc/self/fd/N`` of a deleted file, a pipe) cannot
    be renamed over, so it is written into.
    """
    if st is not None and not stat.S_ISREG(st.st_mode):
        return None
    real = os.path.realpath(path)
    if st is None:
        return real
    try:
        again = os.stat(real)
    except OSError:
        return None
    return real if (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino) else None


def _write_into(path: str, data: bytes) -> None:
    """Open an existing non-regular file for writing and write ``data`` (sops's os.Create)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"cannot open the output file: {exc.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write output: {exc.strerror}", file=path) from None


def _replace(target: str, data: bytes, mode: int, st: os.stat_result | None, *, shown: str) -> None:
    """Temp file next to ``target``, fsync, rename over it; ``shown`` is the name for errors."""
    import tempfile  # deferred: read-only commands (decrypt to stdout, exec-env) never write
    directory = os.path.dirname(target)
    locking.sweep_temp_files(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=locking.temp_prefix(), suffix=locking.TEMP_SUFFIX,
                                   dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot create a file next to the output: {exc.strerror}", file=shown) from None
    # The descriptor (and with it the temp file's lock, see locking.lock_temp)
    # stays open until the rename is done or the temp file is gone.
    try:
        locking.lock_temp(fd)
        if st is not None:
            mode = _keep_owner(fd, st, mode)
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.close(fd)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write output: {exc.strerror}", file=shown) from None
        raise
    os.close(fd)
    _fsync_dir(directory)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _keep_owner(fd: int, st: os.stat_result, mode: int) -> int:
    """Give the temp file the replaced file's owner and group; returns the mode to use.

    Only root may give a file away; a user may still set a group they
    belong to.  When the group cannot be kept, the group bits are dropped:
    the file would otherwise be readable by our own primary group, which
    the original did not allow.
    """
    for uid in (st.st_uid, -1):
        try:
            os.fchown(fd, uid, st.st_gid)
            return mode
        except PermissionError:
            continue
    return mode & ~0o070 if os.fstat(fd).st_gid != st.st_gid else mode


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
