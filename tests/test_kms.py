"""AWS KMS key source, over HTTP against a real moto_server, with the real sops binary.

Keys live in two regions (us-east-1, eu-west-1) and are created through the
KMS API; the role comes from IAM and is assumed through moto's STS.  Faults
moto can produce are produced by moto (wrong context, missing profile);
the ones it cannot (a disabled key refusing to decrypt, throttling, a
region that accepts TCP and never answers) come from kms_helpers' loopback
proxy and black hole.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import age_recipient
from keyops_helpers import ok
from interop import mask
from kms_helpers import DECRYPT, ENCRYPT, BlackHole, CountingProxy, endpoint_var
from secretsctl import datakey
from secretsctl.errors import ExitCode, IncorrectKeyError, KeySourceError, SecretsctlError
from secretsctl.keysources import key_from_tree
from secretsctl.keysources.base import KeyEnv
from secretsctl.keysources.kms import (KmsKey, TIMEOUT_VAR, make_client, parse_arn_string,
                                       parse_context, session_name)
from secretsctl.tree import from_python, to_python

PLAIN = b"db:\n    user: admin\n    password: hunter2\napi_key: s3cr3t\nlist:\n    - 1\n    - two\n"


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def hole():
    h = BlackHole()
    yield h
    h.close()


def via(env: dict[str, str], proxy: CountingProxy, **extra: str) -> dict[str, str]:
    """``env`` with every AWS call going through the counting proxy."""
    return {**env, "AWS_ENDPOINT_URL": proxy.url, **extra}


def sops_meta(data: bytes) -> dict:
    """The ``sops`` section of an encrypted YAML file as plain data."""
    return YAML(typ="safe", pure=True).load(data)["sops"]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


_B64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")


def mask_kms(data: bytes) -> list[str]:
    """interop.mask() plus the KMS ``enc`` base64 (random; its length is kept)."""
    return [_B64.sub(lambda m: f"<B64 len={len(m.group(0))}>", line) for line in mask(data)]


# ------------------------------------------------------------------ interop

def test_sops_encrypts_two_regions_with_context_secretsctl_decrypts(world, aws_env, tmp_path, sops, cli):
    src = write(tmp_path, "s.yaml", PLAIN)
    enc = ok(sops(["encrypt", "--kms", f"{world.k1}, {world.k2}", "--encryption-context",
                   "app:web,env:prod", str(src)], env=aws_env, cwd=tmp_path))
    kms = sops_meta(enc)["kms"]
    assert [e["arn"] for e in kms] == [world.k1, world.k2]
    assert all(e["context"] == {"app": "web", "env": "prod"} for e in kms)
    f = write(tmp_path, "enc.yaml", enc)
    ours = ok(cli(["decrypt", str(f)], env=aws_env, cwd=tmp_path))
    assert ours == ok(sops(["decrypt", str(f)], env=aws_env, cwd=tmp_path)) == PLAIN
    # First ARN names a key that does not exist in eu-west-1 -> NotFound, then k2 works.
    only2 = enc.replace(world.k1.encode(), world.k1.replace("us-east-1", "eu-west-1").encode())
    f2 = write(tmp_path, "only2.yaml", only2)
    assert ok(cli(["decrypt", str(f2)], env=aws_env, cwd=tmp_path)) == PLAIN


def test_secretsctl_encrypts_alias_with_context_sops_decrypts(world, aws_env, tmp_path, sops, cli, proxy):
    src = write(tmp_path, "s.yaml", PLAIN)
    enc = ok(cli(["encrypt", "--kms", world.alias, "--encryption-context", "team:infra,app:web",
                  str(src)], env=via(aws_env, proxy), cwd=tmp_path))
    (entry,) = sops_meta(enc)["kms"]
    assert entry["arn"] == world.alias
    assert list(entry["context"]) == ["app", "team"]  # sorted, as sops writes it
    assert entry["aws_profile"] == "" and "role" not in entry
    assert [s.key_id for s in proxy.of(ENCRYPT)] == [world.alias]
    f = write(tmp_path, "enc.yaml", enc)
    assert ok(sops(["decrypt", str(f)], env=aws_env, cwd=tmp_path)) == PLAIN
    assert ok(cli(["decrypt", str(f)], env=aws_env, cwd=tmp_path)) == PLAIN


@pytest.mark.parametrize("fmt,name,plain", [
    ("yaml", "x.yaml", PLAIN),
    ("json", "x.json", b'{\n\t"a": "b",\n\t"n": [1, 2]\n}\n'),
    ("dotenv", "x.env", b"A=b\nN=2\n"),
])
def test_kms_entry_layout_equals_sops(fmt, name, plain, world, aws_env, tmp_path, sops, cli):
    src = write(tmp_path, name, plain)
    args = ["encrypt", "--kms", f"{world.k1}+{world.role},{world.k2}", "--aws-profile", "prof",
            "--encryption-context", "z:last,a:first", str(src)]
    theirs = ok(sops(args, env=aws_env, cwd=tmp_path))
    ours = ok(cli(args, env=aws_env, cwd=tmp_path))
    assert mask_kms(ours) == mask_kms(theirs)
    assert b"aws_profile" in ours and world.role.encode() in ours


# ------------------------------------------------------------------ fallback and failures

def test_disabled_first_key_falls_back_to_second(world, aws_env, tmp_path, cli, proxy):
    a, b = world.new_key("us-east-1"), world.new_key("eu-west-1")
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", f"{a},{b}", str(src)], env=aws_env)))
    world.disable(a)
    assert ok(cli(["decrypt", str(f)], env=via(aws_env, proxy))) == PLAIN
    tried = proxy.of(DECRYPT)
    assert [(s.key_id, s.error) for s in tried] == [(a, "DisabledException"), (b, "")]
    world.disable(b)
    proxy.reset()
    res = cli(["decrypt", str(f)], env=via(aws_env, proxy))
    assert res.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    err = res.stderr.decode()
    assert f"{a}: FAILED" in err and f"{b}: FAILED" in err
    assert err.count("DisabledException (KMS key is disabled)") == 2
    assert proxy.count(DECRYPT) == 2  # a disabled key is not retried


def test_wrong_encryption_context_reports_every_key(world, aws_env, tmp_path, cli):
    src = write(tmp_path, "s.yaml", PLAIN)
    enc = ok(cli(["encrypt", "--kms", f"{world.k1},{world.k2}", "--encryption-context", "app:web",
                  str(src)], env=aws_env))
    # The context is stored in clear next to each key (not covered by the MAC).
    bad = enc.replace(b"app: web", b"app: evil")
    assert bad.count(b"app: evil") == 2
    f = write(tmp_path, "bad.yaml", bad)
    res = cli(["decrypt", str(f)], env=aws_env)
    assert res.returncode == 128 and res.stdout == b""
    err = res.stderr.decode()
    for arn in (world.k1, world.k2):
        assert f"{arn}: FAILED" in err
    assert err.count("InvalidCiphertextException (wrong encryption context?)") == 2
    for entry in sops_meta(enc)["kms"]:  # no wrapped key in the message
        assert entry["enc"][:24] not in err
    assert b"hunter2" not in res.stderr


def test_unreachable_region_falls_back_within_timeout(world, aws_env, tmp_path, cli, proxy, hole):
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml",
              ok(cli(["encrypt", "--kms", f"{world.k1},{world.k2}", str(src)], env=aws_env)))
    env = via(aws_env, proxy, **{endpoint_var("us-east-1"): hole.url})
    start = time.monotonic()
    out = cli(["decrypt", "--kms-timeout", "1", str(f)], env=env)
    elapsed = time.monotonic() - start
    assert ok(out) == PLAIN
    assert hole.accepted == 1  # us-east-1 was tried once (a timeout is not retried) ...
    assert [s.key_id for s in proxy.of(DECRYPT)] == [world.k2]  # ... then eu-west-1 answered
    assert elapsed < 20, elapsed  # sops waits for minutes here
    # Both regions dark, timeout from the environment: 128 and a report naming the cause.
    env[endpoint_var("eu-west-1")] = hole.url
    env[TIMEOUT_VAR] = "1"
    res = cli(["decrypt", str(f)], env=env)
    assert res.returncode == 128
    err = res.stderr.decode()
    assert err.count("timed out after 1s") == 2, err
    assert f"{world.k1}: FAILED" in err and f"{world.k2}: FAILED" in err


def test_one_decrypt_per_file_operation(world, aws_env, tmp_path, cli, proxy):
    src = write(tmp_path, "s.yaml", PLAIN)
    env = via(aws_env, proxy)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", f"{world.k1},{world.k2}", str(src)], env=env)))
    assert (proxy.count(ENCRYPT), proxy.count(DECRYPT)) == (2, 0)  # one wrap per key
    proxy.reset()
    assert ok(cli(["decrypt", str(f)], env=env)) == PLAIN
    assert proxy.count(DECRYPT) == 1
    assert ok(cli(["decrypt", "--extract", '["db"]["password"]', str(f)], env=env)) == b"hunter2"
    assert proxy.count(DECRYPT) == 2
    assert len(proxy.seen) == 2  # nothing else (no DescribeKey, no STS)
    proxy.reset()
    out = ok(cli(["exec-env", "--vars", "api_key", str(f), 'printf %s "$api_key"'], env=env))
    assert out == b"s3cr3t" and proxy.count(DECRYPT) == 1
    assert ok(cli(["exec-file", str(f), "grep -c hunter2 {}"], env=env)) == b"1\n"
    assert proxy.count(DECRYPT) == 2
    # edit and set keep the data key: one Decrypt, no Encrypt at all.
    ok(cli(["edit", str(f)], env=dict(env, EDITOR="sed -i s/hunter2/hunter3/")))
    assert (proxy.count(DECRYPT), proxy.count(ENCRYPT)) == (3, 0)
    ok(cli(["set", str(f), '["api_key"]', '"new"'], env=env))
    assert (proxy.count(DECRYPT), proxy.count(ENCRYPT)) == (4, 0)
    assert b"hunter3" in ok(cli(["decrypt", str(f)], env=env))


def test_throttling_is_retried_with_backoff_then_reported(world, aws_env, tmp_path, cli, proxy):
    src = write(tmp_path, "s.yaml", PLAIN)
    env = via(aws_env, proxy)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", world.k1, str(src)], env=env)))
    proxy.reset()
    proxy.throttle = 2
    assert ok(cli(["decrypt", str(f)], env=env)) == PLAIN
    assert [s.error for s in proxy.of(DECRYPT)] == ["ThrottlingException"] * 2 + [""]
    proxy.reset()
    proxy.throttle = 5
    res = cli(["decrypt", str(f)], env=env)
    assert res.returncode == 128
    assert "ThrottlingException (Rate exceeded) after 3 attempts" in res.stderr.decode()
    assert proxy.count(DECRYPT) == 3  # bounded


def test_role_is_assumed_through_sts(world, aws_env, tmp_path, cli, sops, proxy):
    src = write(tmp_path, "s.yaml", PLAIN)
    env = via(aws_env, proxy)
    enc = ok(cli(["encrypt", "--kms", f"{world.k1} + {world.role}", str(src)], env=env))
    (entry,) = sops_meta(enc)["kms"]
    assert (entry["arn"], entry["role"]) == (world.k1, world.role)
    (assume,) = proxy.of("AssumeRole")
    assert assume.session_name == session_name() and assume.session_name.startswith("sops@")
    # KMS was called with the temporary credentials, not the caller's own.
    assert proxy.of(ENCRYPT)[0].access_key not in ("", "testing")
    proxy.reset()
    f = write(tmp_path, "enc.yaml", enc)
    assert ok(cli(["decrypt", str(f)], env=env)) == PLAIN
    assert proxy.count("AssumeRole") == 1 and proxy.count(DECRYPT) == 1
    assert proxy.of(DECRYPT)[0].access_key != "testing"
    assert ok(sops(["decrypt", str(f)], env=aws_env)) == PLAIN


def test_aws_profile_flag_and_config(world, aws_env, tmp_path, cli, sops, proxy):
    env = via(aws_env, proxy)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]  # only the profile has credentials
    src = write(tmp_path, "s.yaml", PLAIN)
    enc = ok(cli(["encrypt", "--kms", world.k1, "--aws-profile", "prof", str(src)], env=env))
    assert sops_meta(enc)["kms"][0]["aws_profile"] == "prof"
    assert proxy.of(ENCRYPT)[0].access_key == "AKIAPROFILE000000001"
    f = write(tmp_path, "enc.yaml", enc)
    assert ok(cli(["decrypt", str(f)], env=env)) == PLAIN
    assert ok(sops(["decrypt", str(f)], env=env)) == PLAIN
    # aws_profile in a creation rule
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - kms: {world.k2}\n    aws_profile: prof\n")
    enc2 = ok(cli(["encrypt", str(src)], env=env, cwd=tmp_path))
    assert [(e["arn"], e["aws_profile"]) for e in sops_meta(enc2)["kms"]] == [(world.k2, "prof")]
    # Without the profile the key fails with a clear reason.
    gone = dict(env, AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    res = cli(["decrypt", str(f)], env=gone)
    assert res.returncode == 128
    assert "AWS profile 'prof' not found" in res.stderr.decode()


def test_kms_keys_in_sops_yaml(world, aws_env, tmp_path, cli, sops):
    (tmp_path / ".sops.yaml").write_text(f"""\
