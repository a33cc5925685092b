"""Key management on one file: rotate, updatekeys, key groups, key age.

Two kinds of change, with different guarantees:

* **Re-wrap** (:func:`update_keys`, :func:`add_group`, :func:`delete_group`):
  the *existing* data key is wrapped for a new set of master keys.  The
  encrypted values, ``lastmodified`` and ``mac`` are not touched: the
  encrypted documents are re-emitted as they were read, so every byte
  outside the ``sops`` metadata stays the same (sops behaves the same way).
  With one key group, keys that stay keep their ``enc`` and ``created_at``
  (sops re-wraps them all; we keep the diff to what changed).  With two or
  more groups any change re-splits the data key (Shamir), so every key of
  every group is wrapped again, but a key that was already in the file
  keeps its ``created_at``: the data key is as old as it was, and
  ``secretsctl keys`` reads its age from those stamps.
* **Rotate** (:func:`rotate`): a new data key, every value re-encrypted with
  the IVs it had before (docs/format.md §3.5; the key changes, so every
  ciphertext changes), every master key wraps the new key, new
  ``lastmodified`` and MAC.  ``--add-*`` keys go to group 0 and ``--rm-*``
  keys are removed from every group, matched by type and identifier, as sops.

Before anything is re-wrapped the file is fully decrypted and its MAC is
checked (unless ``ignore_mac``), so a key that unwraps to the wrong data key
or a tampered file is refused instead of being re-signed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable

from . import api, datakey, gofmt, metablock
from .api import Decrypted, EncryptOptions, Runtime
from .config import SopsConfig
from .errors import ConfigError, SecretsctlError
from .formats import make_store, resolve_format
from .keyspec import build_key_groups
from .keysources import key_label
from .keysources.base import MasterKey
from .metadata import Metadata, metadata_from_tree
from .rewrap import check_threshold as _check_threshold
from .rewrap import key_sig as _sig
from .rewrap import rewrap_emit as _rewrap_emit
from .rewrap import update_keys, update_keys_block  # noqa: F401 - keyops.update_keys*

__all__ = [
    "GroupDiff", "KeyPlan", "KeyInfo", "KeyStatus", "key_label", "diff_groups",
    "read_metadata", "rotate", "plan_rotate", "plan_update", "update_keys", "add_group",
    "delete_group", "key_status", "parse_max_age", "DEFAULT_MAX_AGE", "edit_groups", "data_key_age",
]

# sops's MasterKey.NeedsRotation: older than 6 months of 30 days.
DEFAULT_MAX_AGE = timedelta(days=180)


# ------------------------------------------------------------------ identity and diffs


@dataclass
class GroupDiff:
    """One key group before/after: labels of common, added and removed keys."""

    index: int
    common: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def diff_groups(old: list[list[MasterKey]], new: list[list[MasterKey]]) -> list[GroupDiff]:
    """Per-group diff by position, as sops's updatekeys computes it."""
    out = []
    for i in range(max(len(old), len(new))):
        mine = old[i] if i < len(old) else []
        theirs = new[i] if i < len(new) else []
        have = {_sig(k) for k in mine}
        want = {_sig(k) for k in theirs}
        d = GroupDiff(i)
        for k in theirs:
            (d.common if _sig(k) in have else d.added).append(key_label(k))
        d.removed = [key_label(k) for k in mine if _sig(k) not in want]
        out.append(d)
    return out


