"""Master-key registry: metadata list name -> key class, plus constructors.

Every supported list name maps to a class with ``from_tree``.  Types
secretsctl cannot use are served by :class:`OpaqueKey`, which keeps the
entry verbatim.  ``kms`` is served by :class:`KmsKey`, registered below
over the opaque default; importing it does not import boto3 (only its
client factory does, on the first KMS call).
"""
from __future__ import annotations

import functools
import importlib
from typing import Any

from ..errors import KeySourceError
from ..tree import Branch
from .age import AgeKey
from .base import KeyEnv, MasterKey, split_key_list

__all__ = [
    "REGISTRY", "KEY_TYPE_ORDER_IN_GROUP", "DEFAULT_DECRYPTION_ORDER", "OPAQUE_TYPES",
    "register", "key_from_tree", "key_label", "keys_from_string", "split_key_list", "sort_for_decryption",
    "AgeKey", "PgpKey", "KmsKey", "OpaqueKey", "KeyEnv", "MasterKey",
]

# Order of the lists inside one key group (SOPS_FORMAT.md §7.2); decryption
# attempts use this order after the priority sort of §8.6.
KEY_TYPE_ORDER_IN_GROUP: list[str] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "age"]

# sops tries offline keys first by default (§8.6).
DEFAULT_DECRYPTION_ORDER: list[str] = ["age", "pgp"]

OPAQUE_TYPES: tuple[str, ...] = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault")


def _opaque(type_id: str) -> type:
    """A per-type OpaqueKey subclass so ``REGISTRY[t].from_tree(entry)`` is uniform."""
    from .opaque import OpaqueKey

    def from_tree(cls: type, entry: Branch) -> OpaqueKey:
        return cls(type_id, entry)
    return type(f"Opaque_{type_id}", (OpaqueKey,), {"type_id": type_id,
                                                    "from_tree": classmethod(from_tree)})


# Classes other than age's load on first use: an age file's decrypt must
# not import the PGP and KMS modules (and what they import) at start-up.
_LAZY = {"PgpKey": ".pgp", "KmsKey": ".kms", "OpaqueKey": ".opaque"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Registry(dict):
    """type id -> key class; a class still named by a string is imported when first asked for."""

    def __getitem__(self, type_id: str) -> type:
        cls = dict.__getitem__(self, type_id)
        if isinstance(cls, str):
            cls = _opaque(type_id) if cls == "opaque" else __getattr__(cls)
            dict.__setitem__(self, type_id, cls)
        return cls

    def get(self, type_id: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[type_id] if type_id in self else default

    def values(self) -> Any:  # type: ignore[override]
        return [self[t] for t in self]

    def items(self) -> Any:  # type: ignore[override]
        return [(t, self[t]) for t in self]


REGISTRY: dict[str, type] = _Registry({"age": AgeKey, "pgp": "PgpKey"})
REGISTRY.update({t: "opaque" for t in OPAQUE_TYPES})


def register(type_id: str, cls: type) -> None:
    """Install ``cls`` (with ``from_tree`` and ``from_string``) for a list name."""
    if type_id not in KEY_TYPE_ORDER_IN_GROUP:
        raise ValueError(f"unknown key type {type_id!r}")
    REGISTRY[type_id] = cls


REGISTRY["kms"] = "KmsKey"  # type: ignore[assignment]  # registered lazily over the opaque default


def key_from_tree(type_id: str, entry: Branch) -> MasterKey:
    """Build a master key from one metadata entry of list ``type_id``."""
    try:
        cls = REGISTRY[type_id]
    except KeyError:
        raise KeySourceError(f"unknown key type {type_id!r}") from None
    if not isinstance(entry, Branch):
        raise KeySourceError(f"malformed {type_id} key entry: expected a mapping")
    return cls.from_tree(entry)


def keys_from_string(type_id: str, text: str, **opts: Any) -> list[MasterKey]:
    """Master keys from a CLI flag / ``.sops.yaml`` string (``--age 'a,b'``).

    Every creatable type's class has ``from_string(text, **opts)`` (KMS takes
    ``context``/``aws_profile``); the opaque types have none.
    """
    from_string = getattr(REGISTRY.get(type_id), "from_string", None)
    if from_string is None:
        raise KeySourceError(f"creating {type_id} keys is not supported by secretsctl")
    return list(from_string(text, **opts))


@functools.lru_cache(maxsize=None)
def _priority(order: tuple[str, ...]) -> dict[str, int]:
    return {t: i for i, t in enumerate(order)}


def sort_for_decryption(keys: list[MasterKey], order: list[str] | None = None) -> list[MasterKey]:
    """Stable sort by type priority; unlisted types keep group order after listed ones."""
    prio = _priority(tuple(DEFAULT_DECRYPTION_ORDER if order is None else order))
    last = len(prio)
    return sorted(keys, key=lambda k: prio.get(k.type_id, last))


def key_label(key: MasterKey) -> str:
    """How a key is shown and compared: sops's ``ToString`` plus what changes KMS access.

    A KMS key's role, encryption context and profile decide whether a wrap
    can be opened, so a change of any of them counts as a different key.
    """
    label = key.identifier()
    if key.type_id == "kms":
        role = getattr(key, "role", "")
        context = getattr(key, "context", {}) or {}
        profile = getattr(key, "aws_profile", "")
        if role:
            label += "+" + role
        if context:
            label += " context=" + ",".join(f"{k}:{context[k]}" for k in sorted(context))
        if profile:
            label += f" profile={profile}"
    return label
