"""The data key: generation, wrapping for key groups, and recovery.

One key group: every master key wraps the full 32-byte data key and any one
of them suffices.  Two or more groups: the data key is Shamir-split, one
33-byte share per group, and each group's keys wrap that group's share
(docs/format.md §8.1–8.2).  Recovery tries keys in the decryption order of
§8.6 and, when not enough groups work, raises :class:`DataKeyUnavailable`
(exit 128) with sops's per-group/per-key report — which never contains key
material, only identifiers and the key sources' secret-free reasons.
"""
from __future__ import annotations

from os import urandom
from dataclasses import dataclass
from typing import Any, Callable

from .errors import (DataKeyError, DuplicateDecryptionKeyType, IncorrectKeyError,
                     KeySourceError, SecretsctlError)
from .keysources import DEFAULT_DECRYPTION_ORDER, sort_for_decryption
from .keysources.base import LOCAL_KEYS, KeyEnv, MasterKey

__all__ = [
    "DATA_KEY_SIZE", "generate", "wrap", "unwrap", "parse_decryption_order",
    "KeyAttempt", "DataKeyUnavailable", "format_report",
]

DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class KeyAttempt:
    """One master key tried during recovery."""

    group: int
    key: str  # identifier: recipient, fingerprint, ARN …
    ok: bool
    reason: str = ""  # secret-free error text when not ok


class DataKeyUnavailable(DataKeyError):
    """Not enough master keys could unwrap the data key (exit 128).

    ``attempts`` is the structured form of the report in the message.
    """

    def __init__(self, message: str, attempts: list[KeyAttempt], groups: int,
                 threshold: int) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.groups = groups
        self.threshold = threshold


def generate(randbytes: Callable[[int], bytes] = urandom) -> bytes:
    """A fresh 32-byte data key from a CSPRNG."""
    key = randbytes(DATA_KEY_SIZE)
    if len(key) != DATA_KEY_SIZE:
        raise SecretsctlError("random source returned the wrong number of bytes")
    return key


def _effective_threshold(threshold: int, groups: int) -> int:
    # shamir_threshold 0 (absent) means "all groups" in sops.
    return threshold if threshold > 0 else groups


def wrap(data_key: bytes, key_groups: list[list[MasterKey]], threshold: int, env: KeyEnv,
         randbytes: Callable[[int], bytes] = urandom) -> None:
    """Wrap ``data_key`` with every master key (sets each key's ``enc``).

    With two or more groups the key is split (threshold 0 = all groups) and
    group ``i`` wraps share ``i``.  A key that cannot wrap raises
    :class:`KeySourceError` naming that key.
    """
    if not key_groups:
        raise KeySourceError("no key groups: at least one master key is required")
    if len(key_groups) == 1:
        payloads = [data_key]
    else:
        t = _effective_threshold(threshold, len(key_groups))
        try:
            from . import shamir  # only files with several key groups
            payloads = shamir.split(data_key, len(key_groups), t, randbytes=randbytes)
        except shamir.ShamirError as exc:
            raise SecretsctlError(f"could not split the data key: {exc}") from None
    for group, payload in zip(key_groups, payloads):
        for key in group:
            _via_services(key, env, payload)


def _via_services(key: MasterKey, env: KeyEnv, payload: bytes | None = None) -> Any:
    """Wrap ``payload`` (or unwrap, when None) through each key service until one succeeds.

    This is sops's loop over its key services.  With the local keys alone
    (the default) the key's own error is raised unchanged; with several
    services each one's reason is kept, and IncorrectKeyError ("try the next
    key") is raised only if every service said so.
    """
    services = env.services or (LOCAL_KEYS,)
    if len(services) == 1:
        svc = services[0]
        return svc.decrypt(key, env) if payload is None else svc.encrypt(key, payload, env)
    reasons: list[str] = []
    incorrect = True
    for svc in services:
        try:
            return svc.decrypt(key, env) if payload is None else svc.encrypt(key, payload, env)
        except KeySourceError as exc:
            incorrect = incorrect and isinstance(exc, IncorrectKeyError)
            reasons.append(exc.message if svc.name != "local" else f"local: {exc.message}")
    raise (IncorrectKeyError if incorrect else KeySourceError)("; ".join(reasons))


