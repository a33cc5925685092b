"""The ``sops`` metadata: in-memory form and its on-disk tree shape.

On disk the metadata is a tree in the JSON-like shape of docs/format.md §7.1
(the stores place it; dotenv/INI flatten it).  This module converts between
that shape and :class:`Metadata`, and knows sops's field order and omission
rules.  Key entries are built through :mod:`secretsctl.keysources` only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import gofmt, keytypes
from .errors import MetadataError
from .keysources import KEY_TYPE_ORDER_IN_GROUP, key_from_tree
from .keysources.base import MasterKey
from .rules import DEFAULT_RULE, RULE_NAMES, CryptRule, rule_from
from .tree import Branch, Item

# The version we write: sops refuses files whose version is not semver and
# bumps older versions on edit; 3.11.0 is the release we are tested against.
SOPS_VERSION = "3.11.0"

# The write orders come from the key-type registry (keytypes.py): flat
# lists in Go struct order with `lastmodified`/`mac` between `age` and
# `pgp` (quirk 10); `key_groups` entries omit some empty lists and always
# write `hc_vault` and `age` ([] in YAML, null in JSON).

_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)([-+].*)?")

KeyGroup = list[MasterKey]


@dataclass
class Metadata:
    """Everything in the ``sops`` section, plus the data key once known."""

    key_groups: list[KeyGroup] = field(default_factory=list)
    shamir_threshold: int = 0
    lastmodified: str = ""
    mac: str = ""
    rule: CryptRule | None = DEFAULT_RULE
    mac_only_encrypted: bool = False
    version: str = SOPS_VERSION

    @property
    def crypt_rule(self) -> CryptRule:
        """The effective rule (binary files store none; sops then encrypts everything)."""
        return self.rule or CryptRule("unencrypted_suffix", "\0never\0")

    def all_keys(self) -> list[MasterKey]:
        """Every master key of every group, in order."""
        return [k for g in self.key_groups for k in g]


def version_tuple(version: str) -> tuple[int, int, int] | None:
    """Parse a semver the way sops accepts it (optional ``v``, suffixes)."""
    m = _SEMVER.fullmatch(version.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def bumped_version(version: str) -> str:
    """The version to write after re-encrypting: ours if the file's is older."""
    have = version_tuple(version)
    mine = version_tuple(SOPS_VERSION)
    return version if have is not None and mine is not None and have >= mine else SOPS_VERSION


# --------------------------------------------------------------------- reading

def _as_list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise MetadataError(f"metadata field {name!r} must be a list")
    return value


def _group_from(node: Any, where: str) -> KeyGroup:
    """Keys of one group in sops's internal order (kms … pgp, age)."""
    if not isinstance(node, Branch):
        raise MetadataError(f"metadata {where} must be a mapping")
    group: KeyGroup = []
    for type_id in KEY_TYPE_ORDER_IN_GROUP:
        for n, entry in enumerate(_as_list(node.get(type_id), type_id)):
            if not isinstance(entry, Branch):
                raise MetadataError(f"metadata {where}.{type_id}[{n}] must be a mapping")
            group.append(key_from_tree(type_id, entry))
    return group


def _check_time(text: Any, name: str) -> str:
    if not isinstance(text, str):
        raise MetadataError(f"metadata field {name!r} must be an RFC 3339 string")
    try:
        gofmt.parse_rfc3339(text)
    except ValueError:
        raise MetadataError(f"metadata field {name!r} is not a valid RFC 3339 time") from None
    return text


def _threshold(value: Any) -> int:
    """``shamir_threshold`` as an int.

    Negative values are accepted: sops writes ``--shamir-secret-sharing-threshold
    -1`` as is for a single key group (where it is ignored) and reads it back,
    so such files must stay readable.  Booleans, infinities and numbers beyond
    float range are malformed, not crashes (``float(10**400)`` and
    ``int(inf)`` raise OverflowError).
    """
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise MetadataError("metadata field 'shamir_threshold' must be an integer")
    if isinstance(value, int):
        return value
    try:
        f = float(value)  # dotenv/INI carry it as text, possibly "2.0"
        if f != int(f):
            raise ValueError
        return int(f)
    except (TypeError, ValueError, OverflowError):
        raise MetadataError("metadata field 'shamir_threshold' must be an integer") from None


def _flag(value: Any) -> bool:
    return value is True or value == "true"


def metadata_from_tree(node: Branch, *, binary: bool = False) -> Metadata:
    """Build :class:`Metadata` from the stored ``sops`` tree (§7.2).

    Flat key lists win over ``key_groups`` when any is non-empty (old files
    carry both, e.g. sops 3.7's ``kms: []``).  Unknown fields are ignored.
    """
    if not isinstance(node, Branch):
        raise MetadataError("sops metadata must be a mapping")
    flat = Branch(Item(t, node.get(t)) for t in KEY_TYPE_ORDER_IN_GROUP if node.get(t))
    if flat:
        groups = [_group_from(flat, "sops")]
    else:
        groups = [_group_from(g, f"key_groups[{n}]")
                  for n, g in enumerate(_as_list(node.get("key_groups"), "key_groups"))]
    if not any(groups):
        raise MetadataError("No keys found in file")
    lastmodified = _check_time(node.get("lastmodified"), "lastmodified")
    mac = node.get("mac") or ""
    if not isinstance(mac, str):
        raise MetadataError("metadata field 'mac' must be a string")
    version = node.get("version")
    if not isinstance(version, str) or not version:
        raise MetadataError("metadata field 'version' is missing")
    rule = rule_from({k: node.get(k) for k in RULE_NAMES}, strict=False)
    if rule is None and not binary:
        rule = DEFAULT_RULE  # sops implies it when the file names none
    return Metadata(key_groups=groups, shamir_threshold=_threshold(node.get("shamir_threshold")),
                    lastmodified=lastmodified, mac=mac, rule=rule,
                    mac_only_encrypted=_flag(node.get("mac_only_encrypted")), version=version)


# --------------------------------------------------------------------- writing

def _entries(group: KeyGroup, type_id: str) -> list[Branch]:
    return [k.to_tree() for k in group if k.type_id == type_id]


def metadata_to_tree(meta: Metadata) -> Branch:
    """The ``sops`` tree in sops's field order with its omission rules (§7.1)."""
    out = Branch()
    if meta.shamir_threshold:
        out.append(Item("shamir_threshold", meta.shamir_threshold))
    if len(meta.key_groups) >= 2:
        groups = []
        for g in meta.key_groups:
            entry = Branch(Item(t, _entries(g, t)) for t in keytypes.entry_optional() if _entries(g, t))
            entry.extend(Item(t, _entries(g, t)) for t in keytypes.entry_always())
            groups.append(entry)
        out.append(Item("key_groups", groups))
        single: KeyGroup = []
    else:
        single = meta.key_groups[0] if meta.key_groups else []
    out.extend(Item(t, _entries(single, t)) for t in keytypes.flat_before_mac() if _entries(single, t))
    out.append(Item("lastmodified", meta.lastmodified))
    out.append(Item("mac", meta.mac))
    out.extend(Item(t, _entries(single, t)) for t in keytypes.flat_after_mac() if _entries(single, t))
    if meta.rule is not None:
        out.append(Item(meta.rule.kind, meta.rule.value))
    if meta.mac_only_encrypted:
        out.append(Item("mac_only_encrypted", True))
    out.append(Item("version", meta.version))
    return out