creation_rules:
  - path_regex: str\\.yaml$
    kms: "{world.k1}+{world.role}, {world.k2}"
  - path_regex: list\\.yaml$
    kms: ["{world.k1}", "{world.alias}"]
  - path_regex: groups\\.yaml$
    key_groups:
      - kms:
          - arn: {world.k1}
            role: {world.role}
            context: {{team: infra, app: web}}
            aws_profile: prof
          - arn: {world.k2}
      - age: ["{age_recipient(1)}"]
    shamir_threshold: 2
""")
    expect = {
        "str.yaml": [(world.k1, world.role, None, ""), (world.k2, None, None, "")],
        "list.yaml": [(world.k1, None, None, ""), (world.alias, None, None, "")],
    }
    for name in ("str.yaml", "list.yaml", "groups.yaml"):
        write(tmp_path, name, PLAIN)
        ours = ok(cli(["encrypt", name], env=aws_env, cwd=tmp_path))
        meta = sops_meta(ours)
        if name == "groups.yaml":
            assert meta["key_groups"][0]["kms"][0]["context"] == {"app": "web", "team": "infra"}
            assert meta["key_groups"][0]["kms"][0]["role"] == world.role
            assert meta["key_groups"][0]["kms"][0]["aws_profile"] == "prof"
            assert meta["key_groups"][1]["age"][0]["recipient"] == age_recipient(1)
            theirs = ok(sops(["encrypt", name], env=aws_env, cwd=tmp_path))
            assert mask_kms(ours) == mask_kms(theirs)
        else:
            got = [(e["arn"], e.get("role"), e.get("context"), e["aws_profile"]) for e in meta["kms"]]
            assert got == expect[name]
        enc = write(tmp_path, "enc-" + name, ours)
        assert ok(sops(["decrypt", enc.name], env=aws_env, cwd=tmp_path)) == PLAIN
        assert ok(cli(["decrypt", enc.name], env=aws_env, cwd=tmp_path)) == PLAIN


def test_decryption_order(world, aws_env, tmp_path, cli, proxy):
    env = via(aws_env, proxy)
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--age", age_recipient(1), "--kms", world.k1,
                                            str(src)], env=env)))
    proxy.reset()
    assert ok(cli(["decrypt", str(f)], env=env)) == PLAIN
    assert proxy.count(DECRYPT) == 0  # offline keys first by default
    assert ok(cli(["decrypt", "--decryption-order", "kms,age", str(f)], env=env)) == PLAIN
    assert proxy.count(DECRYPT) == 1
    assert ok(cli(["decrypt", str(f)], env=dict(env, SOPS_DECRYPTION_ORDER="kms"))) == PLAIN
    assert proxy.count(DECRYPT) == 2
    no_age = {k: v for k, v in env.items() if k != "SOPS_AGE_KEY_FILE"}
    assert ok(cli(["decrypt", str(f)], env=no_age)) == PLAIN  # age fails -> kms
    assert proxy.count(DECRYPT) == 3


def test_bad_encryption_context_and_arn(world, aws_env, tmp_path, cli, sops):
    src = write(tmp_path, "s.yaml", PLAIN)
    for ctx in ("a:b,c", "a:b:c", "novalue"):
        res = cli(["encrypt", "--kms", world.k1, "--encryption-context", ctx, str(src)], env=aws_env)
        assert res.returncode == ExitCode.INVALID_KMS_CONTEXT, res.stderr
        assert b"Invalid KMS encryption context format" in res.stderr
    theirs = sops(["encrypt", "--kms", world.k1, "--encryption-context", "a:b,c", str(src)], env=aws_env)
    assert theirs.returncode == ExitCode.INVALID_KMS_CONTEXT
    res = cli(["encrypt", "--kms", "arn:aws:kms:nowhere", str(src)], env=aws_env)
    assert res.returncode == 1 and b"no valid KMS ARN" in res.stderr
    res = cli(["decrypt", "--kms-timeout", "0", str(src)], env=aws_env)
    assert res.returncode == 1  # a usage error (as sops exits on one): the timeout must be positive


def test_no_boto3_import_without_kms_keys(tmp_path, base_env, cli):
    code = f"""