def _try_group(index: int, group: list[MasterKey], env: KeyEnv,
               order: list[str] | None) -> tuple[bytes | None, list[KeyAttempt]]:
    """First successful unwrap in priority order, plus what was tried."""
    attempts: list[KeyAttempt] = []
    for key in sort_for_decryption(group, order):
        try:
            payload = _via_services(key, env)
        except KeySourceError as exc:
            # Not this key (IncorrectKeyError) or this key failed: either way
            # the next key may work, and the report names the reason.  Any
            # other exception is a bug and is reported as itself, not as
            # a "FAILED" line that would hide it.
            attempts.append(KeyAttempt(index, key.identifier(), False, exc.message))
            continue
        attempts.append(KeyAttempt(index, key.identifier(), True))
        return payload, attempts
    return None, attempts


def unwrap(key_groups: list[list[MasterKey]], threshold: int, env: KeyEnv,
           order: list[str] | None = None) -> bytes:
    """Recover the data key; raises :class:`DataKeyUnavailable` (exit 128).

    Every group is attempted (as in sops); within a group keys are tried in
    ``order`` priority (default age, then pgp, then the rest in group order)
    and the first success wins.
    """
    if order is None:
        order = DEFAULT_DECRYPTION_ORDER
    attempts: list[KeyAttempt] = []
    payloads: list[bytes] = []
    for index, group in enumerate(key_groups):
        payload, tried = _try_group(index, group, env, order)
        attempts.extend(tried)
        if payload is not None:
            payloads.append(payload)
    n = len(key_groups)
    t = _effective_threshold(threshold, n) if n > 1 else 1
    if n >= 1 and len(payloads) >= t:
        if n == 1:
            return _checked(payloads[0], attempts, n, t)
        try:
            from . import shamir
            return _checked(shamir.combine(payloads), attempts, n, t)
        except shamir.ShamirError as exc:
            reason = f"could not combine the key shares: {exc}"
            raise DataKeyUnavailable(f"Failed to get the data key: {reason}", attempts, n, t) from None
    raise DataKeyUnavailable(format_report(attempts, n, t, len(payloads)), attempts, n, t)


def _checked(key: bytes, attempts: list[KeyAttempt], groups: int, threshold: int) -> bytes:
    """Refuse a recovered key that is not 32 bytes.

    Anyone can wrap any bytes for a public age/PGP recipient, so a file may
    carry a short "data key"; AES would then fail later with a ValueError
    (a crash when re-encrypting) instead of this one-line error.
    """
    if len(key) != DATA_KEY_SIZE:
        raise DataKeyUnavailable(f"Failed to get the data key: the recovered key has "
                                 f"{len(key)} bytes instead of {DATA_KEY_SIZE}",
                                 attempts, groups, threshold)
    return key


def _wrap_reason(reason: str) -> list[str]:
    """sops's ``- | `` / ``  | `` block for one error, wrapped at 60 columns."""
    import textwrap  # error reports only
    lines = textwrap.wrap(reason, 60) or [""]
    return ["    - | " + lines[0]] + ["      | " + ln for ln in lines[1:]]


def format_report(attempts: list[KeyAttempt], groups: int, threshold: int, recovered: int) -> str:
    """The multi-line "cannot get data key" message (no key material)."""
    out = ["Failed to get the data key required to decrypt the SOPS file.", ""]
    for g in range(groups):
        mine = [a for a in attempts if a.group == g]
        ok = any(a.ok for a in mine)
        out.append(f"Group {g}: {'SUCCESS' if ok else 'FAILED'}")
        for a in mine:
            out.append(f"  {a.key}: {'SUCCESS' if a.ok else 'FAILED'}")
            if not a.ok:
                out.extend(_wrap_reason(a.reason))
        if not mine:
            out.append("  (no master keys in this group)")
        out.append("")
    if groups <= 1:
        trailer = ("Recovery failed because no master key was able to decrypt the file. "
                   "In order for SOPS to recover the file, at least one key has to be "
                   "successful, but none were.")
    else:
        trailer = ("Recovery failed because not enough master keys were able to decrypt "
                   f"the file. In order for SOPS to recover the file, at least {threshold} "
                   f"groups have to be successful. In this case, {recovered} were.")
    import textwrap
    out.extend(textwrap.wrap(trailer, 75))
    return "\n".join(out)


def parse_decryption_order(text: str) -> list[str]:
    """Parse ``--decryption-order`` / ``SOPS_DECRYPTION_ORDER`` (comma list).

    Duplicates are rejected with exit 112, like sops.  Unknown names are
    kept: they simply never match a key.
    """
    seen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            continue
        if name in seen:
            raise DuplicateDecryptionKeyType(f"Duplicate decryption key type: {name}")
        seen.append(name)
    return seen