@dataclass
class KeyPlan:
    """What a key change will do to one file (nothing is written by planning)."""

    path: str
    groups: list[GroupDiff]
    old_threshold: int
    new_threshold: int
    data_key_age: timedelta | None = None
    rotate: bool = False
    #: the creation rule's ``shamir_threshold`` when it differs from the file's (not applied)
    rule_threshold: int | None = None

    @property
    def keys_change(self) -> bool:
        """True if a master key is added or removed."""
        return any(g.added or g.removed for g in self.groups)

    @property
    def changes(self) -> bool:
        """True if the file would be written."""
        return self.rotate or self.keys_change or self.old_threshold != self.new_threshold

    @property
    def removes(self) -> bool:
        """True if a master key loses access (the old data key stays in git history)."""
        return any(g.removed for g in self.groups)

    def describe(self) -> list[str]:
        """sops 3.11's updatekeys listing: threshold lines, ``Group N``, ``+++``/``---``."""
        out = []
        if self.old_threshold and self.old_threshold == self.new_threshold:
            out.append(f"shamir_threshold: {self.new_threshold}")
        else:
            if self.new_threshold:
                out.append(f"+++ shamir_threshold: {self.new_threshold}")
            if self.old_threshold:
                out.append(f"--- shamir_threshold: {self.old_threshold}")
        for g in self.groups:
            # 0-based, as `groups delete` and the data-key report count (sops
            # itself prints this listing from 1).
            out.append(f"Group {g.index}")
            out.extend(f"    {k}" for k in g.common)
            out.extend(f"+++ {k}" for k in g.added)
            out.extend(f"--- {k}" for k in g.removed)
        return out


# ------------------------------------------------------------------ reading metadata

def read_metadata(path: str, data: bytes, input_type: str | None,
                  runtime: Runtime) -> tuple[Metadata, SopsConfig]:
    """The file's metadata (and the config that applies to it) without any key access.

    Plans and ``keys`` need only this; the data key is unwrapped (and the
    MAC checked) by :func:`secretsctl.api.decrypt_data` when a file is written.
    A file in sops's own layout has its metadata block read alone
    (:mod:`secretsctl.metablock`), not the whole document.
    """
    config = runtime.config(path)
    fmt = resolve_format(input_type, path)
    try:
        found = metablock.split(data, fmt, make_store(fmt, config.stores))
        if found is not None:
            return metadata_from_tree(found[1]), config
        _, meta = api.load_encrypted(data, fmt, config)
    except SecretsctlError as exc:
        raise exc.with_file(path)
    return meta, config


# ------------------------------------------------------------------ rotate

def _matches(key: MasterKey, removals: Iterable[MasterKey]) -> bool:
    return any(key.type_id == r.type_id and key.identifier() == r.identifier() for r in removals)


def edit_groups(groups: list[list[MasterKey]], add: list[MasterKey],
                 remove: list[MasterKey]) -> list[list[MasterKey]]:
    """sops's rotate: add to group 0 (no duplicates), remove by type+identifier everywhere."""
    out = [list(g) for g in groups] or [[]]
    for k in add:
        if not any(_sig(k) == _sig(o) for o in out[0]):
            out[0].append(k)
    out = [[k for k in g if not _matches(k, remove)] for g in out]
    empty = [i for i, g in enumerate(out) if not g]
    if empty:
        # sops would keep the empty group and wrap a share nobody can open.
        raise ConfigError(f"removing these keys would leave key group {empty[0]} without any "
                          "master key; delete the group with 'secretsctl groups delete' instead")
    return out


def rotate(dec: Decrypted, *, add: list[MasterKey] | None = None,
           remove: list[MasterKey] | None = None, groups: list[list[MasterKey]] | None = None,
           threshold: int | None = None, output_type: str | None = None,
           runtime: Runtime | None = None) -> bytes:
    """A new data key for the decrypted file; returns the new file's bytes.

    ``add``/``remove`` change the key groups first (sops's ``--add-*``/``--rm-*``);
    ``groups``/``threshold`` replace them outright (``updatekeys --rotate``).
    Every value keeps its IV under the new key; ``lastmodified`` and MAC are new.
    """
    rt = runtime or Runtime()
    meta = dec.metadata
    new_groups = groups if groups is not None else edit_groups(meta.key_groups, add or [], remove or [])
    new_threshold = meta.shamir_threshold if threshold is None else threshold
    if len(new_groups) < 2:
        new_threshold = 0 if threshold is None else new_threshold
    _check_threshold(new_groups, new_threshold)
    new_key = datakey.generate(rt.randbytes)
    datakey.wrap(new_key, new_groups, new_threshold, rt.keys(), rt.randbytes)
    rotated = replace(dec, data_key=new_key,
                      metadata=replace(meta, key_groups=new_groups, shamir_threshold=new_threshold))
    return api.reencrypt(rotated, output_type=output_type, runtime=rt)


