"""Key types secretsctl cannot use (GCP KMS, HuaweiCloud KMS, Azure Key Vault,
HashiCorp Vault and, until a real implementation is registered, AWS KMS).

Their entries must survive a read/modify/write untouched so that a file
shared with sops users keeps working for them: the entry Branch is kept
verbatim, including fields secretsctl does not know.
"""
from __future__ import annotations

import copy
from typing import Callable, ClassVar

from .. import keytypes
from ..errors import IncorrectKeyError, KeySourceError
from ..tree import Branch
from .base import KeyEnv



class OpaqueKey:
    """A master key entry kept as-is; it can neither wrap nor unwrap."""

    type_id: ClassVar[str] = "opaque"

    def __init__(self, type_id: str, entry: Branch) -> None:
        # type_id is per instance: one class serves every unsupported list
        # (keysources._opaque makes the per-type subclasses with from_tree).
        self.type_id = type_id  # type: ignore[misc]
        self.entry = copy.deepcopy(entry)

    @property
    def enc(self) -> str:
        """The stored wrapped key (opaque to us)."""
        value = self.entry.get("enc", "")
        return value if isinstance(value, str) else ""

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """Always fails: secretsctl cannot talk to this service."""
        raise KeySourceError(
            f"cannot encrypt the data key for {self.type_id} key {self.identifier()}: "
            f"key type {self.type_id} is not supported by secretsctl")

    def decrypt(self, env: KeyEnv) -> bytes:
        """Always "try the next key": another key in the group may work."""
        raise IncorrectKeyError(f"key type {self.type_id} is not supported by secretsctl")

    def to_tree(self) -> Branch:
        """The entry exactly as it was read."""
        return copy.deepcopy(self.entry)

    def identifier(self) -> str:
        """ARN, resource id, key id, or a URL built like sops's ``ToString``."""
        get: Callable[[str], str] = lambda f: str(self.entry.get(f) or "")  # noqa: E731
        if self.type_id == "azure_kv":
            # sops: "<vault_url>/keys/<name>/<version>"
            return f"{get('vault_url')}/keys/{get('name')}/{get('version')}"
        if self.type_id == "hc_vault":
            # sops: "<vault_address>/v1/<engine_path>/keys/<key_name>"
            return f"{get('vault_address')}/v1/{get('engine_path')}/keys/{get('key_name')}"
        kind = keytypes.get(self.type_id)
        for f in (kind.id_fields if kind else ()):
            if get(f):
                return get(f)
        return f"<{self.type_id} key>"

    def created_at(self) -> str | None:
        """The stored ``created_at`` text, if any."""
        value = self.entry.get("created_at")
        return None if value is None else str(value)
