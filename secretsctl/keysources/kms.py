"""AWS KMS master keys (boto3, or the SDK-free fast path of :mod:`.kms_fast`).

Entry shape (docs/format.md §7.1): ``arn``, ``role`` (omitted when empty),
``context`` (omitted when empty, keys sorted), ``created_at``, ``enc``
(standard base64 of the KMS ``CiphertextBlob``), ``aws_profile`` (always
written, ``""`` for the default credential chain).

Cost rules (issue 3; the client side lives in :mod:`.kms_client`):

* boto3/botocore are imported only inside :func:`make_client`, and only
  when the fast path does not apply (:mod:`.awsplain` decides: plain
  environment or profile keys, a known endpoint), so a run that never
  touches a KMS key, or only with plain credentials, never pays their
  300+ ms import and client creation.
* One client per (region, profile, role, endpoint, timeout) per
  :class:`KeyEnv`, cached in ``env.cache`` behind a lock, because the rotate
  command works on several files in parallel threads.
* Every call has a connect/read timeout (``SECRETSCTL_KMS_TIMEOUT`` seconds,
  default 5; the CLI's ``--kms-timeout`` sets it).  Throttling, 5xx and
  refused/reset connections are retried (3 attempts in all, jittered
  exponential backoff); a *timeout* is not retried: the timeout is the
  budget for that key, and the next key of the group is usually faster
  than waiting again.  An endpoint that timed out or refused connections is
  remembered for ``UNREACHABLE_TTL`` seconds, so the other files of the
  same run skip it instead of each waiting out the timeout.

Testing / advanced: ``SECRETSCTL_KMS_ENDPOINT_<REGION>`` (region upper-case,
``-`` as ``_``, e.g. ``SECRETSCTL_KMS_ENDPOINT_EU_WEST_1``) overrides the KMS
endpoint of one region, read from the injected environment.  The fast path
reads ``AWS_ENDPOINT_URL_KMS`` / ``AWS_ENDPOINT_URL``, the credentials and the
shared files from ``KeyEnv.environ`` too; boto3 (the fallback) honours the
same variables and the rest of the standard AWS environment but reads them
from the *process* environment (the CLI passes the process environment, so
both agree there).

Failures that another key might not share (access denied, disabled key,
wrong encryption context, timeouts, no credentials …) raise
:class:`IncorrectKeyError` with a short cause; messages name ARNs, codes and
endpoints, never the ciphertext or the data key.
"""
from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from typing import Any, Callable, ClassVar, Mapping

from ..errors import IncorrectKeyError, InvalidKmsContext, KeySourceError
from ..tree import Branch, Item
from .base import KeyEnv, format_created_at
from .kms_client import (ENDPOINT_VAR_PREFIX, TIMEOUT_VAR, ClientFactory, ClientSpec, call,
                         client_for, endpoint_for, make_client, mark_unreachable, session_name,
                         timeout_from, unreachable_reason)

__all__ = ["KmsKey", "ClientSpec", "parse_context", "parse_arn_string", "region_of",
           "session_name", "make_client", "TIMEOUT_VAR", "ENDPOINT_VAR_PREFIX"]

ARN_RE = re.compile(r"^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$")
_ROLE_MARK = "+arn:aws:iam::"

# ----------------------------------------------------------------- parsing

def parse_context(text: str | Mapping[str, Any] | None) -> dict[str, str]:
    """``k1:v1,k2:v2`` -> dict; a malformed entry rejects the whole context (exit 6).

    As in sops: split on ``,`` then on ``:``; no trimming; every entry must
    have exactly one ``:``.  A mapping (``.sops.yaml`` / metadata) must have
    string values.
    """
    if not text:
        return {}
    if isinstance(text, Mapping):
        bad = [k for k, v in text.items() if not isinstance(v, str)]
        if bad:
            raise KeySourceError(f"KMS encryption context values must be strings (key {bad[0]!r})")
        return {str(k): v for k, v in text.items()}
    out: dict[str, str] = {}
    for pair in text.split(","):
        parts = pair.split(":")
        if len(parts) != 2:
            # The context is not secret (it is stored in clear in the file).
            raise InvalidKmsContext(f"Invalid KMS encryption context format: {pair!r} is not key:value")
        out[parts[0]] = parts[1]
    return out


def parse_arn_string(text: str) -> tuple[str, str]:
    """``ARN[+ROLE_ARN]`` -> (arn, role); spaces removed, split at ``+arn:aws:iam::``."""
    text = text.replace(" ", "")
    at = text.find(_ROLE_MARK)
    if at > 0:
        return text[:at], text[at + 1:]
    return text, ""


def region_of(arn: str) -> str:
    """The region named in a KMS key/alias ARN (``KeySourceError`` if it is no ARN)."""
    m = ARN_RE.match(arn)
    if not m:
        raise KeySourceError(f"no valid KMS ARN found in {arn!r}")
    return m.group(1)


# ----------------------------------------------------------------- the key

