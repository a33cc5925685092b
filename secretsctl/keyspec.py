"""Turn configured key specs (flags, ``.sops.yaml``) into fresh master keys."""
from __future__ import annotations

from .config import KeySpec
from .errors import KeySourceError
from .keysources import key_from_tree, keys_from_string
from .keysources.base import MasterKey
from .tree import Branch, Item, from_python


def check_context(context: str) -> None:
    """Refuse a malformed KMS encryption context (``k1:v1,k2:v2``) before any file is read.

    sops rejects one even when no KMS key uses it (exit 6).
    """
    if context:
        from .keysources.kms import parse_context  # only when a context is given
        parse_context(context)


def build_key(spec: KeySpec) -> list[MasterKey]:
    """Master keys (still without ``enc``) for one spec."""
    if isinstance(spec.spec, dict):
        entry = from_python(spec.spec)
        assert isinstance(entry, Branch)
        if spec.type_id == "kms" and "aws_profile" not in entry:
            entry.append(Item("aws_profile", spec.aws_profile))
        return [key_from_tree(spec.type_id, entry)]
    # Every type's from_string takes the options it uses (KMS: profile, context).
    return keys_from_string(spec.type_id, str(spec.spec), aws_profile=spec.aws_profile,
                            context=spec.context)


def build_key_groups(groups: list[list[KeySpec]]) -> list[list[MasterKey]]:
    """Fresh key groups; empty groups are dropped (sops ignores them)."""
    out = []
    for group in groups:
        keys = [k for spec in group for k in build_key(spec)]
        if keys:
            out.append(keys)
    if not out:
        raise KeySourceError("no master keys were provided")
    return out
