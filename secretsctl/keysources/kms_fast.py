"""KMS Encrypt/Decrypt over HTTP(S) with SigV4, without the AWS SDK (issue 13).

boto3's import and client creation cost 300+ ms; one Decrypt is one signed
POST.  :class:`FastKmsClient` speaks KMS's JSON protocol (``POST /``,
``X-Amz-Target: TrentService.<Op>``, ``Content-Type:
application/x-amz-json-1.1``, blobs in base64) with the keys and endpoint
that :func:`.awsplain.plan` resolved, and has the method names and result
shapes of the boto3 client so :func:`.kms_client.call` drives both alike.

* Timeout: one connect/read timeout per call, as boto3's Config sets.
* TLS: the CA bundle botocore would use (``AWS_CA_BUNDLE``, else certifi's,
  else botocore's own ``cacert.pem``; the system store only when none is
  there).
* Failures become :class:`.kms_errors.CallError`: what came back (AWS's
  error code and cause, or the HTTP status and the start of a non-KMS
  body, or the transport error) and from where; retries are the caller's.
* Connections are kept alive and reused (rotate works on many files in
  threads); a reused connection the server already closed is replaced once
  without counting as an attempt.
* HTTP itself is :mod:`.httpwire` (not ``http.client``: its import costs
  more than everything else a KMS call adds).
"""
from __future__ import annotations

import base64
import binascii
import json
import socket
import sys
import threading
import time
from typing import Any

from .._version import __version__
from .awsplain import Plan
from .httpwire import Connection, ProtocolError, Response
from .kms_errors import CallError, answer_reason, answer_retryable
from .sigv4 import host_header, sign_headers

__all__ = ["FastKmsClient", "ca_file"]

_JSON = "application/x-amz-json-1.1"
_USER_AGENT = f"secretsctl/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]} kms-fastpath"
_SSL_CONTEXTS: dict[str | None, Any] = {}
_SSL_LOCK = threading.Lock()


def ca_file() -> str | None:
    """The CA bundle botocore verifies against (certifi, else its bundled ``cacert.pem``)."""
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
        return str(certifi.where())
    except ImportError:
        pass
    import importlib.util
    import os
    spec = importlib.util.find_spec("botocore")  # finds, does not import
    for where in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(where, "cacert.pem")
        if os.path.isfile(path):
            return path
    return None


def _ssl_context(bundle: str | None) -> Any:
    """A verifying TLS context trusting ``bundle`` (file or directory, as urllib3 takes
    botocore's ``verify``), else botocore's default bundle; one per bundle per process."""
    with _SSL_LOCK:
        if bundle not in _SSL_CONTEXTS:
            import os
            import ssl
            if bundle and os.path.isdir(bundle):
                ctx = ssl.create_default_context(capath=bundle)
            else:
                ctx = ssl.create_default_context(cafile=bundle or ca_file())
            _SSL_CONTEXTS[bundle] = ctx
        return _SSL_CONTEXTS[bundle]


