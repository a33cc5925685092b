"""Master-key registry: metadata list name -> key class, plus constructors.

Every supported list name maps to a class with ``from_tree``.  Types
secretsctl cannot use are served by :class:`OpaqueKey`, which keeps the
entry verbatim.  ``kms`` is served by :class:`KmsKey`, registered below
over the opaque default; importing it does not import boto3 (only its
client factory does, on the first KMS call).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from ..errors import KeySourceError
from ..tree import Branch
from .age import AgeKey
from .base import KeyEnv, MasterKey
from .kms import KmsKey
from .opaque import OpaqueKey
from .pgp import PgpKey

__all__ = [
    "REGISTRY", "KEY_TYPE_ORDER_IN_GROUP", "DEFAULT_DECRYPTION_ORDER", "OPAQUE_TYPES",
    "register", "key_from_tree", "keys_from_string", "split_key_list", "sort_for_decryption",
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
    def from_tree(cls: type, entry: Branch) -> OpaqueKey:
        return cls(type_id, entry)
    return type(f"Opaque_{type_id}", (OpaqueKey,), {"type_id": type_id,
                                                    "from_tree": classmethod(from_tree)})


REGISTRY: dict[str, type] = {"age": AgeKey, "pgp": PgpKey}
REGISTRY.update({t: _opaque(t) for t in OPAQUE_TYPES})


def register(type_id: str, cls: type) -> None:
    """Install ``cls`` (with ``from_tree`` and ``from_string``) for a list name."""
    if type_id not in KEY_TYPE_ORDER_IN_GROUP:
        raise ValueError(f"unknown key type {type_id!r}")
    REGISTRY[type_id] = cls


register("kms", KmsKey)


def key_from_tree(type_id: str, entry: Branch) -> MasterKey:
    """Build a master key from one metadata entry of list ``type_id``."""
    try:
        cls = REGISTRY[type_id]
    except KeyError:
        raise KeySourceError(f"unknown key type {type_id!r}") from None
    if not isinstance(entry, Branch):
        raise KeySourceError(f"malformed {type_id} key entry: expected a mapping")
    return cls.from_tree(entry)


def split_key_list(text: str, *, remove_spaces: bool = False) -> list[str]:
    """Split a comma-separated CLI/config key list, dropping empty items.

    age trims whitespace around each item; PGP and KMS strings have all
    spaces removed first (sops does ``strings.Replace(s, " ", "", -1)``).
    """
    if remove_spaces:
        text = text.replace(" ", "")
    return [p.strip() for p in text.split(",") if p.strip()]


def _age_from_string(text: str, **opts: Any) -> list[MasterKey]:
    return [AgeKey(r) for r in split_key_list(text)]


def _pgp_from_string(text: str, **opts: Any) -> list[MasterKey]:
    return [PgpKey(fp) for fp in split_key_list(text, remove_spaces=True)]


_STRING_PARSERS: dict[str, Callable[..., list[MasterKey]]] = {
    "age": _age_from_string,
    "pgp": _pgp_from_string,
}


def keys_from_string(type_id: str, text: str, **opts: Any) -> list[MasterKey]:
    """Master keys from a CLI flag / ``.sops.yaml`` string (``--age 'a,b'``).

    A registered class may provide ``from_string(text, **opts)`` (e.g. KMS
    with ``context``/``aws_profile`` options); it takes precedence.
    """
    cls = REGISTRY.get(type_id)
    from_string = getattr(cls, "from_string", None)
    if from_string is not None:
        return list(from_string(text, **opts))
    parser = _STRING_PARSERS.get(type_id)
    if parser is None:
        raise KeySourceError(f"creating {type_id} keys is not supported by secretsctl")
    return parser(text, **opts)


@functools.lru_cache(maxsize=None)
def _priority(order: tuple[str, ...]) -> dict[str, int]:
    return {t: i for i, t in enumerate(order)}


def sort_for_decryption(keys: list[MasterKey], order: list[str] | None = None) -> list[MasterKey]:
    """Stable sort by type priority; unlisted types keep group order after listed ones."""
    prio = _priority(tuple(DEFAULT_DECRYPTION_ORDER if order is None else order))
    last = len(prio)
    return sorted(keys, key=lambda k: prio.get(k.type_id, last))