import sys
import secretsctl.cli
from secretsctl import api
from secretsctl.config import KeySpec
opts = api.EncryptOptions(key_groups=[[KeySpec("age", {age_recipient(1)!r})]])
enc = api.encrypt_data(b"a: 1\\n", filename="x.yaml", options=opts)
assert api.decrypt_data(enc, filename="x.yaml").data() == {{"a": 1}}
print(sorted(m for m in ("boto3", "botocore") if m in sys.modules))
"""
    res = subprocess.run([sys.executable, "-c", code], env=base_env, capture_output=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == b"[]"
    # The CLI path too, seen through -X importtime.
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--age", age_recipient(1), str(src)])))
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "secretsctl", "decrypt", str(f)],
                         env=base_env, capture_output=True)
    assert res.returncode == 0 and res.stdout == PLAIN
    imported = res.stderr.decode()
    assert "secretsctl.keysources.age" in imported  # the check can see our modules ...
    assert "boto3" not in imported and "botocore" not in imported  # ... and no boto


# ------------------------------------------------------------------ in-process: caching

@pytest.fixture
def aws_process_env(aws_env, monkeypatch):
    """boto3 reads the process environment: mirror aws_env into os.environ."""
    for k, v in aws_env.items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    return aws_env


def test_one_client_per_spec_across_threads(world, aws_process_env, proxy, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    made: list = []
    lock = threading.Lock()

    def counting_factory(spec, env):
        with lock:
            made.append(spec)
        return make_client(spec, env)

    env = KeyEnv(environ=dict(os.environ))
    key = KmsKey(world.k2)
    key.client_factory = counting_factory
    key.encrypt(b"k" * 32, env)
    entry = key.to_tree()
    errors: list = []

    def work():
        try:
            k = key_from_tree("kms", entry)
            k.client_factory = counting_factory
            assert k.decrypt(env) == b"k" * 32
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(made) == 1 and made[0].region == "eu-west-1"
    assert proxy.count(DECRYPT) == 6


def test_dead_endpoint_is_remembered_for_the_run(world, aws_process_env, proxy, hole, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    setup = KeyEnv(environ=dict(os.environ))
    files = []
    for n in range(2):  # two "files", two data keys, both wrapped by k1 then k2
        group = [KmsKey(world.k1), KmsKey(world.k2)]
        datakey.wrap(bytes([n]) * 32, [group], 0, setup)
        files.append([key_from_tree("kms", k.to_tree()) for k in group])
    env = KeyEnv(environ={**os.environ, endpoint_var("us-east-1"): hole.url, TIMEOUT_VAR: "1"})
    proxy.reset()
    with pytest.raises(IncorrectKeyError, match=r"timed out after 1s \(http://127\.0\.0\.1:\d+\)"):
        files[0][0].decrypt(env)
    start = time.monotonic()
    with pytest.raises(IncorrectKeyError, match="skipped: timed out after 1s .* earlier in this run"):
        files[1][0].decrypt(env)
    assert time.monotonic() - start < 0.5
    assert [datakey.unwrap([f], 0, env) for f in files] == [b"\0" * 32, b"\1" * 32]
    assert hole.accepted == 1
    assert proxy.count(DECRYPT) == 2  # only k2, once per file


# ------------------------------------------------------------------ parsing and layout

def test_parse_arn_string_and_context():
    k, r = "arn:aws:kms:eu-west-1:1:key/x", "arn:aws:iam::1:role/r"
    assert parse_arn_string(f" {k} + {r} ") == (k, r)
    assert parse_arn_string(k) == (k, "")
    keys = KmsKey.from_string(f"{k}+{r}, {k.replace('x', 'y')}", aws_profile="p", context="b:2,a:1")
    assert [(x.arn, x.role, x.aws_profile, x.context) for x in keys] == [
        (k, r, "p", {"b": "2", "a": "1"}), (k.replace("x", "y"), "", "p", {"b": "2", "a": "1"})]
    assert parse_context("") == {} and parse_context("a:") == {"a": ""}
    with pytest.raises(SecretsctlError) as e:
        parse_context("a:b,c")
    assert e.value.exit_code == ExitCode.INVALID_KMS_CONTEXT
    with pytest.raises(KeySourceError, match="no valid KMS ARN"):
        KmsKey.from_string("arn:aws:kms:us-east-1:1:nokey/x")
    assert KmsKey.from_string("arn:aws-cn:kms:cn-north-1:1:alias/a")[0].arn.startswith("arn:aws-cn")


def test_session_name_is_sanitised_and_truncated():
    assert session_name("my host!.example.com") == "sops@myhost.example.com"
    assert len(session_name("h" * 100)) == 64


def test_entry_layout_and_round_trip():
    entry = from_python({"arn": "arn:aws:kms:us-east-1:1:key/x", "role": "arn:aws:iam::1:role/r",
                         "context": {"z": "1", "a": "2"}, "created_at": "2024-01-01T00:00:00Z",
                         "enc": "QUJD", "aws_profile": "p", "future": "kept"})
    key = key_from_tree("kms", entry)
    assert isinstance(key, KmsKey)
    tree = key.to_tree()
    assert tree.keys() == ["arn", "role", "context", "created_at", "enc", "aws_profile", "future"]
    assert list(to_python(tree)["context"]) == ["a", "z"]
    bare = KmsKey("arn:aws:kms:us-east-1:1:key/x").to_tree()
    assert bare.keys() == ["arn", "created_at", "enc", "aws_profile"]
    # An odd entry is still readable; only using it fails, as "try the next key".
    odd = key_from_tree("kms", from_python({"arn": "nope", "enc": "QUJD"}))
    with pytest.raises(IncorrectKeyError, match="no valid KMS ARN"):
        odd.decrypt(KeyEnv(environ={}))
    with pytest.raises(IncorrectKeyError, match="not valid base64"):
        key_from_tree("kms", from_python({"arn": "x", "enc": "%%%"})).decrypt(KeyEnv(environ={}))


def test_show_master_keys_edit_of_kms_context_rewraps(world, aws_env, tmp_path, sops, cli):
    """Adding a context to a KMS key under `edit -s` re-wraps for it (not silently dropped)."""
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", world.k1, str(src)], env=aws_env)))
    editor = tmp_path / "ed.py"
    editor.write_text("import sys\nt = open(sys.argv[-1]).read()\n"
                      "t = t.replace('          created_at:', '          context:\\n"
                      "            team: infra\\n          created_at:', 1)\n"
                      "open(sys.argv[-1], 'w').write(t)\n")
    res = cli(["edit", "-s", str(f)], env={**aws_env, "EDITOR": f"{sys.executable} {editor}"})
    assert res.returncode == 0, res.stderr
    (entry,) = sops_meta(f.read_bytes())["kms"]
    assert entry["context"] == {"team": "infra"}
    # The new wrap is bound to the context: sops (sending it) decrypts.
    assert ok(sops(["decrypt", str(f)], env=aws_env)) == PLAIN
