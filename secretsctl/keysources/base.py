"""The key-source protocol shared by age, PGP, AWS KMS and the opaque types.

A master key wraps the 32-byte data key (or a 33-byte Shamir share).  The
rule, after age's ``ErrIncorrectIdentity``: ``decrypt`` raises
:class:`~secretsctl.errors.IncorrectKeyError` when this key cannot open the
blob for a reason another key might not share (no identity, no access,
unreachable, unsupported type), so the caller tries the next key.  Any other
:class:`~secretsctl.errors.KeySourceError` is also reported per key; nothing
here ever puts key material in a message.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping, Protocol, runtime_checkable

from ..tree import Branch


def utc_now() -> datetime:
    """Current UTC time, second precision (sops writes no fractions)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def format_created_at(dt: datetime) -> str:
    """``created_at``/``lastmodified`` text as sops writes it: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_key_list(text: str, *, remove_spaces: bool = False) -> list[str]:
    """Split a comma-separated CLI/config key list, dropping empty items.

    age trims whitespace around each item; PGP and KMS strings have all
    spaces removed first (sops does ``strings.Replace(s, " ", "", -1)``).
    """
    if remove_spaces:
        text = text.replace(" ", "")
    return [p.strip() for p in text.split(",") if p.strip()]


@dataclass
class KeyEnv:
    """What key sources may use from the outside world, injected.

    ``environ`` replaces ``os.environ``; ``now`` is the clock; ``cache`` is a
    per-invocation scratch space (parsed age identities, boto3 clients, …)
    so that work is done once per process, not once per key.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], datetime] = utc_now
    cache: dict[str, Any] = field(default_factory=dict)
    #: Key services every wrap and unwrap goes through, in order (see
    #: secretsctl.keyservice.client); empty means the local keys only.
    services: tuple[Any, ...] = ()


class MasterKey(Protocol):
    """One master key entry of a key group."""

    type_id: ClassVar[str]  # metadata list name: "age", "pgp", "kms", …
    enc: str  # the wrapped data key as stored in the file ("" until encrypted)

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """Wrap ``data_key`` and store the result in ``enc`` (and ``created_at``)."""
        ...

    def decrypt(self, env: KeyEnv) -> bytes:
        """Unwrap ``enc``; ``IncorrectKeyError`` means "try the next key"."""
        ...

    def to_tree(self) -> Branch:
        """The metadata entry, keys in sops's order (docs/format.md §7.1)."""
        ...

    def identifier(self) -> str:
        """The user-facing name: recipient, fingerprint, ARN …"""
        ...

    def created_at(self) -> str | None:
        """The RFC 3339 ``created_at`` text, or None for key types without one (age)."""
        ...


class Creatable(Protocol):
    """Key types that can be named on the command line or in ``.sops.yaml``.

    ``from_tree`` (every type) builds a key from a metadata entry;
    ``from_string`` builds keys from a comma list (``--age a,b``) with the
    options that type uses (KMS: ``aws_profile``, ``context``).
    """

    @classmethod
    def from_tree(cls, entry: Branch) -> MasterKey: ...

    @classmethod
    def from_string(cls, text: str, **opts: Any) -> list[MasterKey]: ...


@runtime_checkable
class Restampable(Protocol):
    """Keys with a ``created_at`` that a re-wrap of the *same* data key keeps (pgp, kms)."""

    def keep_created_at(self, stamp: str) -> None: ...


@runtime_checkable
class AccessLabelled(Protocol):
    """Keys whose access depends on more than their identifier (KMS: role, context, profile)."""

    def access_label(self) -> str: ...


class LocalKeys:
    """The local key service: each key's own ``encrypt``/``decrypt``.

    Remote services (secretsctl.keyservice.client.RemoteService) have the
    same two methods and a ``name``; KeyEnv.services lists them in order.
    """

    name = "local"

    def decrypt(self, key: MasterKey, env: KeyEnv) -> bytes:
        return key.decrypt(env)

    def encrypt(self, key: MasterKey, payload: bytes, env: KeyEnv) -> None:
        key.encrypt(payload, env)


LOCAL_KEYS = LocalKeys()
