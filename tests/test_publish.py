"""``publish`` to S3 (moto_server over HTTP), side by side with the real sops 3.11 binary.

The source files are encrypted for age key 1; the destination rule's
``recreation_rule`` names age key 2.  Objects are fetched back from moto and
decrypted with the real sops binary: key 2 opens them, key 1 no longer does.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import KEYS, age_recipient
from kms_helpers import aws_client

PLAIN = "a: 1\nb_unencrypted: plain\nnested:\n    c: secret\n"


@pytest.fixture
def s3(moto_url):
    return aws_client("s3", "us-east-1", moto_url)


@pytest.fixture
def bucket(s3) -> str:
    name = f"pub-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def objects(s3, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def write_config(root: Path, bucket: str, extra: str = "", recreation: str | None = None) -> None:
    keys = f"      age: {age_recipient(2)}\n" if recreation is None else recreation
    rule = "    recreation_rule:\n" + keys if keys else ""
    (root / ".sops.yaml").write_text(
        "destination_rules:\n"
        f"  - path_regex: ^(\\./)?tree/\n    s3_bucket: {bucket}\n    s3_prefix: pre/\n{extra}{rule}")


@pytest.fixture
def tree(cli, tmp_path: Path) -> Path:
    """tree/one.yaml, tree/sub/two.json, tree/sub/three.env: encrypted for age key 1."""
    plain = {"one.yaml": PLAIN, "sub/two.json": '{"k": "v", "n": [1, 2]}\n',
             "sub/three.env": "TOKEN=abc\n"}
    for name, text in plain.items():
        src = tmp_path / ("plain-" + name.replace("/", "-"))
        src.write_text(text)
        res = cli(["encrypt", "--age", age_recipient(1), "--filename-override", name, str(src)])
        assert res.returncode == 0, res.stderr
        target = tmp_path / "tree" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(res.stdout)
    return tmp_path / "tree"


def decrypt_with_sops(sops, aws_env, tmp_path: Path, name: str, body: bytes, key: int = 2):
    f = tmp_path / f"fetched-{uuid.uuid4().hex[:6]}-{Path(name).name}"
    f.write_bytes(body)
    return sops(["decrypt", str(f)], env=dict(aws_env, SOPS_AGE_KEY_FILE=str(KEYS / f"age-test-{key}.txt")))


def test_publish_one_file(cli, sops, aws_env, s3, bucket, tree, tmp_path):
    write_config(tmp_path, bucket)
    res = cli(["publish", "-y", "tree/one.yaml"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # sops's key change listing (stdout), then our one-line note (stderr).
    assert res.stdout.decode().splitlines() == [
        "The following changes will be made to the file's key groups:", "Group 1",
        f"+++ {age_recipient(2)}", f"--- {age_recipient(1)}"]
    got = objects(s3, bucket)
    assert list(got) == ["pre/one.yaml"]
    body = got["pre/one.yaml"].decode()
    # The recreation rule's key only, a fresh data key; _unencrypted values stay plain.
    assert age_recipient(2) in body and age_recipient(1) not in body
    assert "b_unencrypted: plain\n" in body and "unencrypted_suffix: _unencrypted" in body
    plain = decrypt_with_sops(sops, aws_env, tmp_path, "one.yaml", got["pre/one.yaml"])
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.decode() == PLAIN
    assert decrypt_with_sops(sops, aws_env, tmp_path, "one.yaml", got["pre/one.yaml"], key=1).returncode == 128


def test_publish_recursive_like_sops(cli, sops, aws_env, s3, bucket, tree, tmp_path):
    # The real sops publishes the same tree to a second bucket: same object names, same plaintext.
    write_config(tmp_path, bucket)
    res = cli(["publish", "-y", "--recursive", "tree"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ours = objects(s3, bucket)
    theirs_bucket = bucket + "-sops"
    s3.create_bucket(Bucket=theirs_bucket)
    write_config(tmp_path, theirs_bucket)
    res = sops(["publish", "-y", "--recursive", "tree"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    theirs = objects(s3, theirs_bucket)
    assert sorted(ours) == sorted(theirs) == ["pre/one.yaml", "pre/sub/three.env", "pre/sub/two.json"]
    for name in ours:
        if name.endswith(".yaml"):
            continue  # sops 3.11 writes a YAML file with _unencrypted keys that fails its MAC
        mine = decrypt_with_sops(sops, aws_env, tmp_path, name, ours[name])
        other = decrypt_with_sops(sops, aws_env, tmp_path, name, theirs[name])
        assert mine.returncode == other.returncode == 0, mine.stderr + other.stderr
        assert mine.stdout == other.stdout


@pytest.mark.parametrize("how", ["flag", "rule"])
def test_omit_extensions(cli, sops, aws_env, s3, bucket, tree, tmp_path, how):
    write_config(tmp_path, bucket, extra="    omit_extensions: true\n" if how == "rule" else "")
    flags = ["--omit-extensions"] if how == "flag" else []
    res = cli(["publish", "-y", "--recursive", *flags, "tree"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ours = sorted(objects(s3, bucket))
    assert ours == ["pre/one", "pre/sub/three", "pre/sub/two"]
    other = bucket + "-sops"
    s3.create_bucket(Bucket=other)
    write_config(tmp_path, other, extra="    omit_extensions: true\n" if how == "rule" else "")
    assert sops(["publish", "-y", "--recursive", *flags, "tree"], env=aws_env, cwd=tmp_path).returncode == 0
    assert sorted(objects(s3, other)) == ours


def test_without_recreation_keys_the_file_is_uploaded_unchanged(cli, aws_env, s3, bucket, tree, tmp_path):
    write_config(tmp_path, bucket, recreation="")
    res = cli(["publish", "-y", "tree/sub/two.json"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b""  # no key changes to show
    assert objects(s3, bucket) == {"pre/two.json": (tree / "sub" / "two.json").read_bytes()}


def test_recreation_key_groups(cli, sops, aws_env, s3, bucket, tree, tmp_path):
    groups = (f"      key_groups:\n        - age: [{age_recipient(1)}]\n"
              f"        - age: [{age_recipient(2)}]\n")
    write_config(tmp_path, bucket, recreation=groups)
    assert cli(["publish", "-y", "tree/one.yaml"], env=aws_env, cwd=tmp_path).returncode == 0
    body = objects(s3, bucket)["pre/one.yaml"]
    # Two groups: the implied threshold (both needed) is written, as sops does.
    assert b"shamir_threshold: 2\n" in body and body.count(b"recipient: age1") == 2
    both = tmp_path / "both-keys.txt"
    both.write_text((KEYS / "age-test-1.txt").read_text() + (KEYS / "age-test-2.txt").read_text())
    f = tmp_path / "fetched.yaml"
    f.write_bytes(body)
    res = sops(["decrypt", str(f)], env=dict(aws_env, SOPS_AGE_KEY_FILE=str(both)))
    assert res.returncode == 0 and res.stdout.decode() == PLAIN
    assert decrypt_with_sops(sops, aws_env, tmp_path, "one.yaml", body, key=2).returncode != 0


@pytest.mark.parametrize("answer,code,uploaded", [(b"y\n", 0, True), (b"maybe\ny\n", 0, True),
                                                  (b"n\n", 1, False), (b"", 1, False)])
def test_confirmation_without_yes(cli, sops, aws_env, s3, bucket, tree, tmp_path, answer, code, uploaded):
    write_config(tmp_path, bucket)
    res = cli(["publish", "tree/one.yaml"], input=answer, env=aws_env, cwd=tmp_path)
    prompt = f"uploading {tree / 'one.yaml'} to s3://{bucket}/pre/one.yaml ? (y/n): "
    assert prompt in res.stdout.decode()
    assert res.returncode == code, res.stderr
    assert bool(objects(s3, bucket)) is uploaded
    if not uploaded:
        assert res.stderr.count(b"\n") == 1
        assert (b"canceled" if answer else b"pass -y") in res.stderr
        theirs = sops(["publish", "tree/one.yaml"], input=answer, env=aws_env, cwd=tmp_path)
        assert theirs.returncode == code and not objects(s3, bucket)


def test_recursive_no_answer_skips_that_file(cli, aws_env, s3, bucket, tree, tmp_path):
    write_config(tmp_path, bucket)
    res = cli(["publish", "--recursive", "tree"], input=b"n\ny\ny\n", env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"Publication of {tree / 'one.yaml'} canceled" in res.stdout.decode()
    assert sorted(objects(s3, bucket)) == ["pre/sub/three.env", "pre/sub/two.json"]


@pytest.mark.parametrize("dest,label", [("gcs_bucket: g\n    gcs_prefix: p/", "GCS (gcs_bucket)"),
                                        ("vault_path: secret/x\n    vault_address: http://127.0.0.1:1",
                                         "Vault (vault_path)")])
def test_gcs_and_vault_are_not_supported(cli, aws_env, tree, tmp_path, dest, label):
    (tmp_path / ".sops.yaml").write_text(f"destination_rules:\n  - path_regex: tree/\n    {dest}\n")
    res = cli(["publish", "-y", "tree/one.yaml"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == b""
    err = res.stderr.decode()
    assert err.count("\n") == 1 and f"destination_rules[0]: {label} destinations are not supported" in err


def test_errors_match_sops_exit_codes(cli, sops, aws_env, s3, bucket, tree, tmp_path):
    write_config(tmp_path, bucket)
    cases = [[], ["tree"], ["plain-one.yaml"], ["missing.yaml"]]
    (tmp_path / "elsewhere.yaml").write_bytes((tree / "one.yaml").read_bytes())
    cases.append(["elsewhere.yaml"])  # no matching destination rule
    (tree / "plain.yaml").write_text("a: 1\n")
    cases.append(["tree/plain.yaml"])  # not a sops file
    for args in cases:
        ours = cli(["publish", "-y", *args], env=aws_env, cwd=tmp_path)
        theirs = sops(["publish", "-y", *args], env=aws_env, cwd=tmp_path)
        assert ours.returncode == theirs.returncode != 0, (args, ours.stderr, theirs.stderr)
        assert ours.stderr.count(b"\n") == 1 and b"Traceback" not in ours.stderr
    assert objects(s3, bucket) == {}


def test_a_bad_file_in_the_tree_uploads_nothing(cli, aws_env, s3, bucket, tree, tmp_path):
    (tree / "sub" / "zz-not-sops.yaml").write_text("a: 1\n")
    write_config(tmp_path, bucket)
    res = cli(["publish", "-y", "--recursive", "tree"], env=aws_env, cwd=tmp_path)
    assert res.returncode != 0 and b"zz-not-sops.yaml" in res.stderr
    assert objects(s3, bucket) == {}


def test_missing_bucket_is_one_line(cli, aws_env, tree, tmp_path):
    write_config(tmp_path, f"no-such-{uuid.uuid4().hex[:8]}")
    res = cli(["publish", "-y", "tree/one.yaml"], env=aws_env, cwd=tmp_path)
    assert res.returncode == 1
    last = res.stderr.decode().splitlines()[-1]
    assert last.startswith("secretsctl: error: tree/one.yaml: cannot upload to s3://no-such-")
    assert "NoSuchBucket" in last


@pytest.mark.parametrize("where", ["global", "subcommand"])
def test_config_flag(cli, aws_env, s3, bucket, tree, tmp_path, where):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    write_config(conf_dir, bucket)
    conf = ["--config", str(conf_dir / ".sops.yaml")]
    args = [*conf, "publish", "-y", "tree/one.yaml"] if where == "global" else \
        ["publish", *conf, "-y", "tree/one.yaml"]
    res = cli(args, env=aws_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert list(objects(s3, bucket)) == ["pre/one.yaml"]
