"""AWS KMS clients for :mod:`secretsctl.keysources.kms`: creation, caching, calls.

* :func:`make_client` first asks :func:`.awsplain.plan` whether the call can
  be signed with plain keys (environment or a profile's static keys) and
  sent to a known endpoint; then it is a :class:`.kms_fast.FastKmsClient`
  (no AWS SDK at all, issue 13).  Anything else (roles, SSO, web identity,
  ``credential_process``, instance/container credentials, FIPS, proxies,
  odd config) gets a boto3 client, as before.
* boto3/botocore are imported only inside :func:`make_client` (and the error
  mappers), so a run that never touches a KMS key, or only takes the fast
  path, never pays their import.
* One client per (region, profile, role, endpoint, timeout) per
  :class:`KeyEnv`, cached in ``env.cache`` behind a lock: rotate works on
  several files in parallel threads.
* Every call has a connect/read timeout; throttling, 5xx and refused/reset
  connections are retried (3 attempts, jittered exponential backoff); a
  timeout is not retried (it is that key's budget).  An endpoint that timed
  out or refused connections is remembered for :data:`UNREACHABLE_TTL`
  seconds so the other files of the run skip it.
* A reply that is not what KMS sends (not JSON, no ``Plaintext`` /
  ``CiphertextBlob``, invalid base64: a captive portal, a broken proxy)
  is reported as such, naming the endpoint and region it came from.
"""
from __future__ import annotations

import base64
import binascii
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import ConfigError, IncorrectKeyError, SecretsctlError
from .base import KeyEnv
from .kms_errors import CallError, answer_reason, answer_retryable

__all__ = ["ClientSpec", "ClientFactory", "make_client", "make_boto_client", "client_for", "call", "session_name",
           "timeout_from", "endpoint_for", "unreachable_reason", "mark_unreachable",
           "TIMEOUT_VAR", "ENDPOINT_VAR_PREFIX", "DEFAULT_TIMEOUT", "UNREACHABLE_TTL"]

# AWS allows [\w+=,.@-] in session names; sops strips the rest of the hostname.
_SESSION_STRIP = re.compile(r"[^a-zA-Z0-9=,.@_-]+")

TIMEOUT_VAR = "SECRETSCTL_KMS_TIMEOUT"
ENDPOINT_VAR_PREFIX = "SECRETSCTL_KMS_ENDPOINT_"
DEFAULT_TIMEOUT = 5.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.25
BACKOFF_CAP = 2.0
UNREACHABLE_TTL = 60.0

_CLIENTS = "kms.clients"
_LOCKS = "kms.locks"
_DOWN = "kms.unreachable"
_LOCK = "kms.lock"
_FALLBACK = "kms.fallback_reasons"  # spec -> why boto3 was used ("" = the fast path)


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

    def url(self, client: Any = None) -> str:
        """The endpoint the client really talks to (``AWS_ENDPOINT_URL`` included)."""
        url = getattr(getattr(client, "meta", None), "endpoint_url", None) or self.endpoint
        return url or f"KMS in {self.region}"

    def where(self, client: Any = None) -> str:
        """Secret-free description of the target, for messages: endpoint and region."""
        return f"{self.url(client)}, region {self.region}"


class MalformedReply(Exception):
    """A 200 answer that is not a KMS answer (message: its shape, never its content)."""


# The field each call must bring back (base64 in the JSON body).
_BLOB_FIELDS = {"Decrypt": "Plaintext", "Encrypt": "CiphertextBlob"}


