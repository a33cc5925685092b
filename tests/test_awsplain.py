"""awsplain.plan(): the fast path takes exactly the plain cases, and agrees with botocore on them.

For every case it accepts, botocore itself (a real ``boto3.Session`` and KMS
client over the same environment and files) must resolve the same access
key, secret, session token and endpoint URL.  Every other credential source
or setting must fall back, with a reason.
"""
from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from secretsctl.keysources.awsplain import plan

CONFIG = """\
[default]
region = eu-west-1
output = json

[profile cfg]
aws_access_key_id = AKIACONFIG0000000001
aws_secret_access_key = cfgsecret

[profile both]
aws_access_key_id = AKIAFROMCONFIG000001
aws_secret_access_key = fromconfig

[profile role]
role_arn = arn:aws:iam::123456789012:role/r
source_profile = cfg

[profile sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile proc]
credential_process = /bin/false

[profile webid]
web_identity_token_file = /nonexistent/token
role_arn = arn:aws:iam::123456789012:role/w

[profile fips]
aws_access_key_id = AKIAFIPS000000000001
aws_secret_access_key = fips
use_fips_endpoint = true

[profile ep]
aws_access_key_id = AKIAEP00000000000001
aws_secret_access_key = ep
endpoint_url = http://127.0.0.1:1

[profile half]
aws_access_key_id = AKIAHALF000000000001
"""
CREDENTIALS = """\
[default]
aws_access_key_id = AKIADEFAULT000000001
aws_secret_access_key = defsecret

[both]
aws_access_key_id = AKIAFROMCREDS0000001
aws_secret_access_key = fromcreds
aws_session_token = credstoken

[credsonly]
aws_access_key_id = AKIACREDSONLY0000001
aws_secret_access_key = credsonly
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "config").write_text(CONFIG)
    (tmp_path / "credentials").write_text(CREDENTIALS)
    return {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true"}


def botocore_view(environ: dict[str, str], profile: str, region: str, endpoint: str | None):
    """(access, secret, token, endpoint) as boto3 resolves them for this KMS client."""
    import boto3
    with mock.patch.dict(os.environ, environ, clear=True):
        session = boto3.Session(profile_name=profile or None)
        creds = session.get_credentials().get_frozen_credentials()
        client = session.client("kms", region_name=region, endpoint_url=endpoint)
        return creds.access_key, creds.secret_key, creds.token, client.meta.endpoint_url


ENV_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001", "AWS_SECRET_ACCESS_KEY": "envsecret"}


@pytest.mark.parametrize("extra,profile,region,endpoint,expect_key", [
    (ENV_KEYS, "", "us-east-1", None, "AKIAENV0000000000001"),
    ({**ENV_KEYS, "AWS_SESSION_TOKEN": "sess"}, "", "eu-west-1", None, "AKIAENV0000000000001"),
    ({**ENV_KEYS, "AWS_SESSION_TOKEN": "sess", "AWS_SECURITY_TOKEN": "sec"}, "", "us-east-1", None,
     "AKIAENV0000000000001"),
    ({**ENV_KEYS, "AWS_PROFILE": "cfg"}, "", "us-east-1", None, "AKIAENV0000000000001"),  # env wins
    (ENV_KEYS, "cfg", "us-east-1", None, "AKIACONFIG0000000001"),  # an explicit profile wins
    ({}, "both", "us-west-2", None, "AKIAFROMCREDS0000001"),  # credentials file before config
    ({}, "credsonly", "us-east-1", None, "AKIACREDSONLY0000001"),
    ({"AWS_PROFILE": "cfg"}, "", "ap-southeast-2", None, "AKIACONFIG0000000001"),
    ({}, "", "us-east-1", None, "AKIADEFAULT000000001"),
    ({}, "", "cn-north-1", None, "AKIADEFAULT000000001"),
    ({}, "", "us-gov-west-1", None, "AKIADEFAULT000000001"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, "", "us-east-1", None, "AKIADEFAULT000000001"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_KMS": "http://localhost:5000/"},
     "", "us-east-1", None, "AKIADEFAULT000000001"),
    ({"AWS_ENDPOINT_URL_KMS": "http://localhost:5000"}, "", "eu-west-1", "https://kms.example.test",
     "AKIADEFAULT000000001"),  # the per-region override is boto3's endpoint_url: it wins
])
def test_plain_cases_take_the_fast_path_exactly_as_botocore(files, extra, profile, region, endpoint,
                                                            expect_key):
    environ = {**files, **extra}
    got, why = plan(region, profile, "", endpoint, environ)
    assert got is not None, why
    assert got.creds.access_key == expect_key
    theirs = botocore_view(environ, profile, region, endpoint)
    assert (got.creds.access_key, got.creds.secret_key, got.creds.token) == theirs[:3]
    assert got.url == theirs[3].rstrip("/")


@pytest.mark.parametrize("extra,profile,region,role,endpoint,why", [
    (ENV_KEYS, "", "us-east-1", "arn:aws:iam::1:role/r", None, "role"),
    ({}, "role", "us-east-1", "", None, "role_arn"),
    ({}, "sso", "us-east-1", "", None, "sso_"),
    ({}, "proc", "us-east-1", "", None, "credential_process"),
    ({}, "webid", "us-east-1", "", None, "role_arn"),
    ({**ENV_KEYS, "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
     "", "us-east-1", "", None, "AWS_WEB_IDENTITY_TOKEN_FILE"),
    ({}, "fips", "us-east-1", "", None, "use_fips_endpoint"),
    ({**ENV_KEYS, "AWS_USE_FIPS_ENDPOINT": "true"}, "", "us-east-1", "", None, "FIPS"),
    ({**ENV_KEYS, "AWS_USE_DUALSTACK_ENDPOINT": "true"}, "", "us-east-1", "", None, "DUALSTACK"),
    ({}, "ep", "us-east-1", "", None, "endpoint_url"),
    ({}, "half", "us-east-1", "", None, "incomplete"),
    ({"AWS_ACCESS_KEY_ID": "AKIAONLYKEY000000001"}, "", "us-east-1", "", None, "incomplete"),
    ({}, "nosuch", "us-east-1", "", None, "not found"),
    ({"AWS_PROFILE": "nosuch"}, "", "us-east-1", "", None, "not found"),
    ({**ENV_KEYS, "AWS_DEFAULT_PROFILE": "cfg"}, "", "us-east-1", "", None, "AWS_DEFAULT_PROFILE"),
    ({**ENV_KEYS, "HTTPS_PROXY": "http://proxy:3128"}, "", "us-east-1", "", None, "HTTPS_PROXY"),
    ({**ENV_KEYS, "https_proxy": "http://proxy:3128"}, "", "us-east-1", "", None, "https_proxy"),
    (ENV_KEYS, "", "us-iso-east-1", "", None, "partition"),
    (ENV_KEYS, "", "eusc-de-east-1", "", None, "partition"),
    ({**ENV_KEYS, "AWS_ENDPOINT_URL": "http://h:1/prefix"}, "", "us-east-1", "", None, "plain"),
    ({**ENV_KEYS, "AWS_ENDPOINT_URL": "ftp://h"}, "", "us-east-1", "", None, "plain"),
    ({**ENV_KEYS, "SECRETSCTL_KMS_FASTPATH": "off"}, "", "us-east-1", "", None, "off"),
])
def test_everything_else_falls_back(files, extra, profile, region, role, endpoint, why):
    got, reason = plan(region, profile, role, endpoint, {**files, **extra})
    assert got is None and why in reason, reason


def test_ca_bundle_is_honoured_not_a_reason_to_fall_back(files):
    got, why = plan("us-east-1", "", "", None, {**files, **ENV_KEYS, "AWS_CA_BUNDLE": "/etc/ca.pem"})
    assert got is not None and got.ca_bundle == "/etc/ca.pem", why
    assert plan("us-east-1", "", "", None, {**files, **ENV_KEYS})[0].ca_bundle is None
    with_config = Path(files["AWS_CONFIG_FILE"])
    with_config.write_text(with_config.read_text().replace("output = json", "ca_bundle = /x.pem"))
    got, why = plan("us-east-1", "", "", None, {**files, **ENV_KEYS})
    assert got is None and "ca_bundle" in why


def test_no_credentials_anywhere_falls_back(tmp_path):
    """Instance/container credentials are boto3's business."""
    got, reason = plan("us-east-1", "", "", None, {"HOME": str(tmp_path)})
    assert got is None and "no static keys" in reason


def test_unparseable_config_falls_back(files):
    Path(files["AWS_CONFIG_FILE"]).write_text("[default]\nregion = x\n[default]\n")
    got, reason = plan("us-east-1", "", "", None, {**files, **ENV_KEYS})
    assert got is None and "cannot parse" in reason


def test_default_files_under_home(tmp_path):
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(CREDENTIALS)
    got, _ = plan("eu-west-1", "credsonly", "", None, {"HOME": str(tmp_path)})
    assert got is not None and got.creds.access_key == "AKIACREDSONLY0000001"
    assert got.url == "https://kms.eu-west-1.amazonaws.com"
