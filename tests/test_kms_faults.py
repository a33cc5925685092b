"""KMS faults through a real loopback proxy in front of moto_server (issue 14).

A file wrapped for two KMS keys in two regions; each region is routed with
``SECRETSCTL_KMS_ENDPOINT_<REGION>`` to its own :class:`FaultProxy` (or to
moto directly).  Every fault of the first region must end in the second
key opening the file; both regions faulty must end in exit 128 with a
report that says what came back and from where, all within a bound on the
elapsed time (sops waits for minutes on a silent endpoint).
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from conftest import run
from fault_proxy import FaultProxy
from kms_helpers import endpoint_var

PLAIN = b"db:\n    password: hunter2\n"
BOUND = 10.0   # seconds, with --kms-timeout 1 (a generous bound for a loaded machine)

# mode -> what the per-key report must say (whitespace-insensitive), through boto3
# (SECRETSCTL_KMS_FASTPATH=off) and through the fast path (its own HTTP client)
BOTO = {
    "throttle": "ThrottlingException (Rate exceeded) after 3 attempts",
    "error500": "KMSInternalException (internal error) after 3 attempts",
    "reset": "connection closed by {url}, region {region} without an answer after 3 attempts",
    "slow": "timed out after 1s ({url}), region {region}",
    "silent": "timed out after 1s ({url}), region {region}",
    "not-json": "malformed KMS response from {url}, region {region}: not JSON (text/html, 41 bytes)",
    "no-field": "malformed KMS response from {url}, region {region}: no Plaintext in the answer "
                "(got: KeyId)",
    "bad-b64": "malformed KMS response from {url}, region {region}: its Plaintext is not valid base64",
    "down": "could not connect to {url}, region {region} after 3 attempts",
}
FAST = {
    "throttle": "ThrottlingException (Rate exceeded) after 3 attempts from {url}",
    "error500": "KMSInternalException (internal error) after 3 attempts from {url}",
    "reset": "could not connect to {url} (ConnectionResetError) after 3 attempts",
    "slow": "timed out after 1s ({url})",
    "silent": "timed out after 1s ({url})",
    "not-json": "HTTP 200 OK, not a KMS answer: '<html><body>502 Bad Gateway</body></html>' from {url}",
    "no-field": "malformed KMS answer (no valid Plaintext) from {url}",
    "bad-b64": "malformed KMS answer (no valid Plaintext) from {url}",
    "down": "could not connect to {url} (ConnectionRefusedError) after 3 attempts",
}
EXPECTED = {"boto3": BOTO, "fast": FAST}
BOTO3_ONLY = {"SECRETSCTL_KMS_FASTPATH": "off"}


def _squash(text: str) -> str:
    """The report wraps long reasons onto ``| `` lines: compare without layout."""
    return re.sub(r"[\s|]+", "", text)


@pytest.fixture
def proxies():
    made: list[FaultProxy] = []

    def make(upstream: str, mode: str | None, **kw) -> FaultProxy:
        made.append(FaultProxy(upstream, mode, **kw))
        return made[-1]
    yield make
    for p in made:
        p.close()


@pytest.fixture
def two_region_file(world, aws_env, tmp_path: Path) -> Path:
    src = tmp_path / "s.yaml"
    src.write_bytes(PLAIN)
    res = _cli(aws_env, ["encrypt", "--kms", f"{world.k1},{world.k2}", str(src)])
    assert res.returncode == 0, res.stderr
    src.write_bytes(res.stdout)
    return src


def _cli(env: dict, args: list[str]):
    return run([sys.executable, "-m", "secretsctl", *args], env, timeout=60)


def _decrypt(env: dict, f: Path) -> tuple[object, float]:
    start = time.monotonic()
    res = _cli(env, ["decrypt", "--kms-timeout", "1", str(f)])
    return res, time.monotonic() - start


@pytest.mark.parametrize("path", list(EXPECTED))
@pytest.mark.parametrize("mode", list(BOTO))
def test_first_region_faulty_falls_back_to_second_key(mode, path, world, aws_env, two_region_file,
                                                       proxies):
    bad = proxies(world.url, mode)
    env = {**aws_env, endpoint_var("us-east-1"): bad.url, **(BOTO3_ONLY if path == "boto3" else {})}
    res, elapsed = _decrypt(env, two_region_file)
    assert res.returncode == 0, res.stderr
    assert res.stdout == PLAIN
    assert elapsed < BOUND, elapsed
    assert bad.forwarded == 0 and (bad.faults > 0 or mode == "down")


@pytest.mark.parametrize("path", list(EXPECTED))
@pytest.mark.parametrize("mode", list(BOTO))
def test_both_regions_faulty_report_what_came_back_and_from_where(mode, path, world, aws_env,
                                                                  two_region_file, proxies):
    east, west = proxies(world.url, mode), proxies(world.url, mode)
    env = {**aws_env, endpoint_var("us-east-1"): east.url, endpoint_var("eu-west-1"): west.url,
           **(BOTO3_ONLY if path == "boto3" else {})}
    res, elapsed = _decrypt(env, two_region_file)
    assert res.returncode == 128, res.stderr
    assert res.stdout == b""
    assert elapsed < BOUND, elapsed
    err = res.stderr.decode()
    assert "unexpected error" not in err and "Traceback" not in err
    for arn, url, region in ((world.k1, east.url, "us-east-1"), (world.k2, west.url, "eu-west-1")):
        assert f"{arn}: FAILED" in err
        assert _squash(EXPECTED[path][mode].format(url=url, region=region)) in _squash(err), err
    assert "hunter2" not in err


def test_transient_faults_are_retried_on_the_same_key(world, aws_env, two_region_file, proxies):
    for mode in ("throttle", "error500", "reset"):
        east = proxies(world.url, mode, times=2)
        west = proxies(world.url, "down")
        env = {**aws_env, endpoint_var("us-east-1"): east.url, endpoint_var("eu-west-1"): west.url}
        res, _ = _decrypt(env, two_region_file)
        assert res.returncode == 0 and res.stdout == PLAIN, (mode, res.stderr)
        assert (east.faults, east.forwarded) == (2, 1), mode


def test_slow_answer_within_the_timeout_is_waited_for(world, aws_env, two_region_file, proxies):
    east = proxies(world.url, "slow", delay=0.3)
    west = proxies(world.url, "down")
    env = {**aws_env, endpoint_var("us-east-1"): east.url, endpoint_var("eu-west-1"): west.url}
    res = _cli(env, ["decrypt", "--kms-timeout", "5", str(two_region_file)])
    assert res.returncode == 0 and res.stdout == PLAIN, res.stderr


def test_aws_endpoint_url_is_named_with_each_keys_region(world, aws_env, two_region_file, proxies):
    """With only AWS_ENDPOINT_URL set, the report names that endpoint and the key's own region."""
    bad = proxies(world.url, "not-json")
    res, _ = _decrypt({**aws_env, "AWS_ENDPOINT_URL": bad.url, **BOTO3_ONLY}, two_region_file)
    assert res.returncode == 128
    err = _squash(res.stderr.decode())
    assert _squash(f"from {bad.url}, region us-east-1: not JSON") in err
    assert _squash(f"from {bad.url}, region eu-west-1: not JSON") in err


@pytest.mark.parametrize("mode", ["no-field", "not-json", "bad-b64"])
def test_malformed_encrypt_answer_is_refused(mode, world, aws_env, tmp_path: Path, proxies):
    src = tmp_path / "s.yaml"
    src.write_bytes(PLAIN)
    bad = proxies(world.url, mode)
    res = _cli({**aws_env, endpoint_var("us-east-1"): bad.url, **BOTO3_ONLY},
               ["encrypt", "--kms", world.k1, str(src)])
    assert res.returncode != 0 and res.stdout == b""
    err = _squash(res.stderr.decode())
    assert _squash(f"malformed KMS response from {bad.url}, region us-east-1") in err
    assert "CiphertextBlob" in err or "notJSON" in err
    assert src.read_bytes() == PLAIN