def check_reply(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: refuse a 200 reply KMS would not send.

    botocore reads a body that is not JSON as an empty answer and raises a
    bare ``binascii.Error`` for invalid base64, which said nothing about
    what came back.  Only the shape is described: a Decrypt body holds the
    data key.
    """
    field = _BLOB_FIELDS.get(getattr(operation_model, "name", ""))
    if field is None or response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body") or b""
    try:
        answer = json.loads(body)
    except ValueError:
        ctype = (response_dict.get("headers") or {}).get("content-type") or "no content type"
        raise MalformedReply(f"not JSON ({ctype}, {len(body)} bytes)") from None
    if not isinstance(answer, dict) or not isinstance(answer.get(field), str):
        names = ", ".join(sorted(answer)) if isinstance(answer, dict) else type(answer).__name__
        raise MalformedReply(f"no {field} in the answer (got: {names or 'nothing'})")
    try:
        base64.b64decode(answer[field], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedReply(f"its {field} is not valid base64") from None


def make_client(spec: ClientSpec, env: KeyEnv) -> Any:
    """The fast client when :func:`.awsplain.plan` allows it, else :func:`make_boto_client`."""
    from .awsplain import plan
    fast, why = plan(spec.region, spec.profile, spec.role, spec.endpoint, env.environ)
    with env.cache.setdefault(_LOCK, threading.Lock()):  # why boto3: for diagnosis and tests
        env.cache.setdefault(_FALLBACK, {})[spec] = why
    if fast is not None:
        from .kms_fast import FastKmsClient
        return FastKmsClient(fast, spec.region, spec.timeout)
    return make_boto_client(spec, env)


def make_boto_client(spec: ClientSpec, env: KeyEnv) -> Any:
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
            creds = call(sts, "assume_role", spec, RoleArn=spec.role,
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
    client = session.client("kms", **kwargs)
    client.meta.events.register("before-parse.kms", check_reply)
    return client


ClientFactory = Callable[[ClientSpec, KeyEnv], Any]


def client_for(spec: ClientSpec, env: KeyEnv, factory: ClientFactory = make_client) -> Any:
    """The cached client for ``spec``; created once even when threads race for it."""
    cache = env.cache
    lock = cache.setdefault(_LOCK, threading.Lock())
    with lock:
        clients: dict[Any, Any] = cache.setdefault(_CLIENTS, {})
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


def unreachable_reason(env: KeyEnv, spec: ClientSpec) -> str | None:
    """The remembered reason if ``spec``'s endpoint failed at connection level recently."""
    with env.cache.setdefault(_LOCK, threading.Lock()):
        entry = env.cache.get(_DOWN, {}).get(spec)
    if entry and time.monotonic() - entry[0] < UNREACHABLE_TTL:
        return entry[1]
    return None


def mark_unreachable(env: KeyEnv, spec: ClientSpec, reason: str) -> None:
    with env.cache.setdefault(_LOCK, threading.Lock()):
        env.cache.setdefault(_DOWN, {})[spec] = (time.monotonic(), reason)


# ----------------------------------------------------------------- calls

def _reason(exc: BaseException, spec: ClientSpec, client: Any = None) -> tuple[str, bool]:
    """(short secret-free cause, whether the endpoint is unreachable) for a boto error."""
    from botocore import exceptions as bx
    if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return f"timed out after {spec.timeout:g}s ({spec.url(client)}), region {spec.region}", True
    if isinstance(exc, bx.ConnectionClosedError):
        return f"connection closed by {spec.where(client)} without an answer", True
    if isinstance(exc, bx.EndpointConnectionError):
        return f"could not connect to {spec.where(client)}", True
    if isinstance(exc, MalformedReply):
        return f"malformed KMS response from {spec.where(client)}: {exc}", False
    if isinstance(exc, binascii.Error):  # botocore decoding a blob (no before-parse hook)
        return f"malformed KMS response from {spec.where(client)}: invalid base64", False
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        return answer_reason(str(err.get("Code") or ""), str(err.get("Message") or "")), False
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
        return answer_retryable(exc.response.get("Error", {}).get("Code", ""), status)
    return False


def _answered(exc: BaseException, spec: ClientSpec, op: str) -> str | None:
    """Who answered with an error (for "from …"), if the endpoint did answer."""
    from botocore import exceptions as bx
    if not isinstance(exc, bx.ClientError):
        return None
    return f"STS in {spec.region}" if op == "assume_role" else spec.where()


def _field(out: Any, field: str | None) -> Any:
    """The whole answer, or its ``field`` (bytes; missing or empty: :class:`MalformedReply`)."""
    if field is None:
        return out
    value = out.get(field) if isinstance(out, dict) else None
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise MalformedReply(f"no {field} in the answer")
    return bytes(value)


def call(client: Any, op: str, spec: ClientSpec, *, sleep: Callable[[float], None] = time.sleep,
          field: str | None = None, **params: Any) -> Any:
    """``client.<op>(**params)`` with bounded retries; failures -> IncorrectKeyError.

    The error's ``unreachable`` attribute tells whether the endpoint failed
    at connection level (so callers can remember it).  The fast client
    raises only :class:`CallError` (anything else is a bug and propagates);
    boto3's exceptions are mapped here.  With ``field``, that member of the
    answer (bytes) is returned and its absence is an error too.
    """
    fast = getattr(client, "fast", False)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _field(getattr(client, op)(**params), field)
        except CallError as exc:
            retry, reason, down, where = exc.retryable, exc.reason, exc.unreachable, exc.where
        except MalformedReply as exc:
            retry, reason, down, where = False, f"malformed KMS response from {spec.where(client)}: {exc}", \
                False, None
        except Exception as exc:  # noqa: BLE001 - boto3's, mapped below, nothing secret is kept
            if fast:
                raise
            retry, (reason, down), where = _retryable(exc), _reason(exc, spec, client), _answered(exc, spec, op)
        if attempt < MAX_ATTEMPTS and retry:
            sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt)))
            continue
        if attempt > 1:
            reason += f" after {attempt} attempts"
        if where:
            reason += f" from {where}"
        err = IncorrectKeyError(reason)
        err.unreachable = down  # type: ignore[attr-defined]
        raise err from None
    raise AssertionError("unreachable")  # pragma: no cover
