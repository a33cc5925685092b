"""secretsctl's SigV4 signer against AWS's published test suite and against botocore's signer.

(a) ``fixtures/sigv4``: AWS's own vectors (see its README) -- canonical
request, string to sign and Authorization header, byte for byte.
(b) botocore's ``SigV4Auth`` on an ``AWSRequest``, on requests hypothesis
makes up (headers with odd case, whitespace and repeats, bodies, query
strings, dates, regions, services, session tokens, ports): the same
Authorization header.  botocore's clock is the one thing faked (so both
sign the same instant).
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from secretsctl.keysources import sigv4

SUITE = FIXTURES / "sigv4"
CREDS = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
NAMES = sorted(p.stem for p in SUITE.glob("*.req"))


def parse_req(path: Path) -> tuple[str, str, list[tuple[str, str]], list[tuple[str, str]], bytes]:
    """(method, path as sent, query pairs, headers, body) of a suite ``.req`` file.

    An indented line continues the previous header with another value (the
    suite's get-header-value-multiline expects them joined by commas).
    """
    head, _, body = path.read_bytes().partition(b"\n\n")
    lines = head.decode("utf-8").split("\n")
    method, target, _ = lines[0].split(" ")  # e.g. "GET /?a=b HTTP/1.1"
    raw_path, _, raw_query = target.partition("?")
    query = [(urllib.parse.unquote(k), urllib.parse.unquote(v))
             for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            headers.append((headers[-1][0], line))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, raw_path, query, headers, body


def test_the_suite_is_there():
    assert len(NAMES) >= 20 and {"get-vanilla", "post-vanilla", "get-vanilla-query-order-key-case",
                                 "post-x-www-form-urlencoded", "get-header-value-trim",
                                 "post-sts-header-before"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_aws_sigv4_suite(name):
    method, path, query, headers, body = parse_req(SUITE / f"{name}.req")
    amz_date = next(v for n, v in headers if n.lower() == "x-amz-date")
    token = next((v for n, v in headers if n.lower() == "x-amz-security-token"), None)
    creq, signed = sigv4.canonical_request(method, path, query, headers,
                                           sigv4.hashlib.sha256(body).hexdigest())
    assert creq == (SUITE / f"{name}.creq").read_text("utf-8")
    sts = sigv4.string_to_sign(amz_date, f"{amz_date[:8]}/us-east-1/service/aws4_request", creq)
    assert sts == (SUITE / f"{name}.sts").read_text("utf-8")
    creds = CREDS._replace(token=token)
    host = next(v for n, v in headers if n.lower() == "host")
    out = sigv4.sign_headers(method, host, path, query, headers, body, creds, "us-east-1",
                             "service", amz_date)
    auth = [v for n, v in out if n == "Authorization"]
    assert auth == [(SUITE / f"{name}.authz").read_text("utf-8")]
    assert f"SignedHeaders={signed}," in auth[0]


def test_quote_matches_the_rfc3986_rules():
    assert sigv4.quote("a b/c~-_.é") == "a%20b%2Fc~-_.%C3%A9"
    assert sigv4.quote("/a b/~", safe="/~") == "/a%20b/~"
    assert sigv4.host_header("https", "KMS.example.com", 443) == "kms.example.com"
    assert sigv4.host_header("http", "127.0.0.1", 5000) == "127.0.0.1:5000"
    assert sigv4.host_header("https", "::1", 8443) == "[::1]:8443"


# ---------------------------------------------------------------- against botocore

_TOKEN = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=1,
                 max_size=80)
# Names botocore treats specially (it derives Host, replaces X-Amz-Date, switches to
# the Date header, trusts X-Amz-Content-SHA256) are left to the fixed part of the request.
_RESERVED = {"host", "authorization", "x-amz-date", "x-amz-security-token", "date",
             "x-amz-content-sha256"}
_NAME = st.sampled_from(["X-Amz-Target", "Content-Type", "My-Header", "x-custom", "Accept",
                         "User-Agent", "Connection", "Expect", "X-Amzn-Trace-Id", "TE",
                         "Content-Encoding", "X-Amz-Meta-A"]).flatmap(
    lambda n: st.sampled_from([n, n.lower(), n.upper()]))
_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e) | st.sampled_from([" ", "\t"]),
                 max_size=40)
_QPART = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2ff,
                               blacklist_categories=("Cs",)), max_size=12)
_SEGMENT = st.text("abcXYZ019-_~é ", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@st.composite
def requests(draw):
    when = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
    return {
        "method": draw(st.sampled_from(["POST", "GET", "PUT"])),
        "scheme": draw(st.sampled_from(["http", "https"])),
        "host": draw(st.sampled_from(["kms.us-east-1.amazonaws.com", "127.0.0.1", "Example.COM"])),
        "port": draw(st.sampled_from([None, 80, 443, 4566, 5000])),
        "path": "/" + "/".join(draw(st.lists(_SEGMENT, max_size=3))),
        "query": draw(st.lists(st.tuples(_QPART, _QPART), max_size=4)),
        "headers": draw(st.lists(st.tuples(_NAME, _VALUE), max_size=8)),
        "body": draw(st.binary(max_size=300)),
        "region": draw(st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])),
        "service": draw(st.sampled_from(["kms", "sts", "service"])),
        "token": draw(st.none() | _TOKEN),
        "access": draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=20)),
        "secret": draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1,
                               max_size=40)),
        "when": when.replace(microsecond=0),
    }


def botocore_authorization(r: dict) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    netloc = r["host"] + (f":{r['port']}" if r["port"] is not None else "")
    req = AWSRequest(method=r["method"], url=f"{r['scheme']}://{netloc}{urllib.parse.quote(r['path'])}",
                     data=r["body"], params=list(r["query"]))
    for name, value in r["headers"]:
        req.headers[name] = value  # HTTPHeaders: assignment appends (repeats kept, in order)
    signer = SigV4Auth(Credentials(r["access"], r["secret"], r["token"]), r["service"], r["region"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=r["when"]):
        signer.add_auth(req)
    return req.headers["Authorization"]


def our_authorization(r: dict) -> str:
    host = sigv4.host_header(r["scheme"], r["host"], r["port"])
    out = sigv4.sign_headers(r["method"], host, urllib.parse.quote(r["path"]), r["query"], r["headers"], r["body"],
                             sigv4.Credentials(r["access"], r["secret"], r["token"]), r["region"],
                             r["service"], r["when"].strftime("%Y%m%dT%H%M%SZ"))
    return [v for n, v in out if n == "Authorization"][0]


@settings(max_examples=300, deadline=None)
@given(requests())
def test_same_authorization_as_botocore(r):
    r["headers"] = [(n, v) for n, v in r["headers"] if n.lower() not in _RESERVED]
    assert our_authorization(r) == botocore_authorization(r)


def test_a_kms_decrypt_request_signs_like_botocore():
    """The exact header set the KMS client sends, with a session token."""
    r = {"method": "POST", "scheme": "https", "host": "kms.eu-west-1.amazonaws.com", "port": None,
         "path": "/", "query": [], "body": b'{"KeyId": "arn:aws:kms:eu-west-1:1:key/x"}',
         "headers": [("Content-Type", "application/x-amz-json-1.1"),
                     ("X-Amz-Target", "TrentService.Decrypt"), ("User-Agent", "secretsctl")],
         "region": "eu-west-1", "service": "kms", "token": "FwoGZXIvYXdzEXAMPLE",
         "access": "ASIAEXAMPLE000000000", "secret": "s3cr3t/EXAMPLE+key",
         "when": dt.datetime(2026, 1, 2, 3, 4, 5)}
    ours = our_authorization(r)
    assert ours == botocore_authorization(r)
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target," in ours
