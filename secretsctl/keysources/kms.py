"""AWS KMS master keys through boto3.

Entry shape (SOPS_FORMAT.md §7.1): ``arn``, ``role`` (omitted when empty),
``context`` (omitted when empty, keys sorted), ``created_at``, ``enc``
(standard base64 of the KMS ``CiphertextBlob``), ``aws_profile`` (always
written, ``""`` for the default credential chain).

Cost rules (issue 3):

* boto3/botocore are imported only inside :func:`make_client`, so a run
  that never touches a KMS key never pays their ~200 ms import.
* One client per (region, profile, role, endpoint, timeout) per
  :class:`KeyEnv`, cached in ``env.cache`` behind a lock, because the rotate
  command works on several files in parallel threads.
* Every call has a connect/read timeout (``SECRETSCTL_KMS_TIMEOUT`` seconds,
  default 5; the CLI's ``--kms-timeout`` sets it).  Throttling, 5xx and
  refused/reset connections are retried (3 attempts in all, jittered
  exponential backoff); a *timeout* is not retried: the timeout is the
  budget for that key, and the next key of the group is usually faster
  than waiting again.  An endpoint that timed out or refused connections is
  remembered for :data:`UNREACHABLE_TTL` seconds, so the other files of the
  same run skip it instead of each waiting out the timeout.

Testing / advanced: ``SECRETSCTL_KMS_ENDPOINT_<REGION>`` (region upper-case,
``-`` as ``_``, e.g. ``SECRETSCTL_KMS_ENDPOINT_EU_WEST_1``) overrides the KMS
endpoint of one region, read from the injected environment.  boto3 itself
honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_KMS`` / ``_STS`` and the rest
of the standard AWS environment; note that boto3 reads those (and the
credential chain) from the *process* environment, not from ``KeyEnv.environ``.

Failures that another key might not share (access denied, disabled key,
wrong encryption context, timeouts, no credentials …) raise
:class:`IncorrectKeyError` with a short cause; messages name ARNs, codes and
endpoints, never the ciphertext or the data key.
"""
from __future__ import annotations

import base64
import binascii
import copy
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from ..errors import (ConfigError, ExitCode, IncorrectKeyError, KeySourceError,
                      SecretsctlError)
from ..tree import Branch, Item
from .base import KeyEnv, format_created_at

__all__ = ["KmsKey", "ClientSpec", "parse_context", "parse_arn_string", "region_of",
           "session_name", "make_client", "TIMEOUT_VAR", "ENDPOINT_VAR_PREFIX"]

ARN_RE = re.compile(r"^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$")
_ROLE_MARK = "+arn:aws:iam::"
# AWS allows [\w+=,.@-] in session names; sops strips the rest of the hostname.
_SESSION_STRIP = re.compile(r"[^a-zA-Z0-9=,.@_-]+")

TIMEOUT_VAR = "SECRETSCTL_KMS_TIMEOUT"
ENDPOINT_VAR_PREFIX = "SECRETSCTL_KMS_ENDPOINT_"
DEFAULT_TIMEOUT = 5.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.25
BACKOFF_CAP = 2.0
UNREACHABLE_TTL = 60.0

_RETRY_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException",
    "RequestThrottled", "SlowDown", "PriorRequestNotComplete", "RequestTimeout",
    "RequestTimeoutException", "KMSInternalException", "DependencyTimeoutException",
})
# Short causes for the per-key report (the code itself is always shown).
_CAUSES = {
    "AccessDeniedException": "",
    "DisabledException": "KMS key is disabled",
    "KMSInvalidStateException": "KMS key is not usable (pending deletion or import?)",
    "InvalidCiphertextException": "wrong encryption context?",
    "IncorrectKeyException": "the data key was not wrapped by this KMS key",
    "NotFoundException": "KMS key or alias not found",
    "UnrecognizedClientException": "invalid AWS credentials",
    "InvalidSignatureException": "invalid AWS credentials",
    "ExpiredTokenException": "AWS credentials expired",
}

