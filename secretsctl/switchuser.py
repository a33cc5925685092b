"""``exec-env``/``exec-file --user NAME``: run the command as another user (sops 3.13.2).

sops 3.13.2 (``cmd/sops/subcommand/exec``) switches its *own* process after
decrypting and before it creates the temporary directory: supplementary
groups, gid, uid, and it adds ``HOME``, ``USER`` and ``LOGNAME`` of that user
to the child's environment (after the secrets, so they win).  We do the
same, with two differences:

* a non-root caller is refused *before* anything is decrypted, in one line
  (sops decrypts, then dies on ``setgroups: operation not permitted``);
* the saved uid and gid are set too (``setresuid``/``setresgid``), so the
  process cannot switch back to root after the child has run.

The process that holds the plaintext then belongs to the target user; the
kernel marks it non-dumpable after the credential change, so that user
cannot attach a debugger to it.
"""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from .errors import FlagError, SecretsctlError

__all__ = ["TargetUser", "prepare", "user_env", "switch"]


@dataclass(frozen=True)
class TargetUser:
    """Who the command runs as: the passwd entry plus every group of the user."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def prepare(name: str, *, euid: int | None = None) -> TargetUser:
    """Look ``name`` up and check that we may switch to it (only root may).

    Done before decryption, so a refused ``--user`` never touches a secret.
    """
    if not name:
        raise FlagError("--user needs a user name")
    current = os.geteuid() if euid is None else euid
    if current != 0:
        raise FlagError(f"--user {name} needs root (secretsctl runs as uid {current}): "
                              "run it with sudo, or drop --user")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise FlagError(f"--user: unknown user {name!r}") from None
    groups = tuple(dict.fromkeys(os.getgrouplist(entry.pw_name, entry.pw_gid)))
    return TargetUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def user_env(user: TargetUser) -> dict[str, str]:
    """The variables sops 3.13.2 sets for the target user (they override the secrets)."""
    return {"HOME": user.home, "USER": user.name, "LOGNAME": user.name}


def switch(user: TargetUser) -> None:
    """Become ``user`` for good: groups, then gid, then uid (real, effective and saved).

    The order matters: once the uid is dropped the groups can no longer be
    changed.  Modules needed after this point must already be imported: the
    interpreter's files may not be readable by the target user.
    """
    # What runs after the switch and is imported lazily elsewhere: the
    # FIFO/temp-file writer locks with fcntl (an extension module that a
    # pyenv under /root, mode 0700, would no longer let us load).
    import fcntl  # noqa: F401
    import select  # noqa: F401
    try:
        os.setgroups(list(user.groups))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as exc:
        raise SecretsctlError(f"cannot switch to user {user.name!r}: {exc.strerror}") from None