def plan_rotate(path: str, data: bytes, add: list[MasterKey], remove: list[MasterKey], *,
                input_type: str | None = None, runtime: Runtime | None = None) -> KeyPlan:
    """What :func:`rotate` with ``add``/``remove`` would change (metadata only, no key access)."""
    rt = runtime or Runtime()
    meta, _ = read_metadata(path, data, input_type, rt)
    new = edit_groups(meta.key_groups, add, remove)
    threshold = meta.shamir_threshold if len(new) >= 2 else 0
    return KeyPlan(path, diff_groups(meta.key_groups, new), meta.shamir_threshold, threshold,
                   data_key_age(meta, rt.now())[0], rotate=True)


# ------------------------------------------------------------------ updatekeys

def _target(path: str, dec_meta: Metadata, config: SopsConfig, threshold: int | None = None,
            runtime: Runtime | None = None) -> tuple[list[list[MasterKey]], int, int | None]:
    """Key groups of the creation rule for ``path``, the threshold to write, the rule's own.

    The threshold follows sops 3.11's updatekeys (checked against the
    binary): the file's, capped at the new group count; ``0`` (a one-group
    file) becomes "every group" once there are several.  The rule's
    ``shamir_threshold`` is *not* applied (sops uses it only when a file is
    created): raising a threshold can lock people out, so it takes an
    explicit ``threshold`` (``--shamir-secret-sharing-threshold``).
    """
    if config.creation_rules is None:
        raise ConfigError("no .sops.yaml with creation_rules applies to this file; "
                          "updatekeys has nothing to compare with")
    settings = api.creation_settings(EncryptOptions(), config, path, runtime)
    groups = build_key_groups(settings.key_groups)
    rule = config.creation_for(path)
    wanted = rule.shamir_threshold if rule and len(groups) >= 2 else None
    t = min(threshold or dec_meta.shamir_threshold, len(groups))
    if len(groups) >= 2 and not t:
        t = len(groups)
    return groups, t, (wanted if wanted and wanted != t else None)


def plan_update(path: str, data: bytes, *, input_type: str | None = None, rotate_key: bool = False,
                threshold: int | None = None, runtime: Runtime | None = None
                ) -> tuple[KeyPlan, list[list[MasterKey]], int]:
    """Compare the file's key groups with its creation rule, without any key access.

    Returns the plan plus the target groups (fresh, unwrapped keys) and
    threshold.  ``rotate_key`` rotates the data key only where a master key
    is removed (the removed key can still open the old data key from the
    file's history); a file that only gains keys is re-wrapped, and one that
    is up to date is left alone.
    """
    rt = runtime or Runtime()
    meta, config = read_metadata(path, data, input_type, rt)
    groups, t, rule_t = _target(path, meta, config, threshold, rt)
    diffs = diff_groups(meta.key_groups, groups)
    removes = any(d.removed for d in diffs)
    plan = KeyPlan(path, diffs, meta.shamir_threshold, t,
                   data_key_age=data_key_age(meta, rt.now())[0], rotate=rotate_key and removes,
                   rule_threshold=rule_t)
    return plan, groups, t


# ------------------------------------------------------------------ groups

def add_group(dec: Decrypted, keys: list[MasterKey], threshold: int | None = None,
              runtime: Runtime | None = None) -> bytes:
    """sops ``groups add``: append a group, re-split and re-wrap the same data key."""
    if not keys:
        raise ConfigError("a new key group needs at least one master key")
    meta = dec.metadata
    groups = [list(g) for g in meta.key_groups] + [list(keys)]
    # sops 3.11 writes the implied "every group" threshold explicitly.
    t = threshold or meta.shamir_threshold or len(groups)
    _check_threshold(groups, t)
    return _rewrap_emit(dec, groups, t, runtime or Runtime())