_CLIENTS = "kms.clients"
_LOCKS = "kms.locks"
_DOWN = "kms.unreachable"
_LOCK = "kms.lock"


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
            raise SecretsctlError(f"Invalid KMS encryption context format: {pair!r} is not key:value",
                                  exit_code=ExitCode.INVALID_KMS_CONTEXT)
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


def session_name(hostname: str | None = None) -> str:
    """``sops@<hostname>`` with characters AWS rejects removed, at most 64 chars (sops)."""
    import socket  # deferred: only AssumeRole needs it, and every CLI run imports this module
    host = socket.gethostname() if hostname is None else hostname
    return ("sops@" + _SESSION_STRIP.sub("", host))[:64]


def timeout_from(environ: Mapping[str, str]) -> float:
    """``SECRETSCTL_KMS_TIMEOUT`` in seconds (default 5); must be a positive number."""
    raw = environ.get(TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{TIMEOUT_VAR} must be a positive number of seconds, got {raw!r}")
    return value


def endpoint_for(region: str, environ: Mapping[str, str]) -> str | None:
    """The per-region endpoint override, if set (``SECRETSCTL_KMS_ENDPOINT_EU_WEST_1``)."""
    return environ.get(ENDPOINT_VAR_PREFIX + region.upper().replace("-", "_")) or None


# ----------------------------------------------------------------- clients

@dataclass(frozen=True)
class ClientSpec:
    """Everything that makes two KMS clients different."""

    region: str
    profile: str = ""
    role: str = ""
    endpoint: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def where(self) -> str:
        """Secret-free description of the target, for messages."""
        return self.endpoint or f"KMS in {self.region}"


def make_client(spec: ClientSpec, env: KeyEnv) -> Any:
    """A boto3 KMS client for ``spec`` (the only place that imports boto3).

    With a role, credentials come from STS AssumeRole (session name
    ``sops@<host>``) made with the profile's/default credentials, as sops
    does; the temporary credentials are not refreshed (one run < 1 hour).
    """
    import boto3  # deferred on purpose: see the module docstring
    from botocore.config import Config

    session = boto3.Session(profile_name=spec.profile or None)
    config = Config(connect_timeout=spec.timeout, read_timeout=spec.timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    user_agent_extra="secretsctl")
    kwargs: dict[str, Any] = {"region_name": spec.region, "config": config}
    if spec.role:
        sts = session.client("sts", region_name=spec.region, config=config)
        try:
            creds = _call(sts, "assume_role", spec, RoleArn=spec.role,
                          RoleSessionName=session_name())["Credentials"]
        except IncorrectKeyError as exc:
            err = IncorrectKeyError(f"could not assume role {spec.role}: {exc.message}")
            err.unreachable = getattr(exc, "unreachable", False)  # type: ignore[attr-defined]
            raise err from None
        kwargs.update(aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
    if spec.endpoint:
        kwargs["endpoint_url"] = spec.endpoint
    return session.client("kms", **kwargs)


ClientFactory = Callable[[ClientSpec, KeyEnv], Any]


def client_for(spec: ClientSpec, env: KeyEnv, factory: ClientFactory = make_client) -> Any:
    """The cached client for ``spec``; created once even when threads race for it."""
    cache = env.cache
    lock = cache.setdefault(_LOCK, threading.Lock())
    with lock:
        clients: dict = cache.setdefault(_CLIENTS, {})
        if spec in clients:
            return clients[spec]
        spec_lock = cache.setdefault(_LOCKS, {}).setdefault(spec, threading.Lock())
    with spec_lock:  # per spec, so a slow AssumeRole does not block other regions
        if spec not in clients:
            try:
                clients[spec] = factory(spec, env)
            except SecretsctlError:
                raise
            except Exception as exc:  # ProfileNotFound, bad config files …
                raise IncorrectKeyError(_reason(exc, spec)[0]) from None
        return clients[spec]


def _unreachable(env: KeyEnv, spec: ClientSpec) -> str | None:
    """The remembered reason if ``spec``'s endpoint failed at connection level recently."""
    with env.cache.setdefault(_LOCK, threading.Lock()):
        entry = env.cache.get(_DOWN, {}).get(spec)
    if entry and time.monotonic() - entry[0] < UNREACHABLE_TTL:
        return entry[1]
    return None


def _mark_unreachable(env: KeyEnv, spec: ClientSpec, reason: str) -> None:
    with env.cache.setdefault(_LOCK, threading.Lock()):
        env.cache.setdefault(_DOWN, {})[spec] = (time.monotonic(), reason)


# ----------------------------------------------------------------- calls

def _reason(exc: BaseException, spec: ClientSpec) -> tuple[str, bool]:
    """(short secret-free cause, whether the endpoint is unreachable) for a boto error."""
    from botocore import exceptions as bx
    if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return f"timed out after {spec.timeout:g}s ({spec.where()})", True
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError)):
        return f"could not connect to {spec.where()}", True
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "UnknownError")
        cause = _CAUSES.get(code)
        if cause is None:  # unknown code: AWS's own message (ARNs at most, never key material)
            cause = " ".join(str(err.get("Message") or "").split())[:160]
        return (f"{code} ({cause})" if cause else code), False
    if isinstance(exc, bx.NoCredentialsError):
        return "no AWS credentials found (env, shared files, SSO, instance role …)", False
    if isinstance(exc, bx.ProfileNotFound):
        return f"AWS profile {spec.profile!r} not found", False
    if isinstance(exc, bx.BotoCoreError):
        return f"{type(exc).__name__}: {str(exc)[:160]}", False
    return f"unexpected error: {type(exc).__name__}", False


