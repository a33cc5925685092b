"""PGP master keys through the real ``gpg`` (python-gnupg).

Entry shape (docs/format.md §7.1): ``created_at``, ``enc``, ``fp``.  ``enc``
is gpg's ASCII armor with surrounding whitespace trimmed — no final newline,
hence the ``|-`` literal block sops writes in YAML.

sops's built-in OpenPGP path only works with legacy ``pubring.gpg`` /
``secring.gpg`` keyrings and falls back to the gpg binary otherwise (§8.4);
secretsctl always uses gpg, which reads both keyring formats.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # gnupg is imported when a PGP key is used, not at start-up
    import gnupg

from ..errors import IncorrectKeyError, KeySourceError
from ..tree import Branch, Item
from .base import KeyEnv, format_created_at, split_key_list

__all__ = ["PgpKey", "gpg_for"]

_CACHE = "pgp.gpg"


def gpg_for(env: KeyEnv) -> gnupg.GPG:
    """A python-gnupg handle for the injected environment (cached).

    The binary is ``SOPS_GPG_EXEC`` or ``gpg`` and the home is ``GNUPGHOME``
    else ``~/.gnupg``, as in sops.  The home is passed through the child's
    environment rather than ``--homedir`` so that gpg resolves ``~/.gnupg``
    from the injected ``HOME`` exactly like it would for sops.
    """
    binary = env.environ.get("SOPS_GPG_EXEC") or "gpg"
    key = (binary, env.environ.get("GNUPGHOME", ""), env.environ.get("HOME", ""))
    handles: dict[Any, Any] = env.cache.setdefault(_CACHE, {})
    if key not in handles:
        import gnupg  # noqa: PLC0415 - deferred: most runs use no PGP key
        try:
            handles[key] = gnupg.GPG(gpgbinary=binary, env=dict(env.environ))
        except (OSError, ValueError) as exc:
            raise KeySourceError(f"cannot run gpg ({binary}): {exc}") from None
    return handles[key]


def _status(result: object) -> str:
    """gpg's status line plus its ``gpg:`` diagnostics (never payload data)."""
    status = getattr(result, "status", None) or "unknown error"
    stderr = getattr(result, "stderr", "") or ""
    diag = [ln[5:].strip() for ln in stderr.splitlines() if ln.startswith("gpg: ")]
    return status + (f" ({'; '.join(diag[-3:])})" if diag else "")


class PgpKey:
    """One ``pgp`` metadata entry."""

    type_id: ClassVar[str] = "pgp"

    def __init__(self, fingerprint: str, enc: str = "", created_at: str = "") -> None:
        # sops removes spaces from CLI fingerprints and stores the rest as given.
        self.fingerprint = fingerprint.replace(" ", "")
        self.enc = enc
        self._created_at = created_at

    @classmethod
    def from_tree(cls, entry: Branch) -> PgpKey:
        """Build from a metadata entry (``created_at``, ``enc``, ``fp``)."""
        return cls(str(entry.get("fp") or ""), str(entry.get("enc") or ""),
                   str(entry.get("created_at") or ""))

    @classmethod
    def from_string(cls, text: str, **_: Any) -> list[PgpKey]:
        """Keys from ``--pgp``/``SOPS_PGP_FP``/``.sops.yaml``: fingerprints, spaces ignored."""
        return [cls(fp) for fp in split_key_list(text, remove_spaces=True)]

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """Encrypt to the fingerprint with gpg, armored, trusting the key like sops.

        sops passes ``--trusted-key <last 16 hex>`` so an unsigned key can be
        used; ``always_trust`` has the same effect for this one operation.
        ``--no-encrypt-to`` keeps a user's default ``encrypt-to`` keys out.
        """
        gpg = gpg_for(env)
        result = gpg.encrypt(data_key, [self.fingerprint], always_trust=True, armor=True,
                             extra_args=["--no-encrypt-to", "--no-default-recipient"])
        if not result.ok or not result.data:
            raise KeySourceError(f"failed to encrypt data key with PGP key {self.fingerprint}: "
                                 f"{_status(result)}")
        # sops trims gpg's output, so the stored armor has no trailing newline.
        self.enc = result.data.decode("ascii").strip()
        self._created_at = format_created_at(env.now())

    def decrypt(self, env: KeyEnv) -> bytes:
        """Decrypt ``enc`` with gpg; failure or empty output -> IncorrectKeyError."""
        if not self.enc:
            raise KeySourceError("pgp entry has no encrypted data key")
        gpg = gpg_for(env)
        result = gpg.decrypt(self.enc)
        if not result.ok or not result.data:
            raise IncorrectKeyError(f"gpg could not decrypt the data key: {_status(result)}")
        return result.data

    def to_tree(self) -> Branch:
        """``created_at``, ``enc``, ``fp`` (sops's order)."""
        return Branch([Item("created_at", self._created_at), Item("enc", self.enc),
                       Item("fp", self.fingerprint)])

    def identifier(self) -> str:
        """The fingerprint."""
        return self.fingerprint

    def created_at(self) -> str | None:
        """The ``created_at`` text ("" before the first encrypt)."""
        return self._created_at

    def keep_created_at(self, stamp: str) -> None:
        """Restore ``created_at`` after re-wrapping the *same* data key (its age did not change)."""
        self._created_at = stamp