class FastKmsClient:
    """A KMS client for one (plan, region, timeout): ``encrypt`` and ``decrypt`` as in boto3."""

    fast = True  # kms_client.call: failures are CallError, no botocore mapping

    def __init__(self, plan: Plan, region: str, timeout: float) -> None:
        self.plan = plan
        self.region = region
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def encrypt(self, *, KeyId: str, Plaintext: bytes,  # noqa: N803 - boto3's names
                EncryptionContext: dict[str, str] | None = None) -> dict[str, Any]:
        """KMS Encrypt; ``{"CiphertextBlob": bytes, "KeyId": …}``."""
        return self._blob_op("Encrypt", KeyId, ("Plaintext", Plaintext), "CiphertextBlob",
                             EncryptionContext)

    def decrypt(self, *, KeyId: str, CiphertextBlob: bytes,  # noqa: N803 - boto3's names
                EncryptionContext: dict[str, str] | None = None) -> dict[str, Any]:
        """KMS Decrypt; ``{"Plaintext": bytes, "KeyId": …}``."""
        return self._blob_op("Decrypt", KeyId, ("CiphertextBlob", CiphertextBlob), "Plaintext",
                             EncryptionContext)

    # -------------------------------------------------------------- internals

    def _blob_op(self, op: str, key_id: str, blob_in: tuple[str, bytes], field_out: str,
                 context: dict[str, str] | None) -> dict[str, Any]:
        """One call whose input and output are a blob each (base64 in KMS's JSON protocol)."""
        payload: dict[str, Any] = {"KeyId": key_id, blob_in[0]: _b64(blob_in[1])}
        if context:
            payload["EncryptionContext"] = context
        out = self._call(op, payload)
        return {field_out: self._blob(out, field_out), "KeyId": out.get("KeyId")}

    def _blob(self, out: dict[str, Any], field: str) -> bytes:
        try:
            return base64.b64decode(out[field], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise CallError(f"malformed KMS answer (no valid {field})", where=self.plan.url) from None

    def _call(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = sign_headers(
            "POST", _host(self.plan), "/", (), [
                ("Content-Type", _JSON), ("X-Amz-Target", f"TrentService.{op}"),
                ("User-Agent", _USER_AGENT)],
            body, self.plan.creds, self.region, "kms", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        resp = self._send(body, headers)
        doc = _json_object(resp.body)
        if resp.status == 200 and doc is not None:
            return doc
        raise self._answer_error(resp, doc)

    def _answer_error(self, resp: Response, doc: dict[str, Any] | None) -> CallError:
        where, status = self.plan.url, resp.status
        if doc is None:
            doc = _xml_error(resp.body)  # AWS's XML error shape (front ends, emulators)
        if doc is None:  # not a KMS answer at all: a proxy, a captive portal, a wrong URL …
            snippet = " ".join(resp.body[:120].decode("utf-8", "replace").split())[:80]
            text = f"HTTP {status} {resp.reason}".rstrip()
            text += f", not a KMS answer: {snippet!r}" if snippet else ""
            return CallError(text, retryable=answer_retryable("", status), where=where)
        code = str(doc.get("__type") or resp.headers.get("x-amzn-errortype") or "")
        code = code.split(":")[0].rsplit("#", 1)[-1] or f"HTTP{status}"
        message = str(doc.get("message") or doc.get("Message") or "")
        return CallError(answer_reason(code, message), retryable=answer_retryable(code, status),
                         where=where)

    def _send(self, body: bytes, headers: list[tuple[str, str]]) -> Response:
        """One POST; a dead kept-alive connection is replaced once, transparently."""
        conn, reused = self._connection()
        try:
            try:
                resp = conn.post("/", headers, body)
            except ConnectionError:
                if not reused:
                    raise
                conn.close()  # the server closed it while it sat idle
                conn, _ = self._connection(fresh=True)
                resp = conn.post("/", headers, body)
        except TimeoutError:
            conn.close()
            raise CallError(f"timed out after {self.timeout:g}s ({self.plan.url})",
                            unreachable=True) from None
        except OSError as exc:
            conn.close()
            raise self._transport_error(exc) from None
        if not resp.will_close:
            with self._lock:
                self._idle.append(conn)
        return resp

    def _connection(self, fresh: bool = False) -> tuple[Connection, bool]:
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop(), True
        p = self.plan
        return Connection(p.scheme, p.host, p.port, self.timeout,
                          lambda: _ssl_context(p.ca_bundle)), False

    def _transport_error(self, exc: BaseException) -> CallError:
        ssl = sys.modules.get("ssl")  # imported only if the endpoint is https
        if ssl is not None and isinstance(exc, ssl.SSLError):  # bad certificate, TLS mismatch: waiting will not help
            detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
            return CallError(f"TLS error with {self.plan.url}: {detail}")
        if isinstance(exc, socket.gaierror):
            return CallError(f"could not connect to {self.plan.url} (host not found)",
                             retryable=True, unreachable=True)
        detail = str(exc) if isinstance(exc, ProtocolError) else type(exc).__name__
        return CallError(f"could not connect to {self.plan.url} ({detail})",
                         retryable=True, unreachable=True)


def _host(plan: Plan) -> str:
    return host_header(plan.scheme, plan.host, plan.port)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _xml_error(data: bytes) -> dict[str, Any] | None:
    """``{"__type": Code, "message": Message}`` of an ``<ErrorResponse>`` body, if it is one."""
    if b"<Error>" not in data[:4096]:
        return None
    import re  # already loaded by the CLI; only needed on this rare path
    code = re.search(rb"<Code>([^<]{1,128})</Code>", data)
    message = re.search(rb"<Message>([^<]{0,512})</Message>", data)
    if code is None:
        return None
    return {"__type": code.group(1).decode("utf-8", "replace"),
            "message": message.group(1).decode("utf-8", "replace") if message else ""}


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
