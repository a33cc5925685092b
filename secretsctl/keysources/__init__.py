"""Master keys by metadata list name: the key-type registry's classes, plus constructors.

:mod:`secretsctl.keytypes` names each type's class (``"module:Class"``);
this module imports it on first use, and serves types secretsctl cannot use
with :class:`OpaqueKey`, which keeps the entry verbatim.  Importing the KMS
class does not import boto3 (only its client factory does, on the first
KMS call).
"""
from __future__ import annotations

import functools
from typing import Any

from .. import keytypes
from ..errors import KeySourceError
from ..tree import Branch
from .base import AccessLabelled, KeyEnv, MasterKey, split_key_list

__all__ = [
    "KEY_TYPE_ORDER_IN_GROUP", "DEFAULT_DECRYPTION_ORDER",
    "key_class", "key_from_tree", "key_label", "keys_from_string", "split_key_list",
    "sort_for_decryption", "OpaqueKey", "KeyEnv", "MasterKey",
]

# Order of the lists inside one key group (docs/format.md §7.2); decryption
# attempts use this order after the priority sort of §8.6.
KEY_TYPE_ORDER_IN_GROUP: list[str] = keytypes.in_group_order()

# sops tries offline keys first by default (§8.6).
DEFAULT_DECRYPTION_ORDER: list[str] = ["age", "pgp"]


def _opaque(type_id: str) -> type:
    """A per-type OpaqueKey subclass so ``key_class(t).from_tree(entry)`` is uniform."""
    from .opaque import OpaqueKey

    def from_tree(cls: type, entry: Branch) -> OpaqueKey:
        return cls(type_id, entry)
    return type(f"Opaque_{type_id}", (OpaqueKey,), {"type_id": type_id,
                                                    "from_tree": classmethod(from_tree)})


@functools.lru_cache(maxsize=None)
def key_class(type_id: str) -> Any:
    """The master-key class for list ``type_id`` (imported on first use)."""
    kind = keytypes.get(type_id)
    if kind is None:
        keytypes.load_plugins()
        kind = keytypes.get(type_id)
    if kind is None:
        raise KeySourceError(f"unknown key type {type_id!r}")
    if kind.cls is None:
        return _opaque(type_id)
    module, _, name = kind.cls.partition(":")
    # __import__ (the import statement's path), not importlib.import_module:
    # `python -X importtime` then lists the module like any other import.
    return getattr(__import__(module, fromlist=[name]), name)


def key_from_tree(type_id: str, entry: Branch) -> MasterKey:
    """Build a master key from one metadata entry of list ``type_id``."""
    cls = key_class(type_id)
    if not isinstance(entry, Branch):
        raise KeySourceError(f"malformed {type_id} key entry: expected a mapping")
    return cls.from_tree(entry)


def keys_from_string(type_id: str, text: str, **opts: Any) -> list[MasterKey]:
    """Master keys from a CLI flag / ``.sops.yaml`` string (``--age 'a,b'``).

    Every creatable type's class has ``from_string(text, **opts)`` (KMS takes
    ``context``/``aws_profile``); the opaque types have none.
    """
    from_string = getattr(key_class(type_id), "from_string", None)
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
    return key.access_label() if isinstance(key, AccessLabelled) else key.identifier()


_CLASSES = {"AgeKey": "age", "PgpKey": "pgp", "KmsKey": "kms"}


def __getattr__(name: str) -> Any:
    # The classes are importable from here, but only imported when asked
    # for: a decrypt with an age key never loads python-gnupg.
    if name in _CLASSES:
        return key_class(_CLASSES[name])
    if name == "OpaqueKey":
        from .opaque import OpaqueKey
        return OpaqueKey
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