def _retryable(exc: BaseException) -> bool:
    from botocore import exceptions as bx
    if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return False  # the timeout is the whole budget for this key
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError)):
        return True
    if isinstance(exc, bx.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return code in _RETRY_CODES or status == 429 or 500 <= status < 600
    return False


def _call(client: Any, op: str, spec: ClientSpec, *, sleep: Callable[[float], None] = time.sleep,
          **params: Any) -> Any:
    """``client.<op>(**params)`` with bounded retries; failures -> IncorrectKeyError.

    The second element of the error's ``args`` tells whether the endpoint is
    unreachable (so callers can remember it).
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return getattr(client, op)(**params)
        except Exception as exc:  # noqa: BLE001 - mapped below, nothing secret is kept
            if attempt < MAX_ATTEMPTS and _retryable(exc):
                sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt)))
                continue
            reason, down = _reason(exc, spec)
            if attempt > 1:
                reason += f" after {attempt} attempts"
            err = IncorrectKeyError(reason)
            err.unreachable = down  # type: ignore[attr-defined]
            raise err from None
    raise AssertionError("unreachable")  # pragma: no cover


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
    def from_tree(cls, entry: Branch) -> "KmsKey":
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
                    context: str | Mapping[str, str] | None = None, **_: Any) -> list["KmsKey"]:
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

    def _kms(self, env: KeyEnv, op: str, **params: Any) -> Any:
        """One KMS call through the cached client, remembering dead endpoints."""
        spec = self._spec(env)
        down = _unreachable(env, spec)
        if down:
            raise IncorrectKeyError(f"skipped: {down} earlier in this run")
        if self.context:
            params["EncryptionContext"] = dict(self.context)
        try:
            client = client_for(spec, env, self.client_factory)
            return _call(client, op, spec, sleep=self.sleep, **params)
        except IncorrectKeyError as exc:
            if getattr(exc, "unreachable", False):
                _mark_unreachable(env, spec, exc.message)
            raise

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """KMS Encrypt with this key and context; ``enc`` = base64(CiphertextBlob)."""
        try:
            out = self._kms(env, "encrypt", KeyId=self.arn, Plaintext=data_key)
        except IncorrectKeyError as exc:
            # Wrapping has no "next key": every key must wrap, so this is fatal.
            raise KeySourceError(f"failed to encrypt the data key with KMS key {self.arn}: "
                                 f"{exc.message}") from None
        self.enc = base64.b64encode(out["CiphertextBlob"]).decode("ascii")
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
            return bytes(self._kms(env, "decrypt", KeyId=self.arn, CiphertextBlob=blob)["Plaintext"])
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
