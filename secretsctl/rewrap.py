"""Re-wrapping the *same* data key for other master keys: ``updatekeys`` and ``groups``.

Nothing here changes a value: the documents are written back as read, or
(:func:`update_keys_block`) not even read -- only the metadata block of
the file is rewritten.
"""
from __future__ import annotations

from dataclasses import replace

from . import datakey, metablock, treecrypt
from .api import Decrypted, Runtime
from .errors import ConfigError
from .formats import make_store, resolve_format
from .keysources import key_label
from .keysources.base import MasterKey, Restampable
from .metadata import Metadata, metadata_from_tree, metadata_to_tree

__all__ = ["key_sig", "wrap_for", "rewrap_emit", "check_threshold", "merged_groups", "update_keys",
           "update_keys_block"]


def key_sig(key: MasterKey) -> tuple[str, str]:
    """A key's identity for comparisons: type and label."""
    return key.type_id, key_label(key)


def wrap_for(dec: Decrypted, groups: list[list[MasterKey]], threshold: int,
              runtime: Runtime) -> Metadata:
    """Wrap the existing data key for ``groups``; the metadata to write (values, lastmodified, MAC as read).

    With one group before and after, every key wraps the whole data key, so
    keys that already carry an ``enc`` keep it; otherwise the key is split
    again and every key of every group wraps its new share.
    """
    old = dec.metadata
    env = runtime.keys()
    if len(groups) == 1 and len(old.key_groups) == 1:
        for k in groups[0]:
            if not k.enc:
                k.encrypt(dec.data_key, env)
    else:
        # Keys carried over from the file wrap a new share of the *same* data
        # key: their created_at stays, or a re-split would make an old data
        # key look fresh to `keys` (sops keeps them too: its Encrypt does not
        # touch CreationDate).
        stamps = [(k, stamp) for g in groups for k in g if k.enc and (stamp := k.created_at())]
        datakey.wrap(dec.data_key, groups, threshold, env, runtime.randbytes)
        for k, stamp in stamps:
            if isinstance(k, Restampable):
                k.keep_created_at(stamp)
    return replace(old, key_groups=groups, shamir_threshold=threshold)


def rewrap_emit(dec: Decrypted, groups: list[list[MasterKey]], threshold: int,
                 runtime: Runtime) -> bytes:
    """:func:`wrap_for`, then the file with its documents as read and the new metadata."""
    meta = wrap_for(dec, groups, threshold, runtime)
    store = make_store(dec.fmt, dec.config.stores)
    return store.emit_encrypted(dec.encrypted_docs, metadata_to_tree(meta))


def check_threshold(groups: list[list[MasterKey]], threshold: int) -> None:
    if len(groups) >= 2 and threshold and not 2 <= threshold <= len(groups):
        raise ConfigError(f"Shamir threshold {threshold} is impossible with {len(groups)} key groups "
                          f"(it must be between 2 and the number of groups)")


def merged_groups(old: list[list[MasterKey]], groups: list[list[MasterKey]]) -> list[list[MasterKey]]:
    """``groups``, with the file's own key objects where a key is already there (same group)."""
    merged: list[list[MasterKey]] = []
    for i, group in enumerate(groups):
        have = {key_sig(k): k for k in (old[i] if i < len(old) else [])}
        merged.append([have.get(key_sig(k), k) for k in group])
    return merged


def update_keys(dec: Decrypted, groups: list[list[MasterKey]], threshold: int,
                runtime: Runtime | None = None) -> bytes:
    """Make the file's key groups ``groups`` (keeping the data key); returns the new bytes.

    Keys already in the file (same type and label, same group) keep their
    wrapped key when the file has one group before and after.
    """
    rt = runtime or Runtime()
    merged = merged_groups(dec.metadata.key_groups, groups)
    check_threshold(merged, threshold)
    return rewrap_emit(dec, merged, threshold, rt)


def update_keys_block(path: str, data: bytes, groups: list[list[MasterKey]], threshold: int, *,
                      input_type: str | None = None, decryption_order: list[str] | None = None,
                      runtime: Runtime | None = None) -> bytes | None:
    """:func:`update_keys` rewriting only the metadata block; None if the file is not in sops's layout.

    A re-wrap changes no value, so it reads none: every byte before the
    metadata block is kept, and the values, ``lastmodified`` and ``mac``
    stay as they were (sops's updatekeys does not read the values either).
    The data key is still proven before it is wrapped for anyone new: it
    must open the stored MAC (a wrong key from a damaged Shamir share would
    otherwise be handed out).  A value tampered with stays detectable: its
    MAC is unchanged, and the next decrypt refuses the file as before.
    """
    rt = runtime or Runtime()
    config = rt.config(path)
    fmt = resolve_format(input_type, path)
    store = make_store(fmt, config.stores)
    found = metablock.split(data, fmt, store)
    if found is None:
        return None
    head, tree = found
    meta = metadata_from_tree(tree)
    if not meta.mac:
        return None   # nothing would prove the key: the full path checks the values instead
    key = datakey.unwrap(meta.key_groups, meta.shamir_threshold, rt.keys(), decryption_order)
    treecrypt.open_mac(meta.mac, key, meta.lastmodified)
    dec = Decrypted([], meta, key, None, fmt, config)
    merged = merged_groups(meta.key_groups, groups)
    check_threshold(merged, threshold)
    new = wrap_for(dec, merged, threshold, rt)
    return head + metablock.emit(metadata_to_tree(new), fmt, store)