class KmsKey:
    """One ``kms`` metadata entry."""

    type_id: ClassVar[str] = "kms"

    def __init__(self, arn: str, role: str = "", context: Mapping[str, str] | None = None,
                 aws_profile: str = "", enc: str = "", created_at: str = "",
                 extra: list[Item] | None = None) -> None:
        self.arn = arn
        self.role = role
        self.context = dict(context or {})
        self.aws_profile = aws_profile
        self.enc = enc
        self._created_at = created_at
        # Fields a newer sops may add: kept so a round trip does not drop them.
        self.extra = list(extra or [])
        self.client_factory: ClientFactory = make_client
        self.sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_tree(cls, entry: Branch) -> KmsKey:
        """Build from a metadata entry or a ``.sops.yaml`` key_groups mapping.

        Never validates the ARN here: a file must stay readable (and
        rewritable) even when one of its entries is odd.
        """
        known = ("arn", "role", "context", "created_at", "enc", "aws_profile")
        ctx = entry.get("context")
        context = parse_context({it.key: it.value for it in ctx if isinstance(it, Item)}
                                if isinstance(ctx, Branch) else None)
        return cls(str(entry.get("arn") or ""), str(entry.get("role") or ""), context,
                   str(entry.get("aws_profile") or ""), str(entry.get("enc") or ""),
                   str(entry.get("created_at") or ""),
                   [it for it in entry if isinstance(it, Item) and it.key not in known])

    @classmethod
    def from_string(cls, text: str, *, aws_profile: str = "",
                    context: str | Mapping[str, str] | None = None, **_: Any) -> list[KmsKey]:
        """Keys from ``--kms``/``SOPS_KMS_ARN``/``.sops.yaml``: ``ARN[+ROLE],…``."""
        ctx = parse_context(context)
        keys = []
        for item in text.replace(" ", "").split(","):
            if not item:
                continue
            arn, role = parse_arn_string(item)
            region_of(arn)  # fail now, not after the other keys already called KMS
            keys.append(cls(arn, role, ctx, aws_profile or ""))
        return keys

    def _spec(self, env: KeyEnv) -> ClientSpec:
        region = region_of(self.arn)
        return ClientSpec(region, self.aws_profile, self.role, endpoint_for(region, env.environ),
                          timeout_from(env.environ))

    def _kms(self, env: KeyEnv, op: str, field: str, **params: Any) -> bytes:
        """One KMS call through the cached client, remembering dead endpoints;
        returns the answer's ``field``."""
        spec = self._spec(env)
        down = unreachable_reason(env, spec)
        if down:
            raise IncorrectKeyError(f"skipped: {down} earlier in this run")
        if self.context:
            params["EncryptionContext"] = dict(self.context)
        try:
            client = client_for(spec, env, self.client_factory)
            return call(client, op, spec, sleep=self.sleep, field=field, **params)
        except IncorrectKeyError as exc:
            if getattr(exc, "unreachable", False):
                mark_unreachable(env, spec, exc.message)
            raise

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """KMS Encrypt with this key and context; ``enc`` = base64(CiphertextBlob)."""
        try:
            blob = self._kms(env, "encrypt", "CiphertextBlob", KeyId=self.arn, Plaintext=data_key)
        except IncorrectKeyError as exc:
            # Wrapping has no "next key": every key must wrap, so this is fatal.
            raise KeySourceError(f"failed to encrypt the data key with KMS key {self.arn}: "
                                 f"{exc.message}") from None
        self.enc = base64.b64encode(blob).decode("ascii")
        self._created_at = format_created_at(env.now())

    def decrypt(self, env: KeyEnv) -> bytes:
        """KMS Decrypt (KeyId = the ARN, the stored context); any failure -> try the next key."""
        if not self.enc:
            raise KeySourceError("kms entry has no encrypted data key")
        try:
            blob = base64.b64decode(self.enc, validate=True)
        except (binascii.Error, ValueError):
            raise IncorrectKeyError("kms entry's enc is not valid base64") from None
        try:
            return self._kms(env, "decrypt", "Plaintext", KeyId=self.arn, CiphertextBlob=blob)
        except KeySourceError as exc:
            if isinstance(exc, IncorrectKeyError):
                raise
            raise IncorrectKeyError(exc.message) from None  # e.g. an invalid ARN in the file

    def to_tree(self) -> Branch:
        """``arn``, ``role``?, ``context``? (sorted), ``created_at``, ``enc``, ``aws_profile``."""
        out = Branch([Item("arn", self.arn)])
        if self.role:
            out.append(Item("role", self.role))
        if self.context:
            out.append(Item("context", Branch(Item(k, self.context[k]) for k in sorted(self.context))))
        out.extend([Item("created_at", self._created_at), Item("enc", self.enc),
                    Item("aws_profile", self.aws_profile)])
        out.extend(Item(it.key, copy.deepcopy(it.value)) for it in self.extra)
        return out

    def identifier(self) -> str:
        """The ARN (sops's ``ToString``; rotate's ``--rm-kms`` matches on it)."""
        return self.arn

    def created_at(self) -> str | None:
        """The ``created_at`` text ("" before the first encrypt)."""
        return self._created_at

    def access_label(self) -> str:
        """The ARN plus what changes access to it: ``ARN+ROLE context=k:v profile=P``."""
        label = self.identifier()
        if self.role:
            label += "+" + self.role
        if self.context:
            label += " context=" + ",".join(f"{k}:{self.context[k]}" for k in sorted(self.context))
        if self.aws_profile:
            label += f" profile={self.aws_profile}"
        return label

    def keep_created_at(self, stamp: str) -> None:
        """Restore ``created_at`` after re-wrapping the *same* data key (its age did not change)."""
        self._created_at = stamp
