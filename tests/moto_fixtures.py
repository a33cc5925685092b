"""Session fixtures for a real moto_server (AWS KMS/STS/IAM over HTTP).

Loaded by conftest.py as a pytest plugin, so every test module shares ONE
server per session (importing fixtures from a test module would define them
again and start a second server).
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT
from kms_helpers import ACCOUNT, CountingProxy, aws_client, start_moto, write_aws_files


@pytest.fixture(scope="session")
def moto_url():
    """scripts/test's moto_server, or our own when pytest runs directly (never skipped)."""
    url = os.environ.get("SECRETSCTL_TEST_MOTO_URL")
    if url:
        yield url
        return
    proc, url = start_moto(ROOT / ".venv" / "bin")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class World:
    """Keys and a role created in moto for this session."""

    url: str
    k1: str  # us-east-1
    k2: str  # eu-west-1
    alias: str  # alias ARN pointing at k1
    role: str

    def new_key(self, region: str) -> str:
        """A fresh key (for tests that change key state)."""
        return aws_client("kms", region, self.url).create_key(
            Description="secretsctl test")["KeyMetadata"]["Arn"]

    def disable(self, arn: str) -> None:
        # moto 5 answers 500 to DisableKey with a key ARN; the key id works.
        aws_client("kms", arn.split(":")[3], self.url).disable_key(KeyId=arn.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def world(moto_url: str) -> World:
    tag = uuid.uuid4().hex[:8]  # a long-lived moto may already hold earlier runs' names
    use1 = aws_client("kms", "us-east-1", moto_url)
    k1 = use1.create_key(Description="secretsctl us-east-1")["KeyMetadata"]["Arn"]
    k2 = aws_client("kms", "eu-west-1", moto_url).create_key(
        Description="secretsctl eu-west-1")["KeyMetadata"]["Arn"]
    use1.create_alias(AliasName=f"alias/secretsctl-{tag}", TargetKeyId=k1)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]}
    role = aws_client("iam", "us-east-1", moto_url).create_role(
        RoleName=f"sops-{tag}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return World(moto_url, k1, k2, f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/secretsctl-{tag}", role)


@pytest.fixture
def aws_env(base_env: dict[str, str], moto_url: str) -> dict[str, str]:
    """base_env plus AWS settings for both tools, talking to moto directly."""
    env = dict(base_env)
    env.update(write_aws_files(Path(env["HOME"]), {"prof": ("AKIAPROFILE000000001", "profsecret")}))
    env.update(AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    return env




@pytest.fixture
def proxy(moto_url: str):
    """A counting proxy in front of moto (kms_helpers.CountingProxy)."""
    p = CountingProxy(moto_url)
    yield p
    p.close()
