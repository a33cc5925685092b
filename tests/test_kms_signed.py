"""The fast path's requests, as they go over the wire, pass a real server's SigV4 check.

A dedicated moto_server runs with IAM authentication on
(``INITIAL_NO_AUTH_ACTION_COUNT``: after the setup calls, every request
must be signed by a known access key, and moto recomputes the signature
from the headers and body it received).  This checks what test_sigv4 cannot:
that what we *send* (Host with its port, X-Amz-Date, the token, the body)
is what we *signed*.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from kms_helpers import ACCOUNT, free_port, wait_for_port
from secretsctl.errors import IncorrectKeyError, KeySourceError
from secretsctl.keysources.base import KeyEnv
from secretsctl.keysources.kms import KmsKey

SETUP_CALLS = 6  # unauthenticated: the calls of the `authed` fixture before the first signed one
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def authed():
    """(url, key ARN, (user key, secret), role ARN) on a moto_server that checks signatures."""
    import os
    import boto3
    port = free_port()
    exe = ROOT / ".venv" / "bin" / "moto_server"
    proc = subprocess.Popen([str(exe if exe.exists() else "moto_server"), "-H", "127.0.0.1", "-p",
                             str(port)], env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        url = f"http://127.0.0.1:{port}"
        kw = dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id="setup",
                  aws_secret_access_key="setup")
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="fast")  # 1
        key = iam.create_access_key(UserName="fast")["AccessKey"]  # 2
        iam.put_user_policy(UserName="fast", PolicyName="all", PolicyDocument=ALLOW_ALL)  # 3
        arn = boto3.client("kms", **kw).create_key(Description="signed")["KeyMetadata"]["Arn"]  # 4
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/fast"},
            "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName="fast", AssumeRolePolicyDocument=trust)["Role"]["Arn"]  # 5
        iam.put_role_policy(RoleName="fast", PolicyName="all", PolicyDocument=ALLOW_ALL)  # 6
        yield url, arn, (key["AccessKeyId"], key["SecretAccessKey"]), role
    finally:
        proc.terminate()
        proc.wait(10)


def fast_env(url: str, access: str, secret: str, token: str | None = None) -> KeyEnv:
    environ = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    if token:
        environ["AWS_SESSION_TOKEN"] = token
    return KeyEnv(environ=environ)


def test_user_keys_sign_requests_moto_accepts(authed):
    url, arn, (access, secret), _ = authed
    env = fast_env(url, access, secret)
    key = KmsKey(arn, context={"app": "web"})
    key.encrypt(b"d" * 32, env)
    assert key.decrypt(env) == b"d" * 32
    client = env.cache["kms.clients"]
    assert [type(c).__name__ for c in client.values()] == ["FastKmsClient"]


def test_session_token_is_signed_and_accepted(authed):
    import boto3
    url, arn, (access, secret), role = authed
    creds = boto3.client("sts", region_name="us-east-1", endpoint_url=url, aws_access_key_id=access,
                         aws_secret_access_key=secret).assume_role(
        RoleArn=role, RoleSessionName="fast")["Credentials"]
    env = fast_env(url, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    key = KmsKey(arn)
    key.encrypt(b"t" * 32, env)
    assert key.decrypt(env) == b"t" * 32


def test_a_wrong_secret_is_refused_by_the_signature_check(authed):
    url, arn, (access, _), _ = authed
    # moto answers this one in AWS's XML error shape: its code and message are reported.
    with pytest.raises(KeySourceError, match=r": SignatureDoesNotMatch \(.*signature.*\) from "
                                             r"http://127\.0\.0\.1:\d+$"):
        KmsKey(arn).encrypt(b"x" * 32, fast_env(url, access, "not-the-secret"))
    good = KmsKey(arn)  # a wrap made with the right secret, opened with a wrong one
    good.encrypt(b"y" * 32, fast_env(url, access, authed[2][1]))
    with pytest.raises(IncorrectKeyError, match="Signature"):
        good.decrypt(fast_env(url, access, "not-the-secret"))
