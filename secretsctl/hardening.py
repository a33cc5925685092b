"""Keep plaintext out of core dumps: RLIMIT_CORE 0 and, on Linux, not dumpable.

With ``ulimit -c unlimited`` a SIGQUIT (Ctrl-\\) during ``edit`` used to
write an 18 MB core holding every secret.  The CLI calls
:func:`disable_core_dumps` first thing for every command that holds
plaintext (sops does nothing of the kind); library users who decrypt can
call it themselves.

* The *soft* core limit goes to 0, the hard limit is left alone, so the
  user's limit can be given back (below).
* ``prctl(PR_SET_DUMPABLE, 0)`` as well: when ``core_pattern`` pipes cores
  to a handler (systemd-coredump, apport) the kernel ignores RLIMIT_CORE,
  but it never dumps a non-dumpable process (unless ``fs.suid_dumpable``
  is 2, where the soft limit still counts).  It also stops other processes
  of the same user from ptrace-attaching to read our memory.  The flag is
  reset by ``execve``, so no child program inherits it.

Children: the editor inherits the soft limit 0 on purpose (it holds the
plaintext too).  The program ``exec-env``/``exec-file`` runs is the
user's: it gets the user's own soft limit back (:func:`user_core_limit`
around its spawn), so its crashes dump as they would under sops.
Cost: one ``setrlimit`` and a ``ctypes`` import (~2 ms).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

__all__ = ["disable_core_dumps", "user_core_limit"]

_PR_SET_DUMPABLE = 4
_saved_soft: int | None = None  # the user's soft limit, before disable_core_dumps


def disable_core_dumps() -> None:
    """Soft RLIMIT_CORE 0 and (Linux) PR_SET_DUMPABLE 0 for this process; best effort."""
    global _saved_soft
    try:
        import resource
    except ImportError:  # not a POSIX system
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if _saved_soft is None:
        _saved_soft = soft
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    if sys.platform.startswith("linux"):
        _not_dumpable()


def _not_dumpable() -> None:
    import ctypes  # deferred: only commands that hold plaintext pay for it
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl (musl static builds, sandboxes)
        pass


def _set_soft(value: int) -> None:
    import resource
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (value, hard))


@contextmanager
def user_core_limit() -> Iterator[None]:
    """Give the user's soft core limit back while a child is spawned (or exec'd).

    Rlimits are inherited at spawn, so the limit is raised for the instant
    of the spawn and lowered again; during that instant this process is
    still protected by PR_SET_DUMPABLE on Linux.  A no-op unless
    :func:`disable_core_dumps` ran.
    """
    if _saved_soft is None or _saved_soft == 0:
        yield
        return
    _set_soft(_saved_soft)
    try:
        yield
    finally:
        _set_soft(0)