def delete_group(dec: Decrypted, index: int, threshold: int | None = None,
                 runtime: Runtime | None = None) -> bytes:
    """sops ``groups delete``: drop group ``index`` (0-based) unless the threshold forbids it."""
    meta = dec.metadata
    if not 0 <= index < len(meta.key_groups):
        raise ConfigError(f"there is no key group {index}; the file has {len(meta.key_groups)} "
                          f"(numbered from 0)")
    if len(meta.key_groups) == 1:
        raise ConfigError("cannot delete the only key group of a file")
    groups = [list(g) for i, g in enumerate(meta.key_groups) if i != index]
    t = threshold if threshold else meta.shamir_threshold
    if len(groups) < t:
        raise ConfigError(f"removing this key group will make the Shamir threshold impossible to "
                          f"satisfy: Shamir threshold is {t}, but we only have {len(groups)} key groups")
    if len(groups) == 1 and not threshold:
        t = 0  # one group: no split, no threshold to write
    _check_threshold(groups, t)
    return _rewrap_emit(dec, groups, t, runtime or Runtime())


# ------------------------------------------------------------------ key age

@dataclass(frozen=True)
class KeyInfo:
    """One master key of a file, for ``secretsctl keys``."""

    group: int
    type_id: str
    label: str
    created_at: str | None
    needs_rotation: bool


@dataclass(frozen=True)
class KeyStatus:
    """A file's master keys and how old its data key is (no key access needed)."""

    path: str
    keys: list[KeyInfo]
    lastmodified: str
    data_key_age: timedelta | None
    basis: str  # "created_at" or "lastmodified"
    max_age: timedelta

    @property
    def needs_rotation(self) -> bool:
        """True if the data key is older than ``max_age``."""
        return self.data_key_age is not None and self.data_key_age > self.max_age


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return gofmt.parse_rfc3339(text)[0]
    except ValueError:
        return None


def data_key_age(meta: Metadata, now: datetime) -> tuple[timedelta | None, str]:
    """The data key's age: from the oldest ``created_at`` of its keys, else ``lastmodified``.

    Every wrap happens after the data key was made, so the oldest
    ``created_at`` is a lower bound on its age that edits do not reset.
    age keys carry no timestamp, so age-only files fall back to
    ``lastmodified``, which every edit resets (an underestimate).
    """
    stamps = [t for t in (_parse_time(k.created_at()) for k in meta.all_keys()) if t is not None]
    if stamps:
        return now - min(stamps), "created_at"
    last = _parse_time(meta.lastmodified)
    return (now - last if last else None), "lastmodified"


def key_status(path: str, data: bytes, *, input_type: str | None = None,
               max_age: timedelta = DEFAULT_MAX_AGE, runtime: Runtime | None = None) -> KeyStatus:
    """Master keys of ``path`` with their ``created_at`` and the data key's age."""
    rt = runtime or Runtime()
    meta, _ = read_metadata(path, data, input_type, rt)
    now = rt.now()
    keys = []
    for g, group in enumerate(meta.key_groups):
        for k in group:
            created = _parse_time(k.created_at())
            keys.append(KeyInfo(g, k.type_id, key_label(k), k.created_at() or None,
                                created is not None and now - created > max_age))
    age, basis = data_key_age(meta, now)
    return KeyStatus(path, keys, meta.lastmodified, age, basis, max_age)


_AGE_RE = re.compile(r"^\s*(\d+)\s*(h|d|w|m|y)\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
          "m": timedelta(days=30), "y": timedelta(days=365)}


def parse_max_age(text: str) -> timedelta:
    """``180d``, ``6m`` (30-day months, as sops), ``26w``, ``1y``, ``12h`` -> timedelta."""
    m = _AGE_RE.match(text.lower())
    if not m:
        raise ConfigError(f"invalid age {text!r}: use a number and a unit h, d, w, m or y (e.g. 180d)")
    try:
        return int(m.group(1)) * _UNITS[m.group(2)]
    except OverflowError:  # timedelta stops at 999999999 days
        raise ConfigError(f"invalid age {text!r}: too large") from None
