"""The key-type registry: one descriptor per master-key type (stdlib only).

Everything that differs per key type and is not the key's own crypto lives
here, so that metadata, ``.sops.yaml``, the stores and the CLI read one
table instead of naming types: the metadata list name and where sops
writes it, the ``.sops.yaml`` fields, the CLI flag and its environment
variable, and the class (``"module:Class"``, imported on first use; None
for types secretsctl keeps verbatim but cannot use, see
keysources/opaque.py).

The orders are sops's (docs/format.md §7.1, §7.2): ``order`` is the Go
struct order inside a key group (decryption tries keys in it after the
priority sort); flat metadata writes the lists in that order but ``pgp``
after ``lastmodified``/``mac``; ``key_groups`` entries write the optional
lists first (``entry_order``) and ``hc_vault`` and ``age`` always.

Third-party types register with :func:`register` (a module and one call),
or through the ``secretsctl.key_types`` entry-point group, whose objects
are :class:`KeyType` values; entry points are read once, on first use of
the registry by a command that needs a type it does not know.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeyType", "register", "get", "names", "in_group_order", "flat_before_mac",
           "flat_after_mac", "entry_optional", "entry_always", "rule_fields", "group_fields",
           "flag_types", "load_plugins"]


@dataclass(frozen=True)
class KeyType:
    """What secretsctl knows about one master-key type besides its crypto."""

    name: str                       # metadata list name: "age", "kms", "azure_kv"
    cls: str | None                 # "module:Class"; None = kept verbatim (opaque)
    order: int                      # position inside a key group (Go struct order)
    entry_order: int                # position among the optional lists of a key_groups entry
    flat_after_mac: bool = False    # flat metadata: after lastmodified/mac (pgp)
    entry_always: bool = False      # key_groups entries write it even when empty
    rule_field: str | None = None   # .sops.yaml creation-rule field (one group)
    group_field: str | None = None  # .sops.yaml key_groups entry field
    group_struct: bool = False      # key_groups entries are mappings (kms) not strings
    flag: str | None = None         # CLI flag for new files: "age" -> --age
    short_flag: str | None = None   # "-a"
    env: str | None = None          # "SOPS_AGE_RECIPIENTS"
    flag_help: str = ""             # what the flag's comma list holds
    id_fields: tuple[str, ...] = ()  # entry fields that name the key (opaque types)


_REGISTRY: dict[str, KeyType] = {}


def register(kind: KeyType) -> None:
    """Add (or replace) a key type."""
    _REGISTRY[kind.name] = kind


def get(name: str) -> KeyType | None:
    """The descriptor of metadata list ``name``, or None."""
    return _REGISTRY.get(name)


def _sorted(key: str) -> list[KeyType]:
    return sorted(_REGISTRY.values(), key=lambda k: getattr(k, key))


def names() -> list[str]:
    """Every list name, in group order."""
    return [k.name for k in _sorted("order")]


def in_group_order() -> list[str]:
    """List names in sops's order inside a key group."""
    return names()


def flat_before_mac() -> tuple[str, ...]:
    return tuple(k.name for k in _sorted("order") if not k.flat_after_mac)


def flat_after_mac() -> tuple[str, ...]:
    return tuple(k.name for k in _sorted("order") if k.flat_after_mac)


def entry_optional() -> tuple[str, ...]:
    return tuple(k.name for k in _sorted("entry_order") if not k.entry_always)


def entry_always() -> tuple[str, ...]:
    return tuple(k.name for k in _sorted("entry_order") if k.entry_always)


def rule_fields() -> tuple[tuple[str, str], ...]:
    """(creation-rule field, list name), in the order sops reads them (age first)."""
    return tuple((k.rule_field, k.name) for k in _by_config() if k.rule_field)


def group_fields() -> tuple[tuple[str, str, bool], ...]:
    """(key_groups field, list name, entries are mappings), in sops's reading order."""
    return tuple((k.group_field, k.name, k.group_struct) for k in _by_config() if k.group_field)


def _by_config() -> list[KeyType]:
    # sops reads a rule's keys age, pgp, kms, gcp_kms, hckms, azure, vault:
    # the offline types first, then the group order.
    offline = [k for k in ("age", "pgp") if k in _REGISTRY]
    return [_REGISTRY[k] for k in offline] + [k for k in _sorted("order") if k.name not in offline]


def flag_types() -> list[KeyType]:
    """Types with a CLI flag for new files, in the order the flags are listed (age, pgp, kms)."""
    return [k for k in _by_config() if k.flag]


_PLUGINS_LOADED = False


def load_plugins() -> None:
    """Register the types of the ``secretsctl.key_types`` entry-point group (once)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points
    for ep in entry_points(group="secretsctl.key_types"):
        kind = ep.load()
        if isinstance(kind, KeyType):
            register(kind)


for _kind in (
    KeyType("kms", "secretsctl.keysources.kms:KmsKey", 0, 1, rule_field="kms", group_field="kms",
            group_struct=True, flag="kms", short_flag="-k", env="SOPS_KMS_ARN", id_fields=("arn",),
            flag_help="AWS KMS ARNs (ARN+ROLE_ARN allowed)"),
    KeyType("gcp_kms", None, 1, 2, rule_field="gcp_kms", group_field="gcp_kms", group_struct=True,
            id_fields=("resource_id",)),
    KeyType("hckms", None, 2, 3, rule_field="hckms", group_field="hckms", group_struct=True,
            id_fields=("key_id",)),
    KeyType("azure_kv", None, 3, 4, rule_field="azure_keyvault", group_field="azure_keyvault",
            group_struct=True),
    KeyType("hc_vault", None, 4, 5, entry_always=True, rule_field="hc_vault_transit_uri",
            group_field="hc_vault"),
    KeyType("pgp", "secretsctl.keysources.pgp:PgpKey", 5, 0, flat_after_mac=True, rule_field="pgp",
            group_field="pgp", flag="pgp", short_flag="-p", env="SOPS_PGP_FP",
            flag_help="PGP fingerprints"),
    KeyType("age", "secretsctl.keysources.age:AgeKey", 6, 6, entry_always=True, rule_field="age",
            group_field="age", flag="age", short_flag="-a", env="SOPS_AGE_RECIPIENTS",
            flag_help="age recipients"),
):
    register(_kind)
