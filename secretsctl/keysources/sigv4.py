"""AWS Signature Version 4 (header form), stdlib only: what one KMS call needs.

Verified against AWS's published SigV4 test suite (``fixtures/sigv4``) and
against botocore's own ``SigV4Auth`` on randomised requests
(``tests/test_sigv4.py``).  The rules, each as botocore applies them:

* header names are lower-cased; a value is trimmed and inner runs of
  whitespace become one space; repeated headers are joined with ``,`` in
  the order they were given; hop-by-hop and tracing headers
  (:data:`UNSIGNED_HEADERS`, botocore's list) are not signed;
* ``host`` is signed even when the caller did not set it (derived from the
  URL, default port dropped, as the HTTP client will send it);
* query keys and values are percent-encoded (unreserved ``A-Za-z0-9-_.~``
  kept, UTF-8) and sorted by key then value;
* the path, as it is sent on the wire, is percent-encoded once more with
  ``/`` and ``~`` kept (so an already-encoded ``%20`` signs as ``%2520``,
  the double encoding every service but S3 expects); no dot-segment
  normalisation: KMS always posts to ``/``;
* the payload hash is the hex SHA-256 of the body (also over plain HTTP).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable, NamedTuple, Sequence

__all__ = ["Credentials", "ALGORITHM", "UNSIGNED_HEADERS", "canonical_request", "string_to_sign",
           "signing_key", "signature", "sign_headers", "quote", "host_header"]

ALGORITHM = "AWS4-HMAC-SHA256"
# botocore's SIGNED_HEADERS_BLACKLIST: a proxy may add, drop or rewrite these.
UNSIGNED_HEADERS = frozenset({
    "baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "x-amzn-trace-id"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


class Credentials(NamedTuple):
    """Static AWS credentials (never logged, never put in a message)."""

    access_key: str
    secret_key: str
    token: str | None = None


def quote(text: str, safe: str = "") -> str:
    """RFC 3986 percent-encoding of UTF-8 ``text``; unreserved characters and ``safe`` kept.

    Hand-written rather than ``urllib.parse.quote`` so that signing one KMS
    request does not import ``urllib.parse`` (the rules are the same).
    """
    keep = _UNRESERVED | frozenset(safe.encode("ascii"))
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode("utf-8"))


def host_header(scheme: str, host: str, port: int | None) -> str:
    """The ``Host`` value an HTTP client sends: lower-case, default port dropped, IPv6 bracketed."""
    host = host.lower()
    if ":" in host and not host.startswith("["):  # a bare IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return host


def _canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(canonical header block, signed header list) of the signable headers."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname not in UNSIGNED_HEADERS:
            merged.setdefault(lname, []).append(" ".join(value.split()))
    names = sorted(merged)
    block = "".join(f"{n}:{','.join(merged[n])}\n" for n in names)
    return block, ";".join(names)


def canonical_request(method: str, path: str, query: Sequence[tuple[str, str]],
                      headers: Iterable[tuple[str, str]], payload_hash: str) -> tuple[str, str]:
    """(canonical request text, signed header list) -- task 1 of the SigV4 process."""
    pairs = sorted((quote(k), quote(v)) for k, v in query)
    block, signed = _canonical_headers(headers)
    text = "\n".join([method.upper(), quote(path or "/", safe="/~"),
                      "&".join(f"{k}={v}" for k, v in pairs), block, signed, payload_hash])
    return text, signed


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    """Task 2: algorithm, timestamp, credential scope, hash of the canonical request."""
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """Task 3: the derived key ``HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), …)``."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(key: bytes, sts: str) -> str:
    """Task 4: hex HMAC-SHA256 of the string to sign."""
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_headers(method: str, host: str, path: str, query: Sequence[tuple[str, str]],
                 headers: Sequence[tuple[str, str]], body: bytes, creds: Credentials, region: str,
                 service: str, amz_date: str) -> list[tuple[str, str]]:
    """The request headers to send: ``headers`` plus Host, X-Amz-Date, token, Authorization.

    ``amz_date`` is ``YYYYMMDDTHHMMSSZ`` (UTC).  Like botocore, a caller's
    own ``X-Amz-Date``/``X-Amz-Security-Token``/``Authorization`` are replaced.
    """
    drop = {"x-amz-date", "authorization"} | ({"x-amz-security-token"} if creds.token else set())
    out = [(n, v) for n, v in headers if n.lower() not in drop]
    if not any(n.lower() == "host" for n, _ in out):
        out.append(("Host", host))
    out.append(("X-Amz-Date", amz_date))
    if creds.token:
        out.append(("X-Amz-Security-Token", creds.token))
    creq, signed = canonical_request(method, path, query, out, hashlib.sha256(body).hexdigest())
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sig = signature(signing_key(creds.secret_key, amz_date[:8], region, service),
                    string_to_sign(amz_date, scope, creq))
    out.append(("Authorization", f"{ALGORITHM} Credential={creds.access_key}/{scope}, "
                                 f"SignedHeaders={signed}, Signature={sig}"))
    return out
