"""Advisory locks for read-modify-write, and the sweep of our stale temp files.

Concurrent writers on one machine (eight ``secretsctl set`` at once, a
``rotate`` during a ``set``) are serialised by an exclusive ``flock`` held
from the read of the file to the rename of its replacement, so no update
that exited 0 is lost.

What is locked is *the file itself* (its inode), not a sidecar lock file:

* nothing appears next to the secrets file: no ``.x.lock`` in ``git
  status``, nothing for sops users to wonder about or commit, nothing to go
  stale after a ``kill -9`` (the kernel drops a dead process's locks);
* it needs only read access to the file, so it works in directories we may
  not write to and on read-only mounts (a write there fails later anyway,
  with the usual one-line error), and no name has to be created in a
  shared directory where another user could plant a symlink.

Every write replaces the inode (temp file + rename), so a waiter that
finally gets the lock checks that the path still names the inode it
locked; if not, the file was replaced meanwhile and it locks the new one.
The previous holder is done with the file once its rename has happened,
so at any time at most one writer works on the file the path names.

Only cooperating writers take the lock; sops and editors do not.  The
"unchanged on disk" comparison in :mod:`secretsctl.fileio` still catches
them, except in the few milliseconds between that comparison and the rename.
"""
from __future__ import annotations

import os
import re
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import FileLocked

#: How long a writer waits for another one before giving up (seconds).
LOCK_TIMEOUT = 60.0
#: A temp file of ours whose writer may still be alive is removed only after this long.
STALE_AFTER = 300.0
TEMP_PREFIX = ".secretsctl-"
TEMP_SUFFIX = ".tmp"
# `.secretsctl-<pid>-<random>.tmp` (this version) or `.secretsctl-<random>.tmp` (older ones).
_TEMP_NAME = re.compile(r"^\.secretsctl-(?:(\d+)-)?[A-Za-z0-9_]+\.tmp$")


@dataclass
class Held:
    """What :func:`locked` holds: the locked descriptor (None: nothing was locked)."""

    fd: int | None
    regular: bool


def _flock(fd: int, blocking: bool) -> bool:
    """Try to lock ``fd``; False if another process holds it.

    A filesystem without locks (some FUSE or network mounts: ENOLCK,
    EOPNOTSUPP) counts as locked: the unchanged-on-disk check remains.
    """
    import fcntl  # deferred: only writers lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait_for_lock(fd: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not _flock(fd, blocking=False):
        if time.monotonic() >= deadline:
            raise FileLocked(f"another process has been updating this file for {timeout:g} s "
                             "(it holds the lock); nothing was written, run the command again",
                             file=path)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _same_file(path: str, st: os.stat_result) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


@contextmanager
def locked(path: str, timeout: float | None = None) -> Iterator[Held]:
    """Hold an exclusive lock on the file ``path`` names, until the block ends.

    Nothing is locked (``Held.fd`` None) for a path that does not exist or
    cannot be opened (the caller's own read reports that) and for devices,
    FIFOs and the like (``regular`` False), which are written into, not
    replaced.  Raises :class:`FileLocked` (exit 1) after ``timeout``
    seconds (default :data:`LOCK_TIMEOUT`) of waiting.
    """
    wait = LOCK_TIMEOUT if timeout is None else timeout
    while True:
        try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            yield Held(None, regular=os.path.isfile(path))
            return
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            yield Held(None, regular=False)
            return
        try:
            _wait_for_lock(fd, path, wait)
        except BaseException:
            os.close(fd)
            raise
        if _same_file(path, st):
            break
        os.close(fd)  # replaced (or removed) while we waited: lock what is there now
    try:
        yield Held(fd, regular=True)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ temp files

def temp_prefix() -> str:
    """The prefix of a new temp file: our pid in it tells the sweep whether we are alive."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


def lock_temp(fd: int) -> None:
    """Mark a temp file as in use: the sweep never removes a file whose lock is held."""
    _flock(fd, blocking=True)  # only a sweep can hold it, for an instant


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it exists (another user's)
    return True


def _writer_gone(name: str, st: os.stat_result, now: float) -> bool:
    """Old enough, or written by a process that no longer exists."""
    if now - st.st_mtime > STALE_AFTER:
        return True
    pid = _TEMP_NAME.match(name).group(1)  # type: ignore[union-attr]
    return pid is not None and not _alive(int(pid))


def sweep_temp_files(directory: str, keep: str | None = None) -> list[str]:
    """Remove our stale temp files (``.secretsctl-….tmp``) from ``directory``.

    Only regular files of our naming, owned by us, whose writer is gone
    (its pid no longer exists, or the file is older than :data:`STALE_AFTER`),
    and whose lock nobody holds: a live writer locks its temp file from
    creation to rename, so its file is never removed.  Best effort: any
    error just leaves the file.  Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if entry.name == keep or not _TEMP_NAME.match(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and _writer_gone(entry.name, st, now)
                and _remove_unlocked(entry.path, st)):
            removed.append(entry.name)
    return removed


def _remove_unlocked(path: str, st: os.stat_result) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not _flock(fd, blocking=False) or not _same_file(path, st):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
