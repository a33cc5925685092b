"""Both directions against the real sops 3.11 binary, for every store and key setup.

* we encrypt -> sops decrypts to exactly what we decrypt to (bytes), and the
  encrypted file has sops's exact layout (masked for randomness);
* sops encrypts -> we decrypt to exactly sops's decrypt output (bytes).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import age_recipient, pgp_fpr
from interop import SAMPLES, SUFFIX, mask

FORMATS = list(SAMPLES)


def _key_setups():
    return {
        "age": ["--age", age_recipient(1)],
        "age-multi": ["--age", f"{age_recipient(2)},{age_recipient(1)}"],
        "pgp": ["--pgp", pgp_fpr(1)],
        "age+pgp": ["--age", age_recipient(2), "--pgp", pgp_fpr(1)],
    }


@pytest.fixture
def env(base_env, gnupg_home):
    e = dict(base_env)
    e["GNUPGHOME"] = gnupg_home
    return e


def _write(tmp_path: Path, fmt: str, data: bytes, stem: str = "plain") -> Path:
    p = tmp_path / f"{stem}.{SUFFIX[fmt]}"
    p.write_bytes(data)
    return p


def _ok(proc, what: str) -> bytes:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}): {proc.stderr.decode()}"
    return proc.stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keys", ["age", "age-multi", "pgp", "age+pgp"])
def test_we_encrypt_sops_decrypts(fmt, keys, tmp_path, cli, sops, env):
    src = _write(tmp_path, fmt, SAMPLES[fmt])
    enc = _ok(cli(["encrypt", *_key_setups()[keys], str(src)], env=env), "secretsctl encrypt")
    enc_file = _write(tmp_path, fmt, enc, "enc")
    ours = _ok(cli(["decrypt", str(enc_file)], env=env), "secretsctl decrypt")
    theirs = _ok(sops(["decrypt", str(enc_file)], env=env), "sops decrypt")
    assert ours == theirs
    # The layout is sops's own: sops encrypting the same input gives the same file, masked.
    sops_enc = _ok(sops(["encrypt", *_key_setups()[keys], str(src)], env=env), "sops encrypt")
    assert mask(enc) == mask(sops_enc)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keys", ["age", "pgp", "age+pgp"])
def test_sops_encrypts_we_decrypt(fmt, keys, tmp_path, cli, sops, env):
    src = _write(tmp_path, fmt, SAMPLES[fmt])
    enc = _ok(sops(["encrypt", *_key_setups()[keys], str(src)], env=env), "sops encrypt")
    enc_file = _write(tmp_path, fmt, enc, "enc")
    theirs = _ok(sops(["decrypt", str(enc_file)], env=env), "sops decrypt")
    ours = _ok(cli(["decrypt", str(enc_file)], env=env), "secretsctl decrypt")
    assert ours == theirs


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("out", ["yaml", "json", "dotenv"])
def test_output_type_conversion_matches_sops(fmt, out, tmp_path, cli, sops, env):
    flat = {"yaml": b"a: 1\nb: 2.5\nc: true\nd: text\ne: null\nf: 1e+21\n",
            "json": b'{"a": 1, "b": 2.5, "c": true, "d": "text", "f": 1e21}'}[fmt]
    src = _write(tmp_path, fmt, flat)
    enc = _ok(sops(["encrypt", "--age", age_recipient(1), str(src)], env=env), "sops encrypt")
    enc_file = _write(tmp_path, fmt, enc, "enc")
    theirs = sops(["decrypt", "--output-type", out, str(enc_file)], env=env)
    ours = cli(["decrypt", "--output-type", out, str(enc_file)], env=env)
    assert ours.returncode == (0 if theirs.returncode == 0 else ours.returncode)
    if theirs.returncode == 0:
        assert ours.stdout == theirs.stdout


SHAMIR_CONFIG = """creation_rules:
  - path_regex: ''
    shamir_threshold: {t}
    key_groups:
      - age: ['{a1}']
      - age: ['{a2}']
      - pgp: ['{p1}']
"""


@pytest.mark.parametrize("threshold", [2, 3])
@pytest.mark.parametrize("writer", ["secretsctl", "sops"])
def test_shamir_key_groups_both_ways(threshold, writer, tmp_path, cli, sops, env):
    (tmp_path / ".sops.yaml").write_text(SHAMIR_CONFIG.format(
        t=threshold, a1=age_recipient(1), a2=age_recipient(2), p1=pgp_fpr(1)))
    src = _write(tmp_path, "yaml", SAMPLES["yaml"])
    run = cli if writer == "secretsctl" else sops
    enc = _ok(run(["encrypt", str(src)], env=env, cwd=tmp_path), f"{writer} encrypt")
    assert b"key_groups:" in enc and f"shamir_threshold: {threshold}".encode() in enc
    enc_file = _write(tmp_path, "yaml", enc, "enc")
    env2 = dict(env, SOPS_AGE_KEY=(Path(env["SOPS_AGE_KEY_FILE"]).parent / "age-test-2.txt").read_text())
    theirs = _ok(sops(["decrypt", str(enc_file)], env=env2, cwd=tmp_path), "sops decrypt")
    ours = _ok(cli(["decrypt", str(enc_file)], env=env2, cwd=tmp_path), "secretsctl decrypt")
    assert ours == theirs
    if writer == "secretsctl":
        sops_enc = _ok(sops(["encrypt", str(src)], env=env, cwd=tmp_path), "sops encrypt")
        assert mask(enc) == mask(sops_enc)
    # Without the second age identity, a threshold of 3 cannot be met.
    env1 = {k: v for k, v in env.items() if k != "SOPS_AGE_KEY"}
    partial = cli(["decrypt", str(enc_file)], env=env1, cwd=tmp_path)
    if threshold == 3:
        assert partial.returncode == 128 and partial.stdout == b""
    else:
        assert partial.returncode == 0 and partial.stdout == theirs


RULES = {
    "unencrypted_suffix": "_plain",
    "encrypted_suffix": "_secret",
    "unencrypted_regex": "^(public|port)$",
    "encrypted_regex": "^(password|list)$",
    "unencrypted_comment_regex": "sops:plain",
    "encrypted_comment_regex": "sops:enc",
}
RULE_DOC = (
    b"# sops:enc\n# second comment\nsecret: a\nplain: b\n"
    b"public: p\nport: 1\npassword: pw\nlist:\n    # sops:enc\n    - x\n    - y\n"
    b"nested:\n    # sops:plain\n    inner:\n        deep: z\n    sib: w\n"
    b"key_secret: s\nkey_plain: q\n"
)

RULE_DOCS = {
    "dotenv": (b"# sops:enc\n# second comment\nsecret=a\nplain=b\npublic=p\nport=1\npassword=pw\n"
               b"# sops:plain\nkey_secret=s\nkey_plain=q\n"),
    "ini": (b"top = t\n\n; sops:enc\n[main]\nsecret = a\n; sops:plain\npublic = p\npassword = pw\n"
            b"\n[list]\nkey_secret = s\nkey_plain = q\nport = 1\n"),
}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("mac_only", [False, True])
@pytest.mark.parametrize("fmt", ["yaml", "json", "dotenv", "ini"])
def test_selection_rules_both_ways(rule, mac_only, fmt, tmp_path, cli, sops, env):
    cfg = f"creation_rules:\n  - age: '{age_recipient(1)}'\n    {rule}: '{RULES[rule]}'\n"
    if mac_only:
        cfg += "    mac_only_encrypted: true\n"
    (tmp_path / ".sops.yaml").write_text(cfg)
    doc = RULE_DOC
    if fmt == "json":
        doc = (b'{"secret": "a", "public": "p", "port": 1, "password": "pw", '
               b'"list": ["x", "y"], "nested": {"inner": {"deep": "z"}, "sib": "w"}, '
               b'"key_secret": "s", "key_plain": "q"}\n')
    doc = RULE_DOCS.get(fmt, doc)
    src = _write(tmp_path, fmt, doc)
    ours_enc = _ok(cli(["encrypt", str(src)], env=env, cwd=tmp_path), "secretsctl encrypt")
    sops_enc = _ok(sops(["encrypt", str(src)], env=env, cwd=tmp_path), "sops encrypt")
    assert mask(ours_enc) == mask(sops_enc)
    for writer, enc in (("secretsctl", ours_enc), ("sops", sops_enc)):
        f = _write(tmp_path, fmt, enc, f"enc-{writer}")
        theirs = _ok(sops(["decrypt", str(f)], env=env, cwd=tmp_path), "sops decrypt")
        ours = _ok(cli(["decrypt", str(f)], env=env, cwd=tmp_path), "secretsctl decrypt")
        assert ours == theirs, writer


def test_encrypt_flags_match_config_rules(tmp_path, cli, sops, env):
    src = _write(tmp_path, "yaml", RULE_DOC)
    ours = _ok(cli(["encrypt", "--age", age_recipient(1), "--encrypted-regex", "^pass",
                    "--mac-only-encrypted", str(src)], env=env), "secretsctl encrypt")
    assert b"encrypted_regex: ^pass" in ours and b"mac_only_encrypted: true" in ours
    f = _write(tmp_path, "yaml", ours, "enc")
    assert _ok(sops(["decrypt", str(f)], env=env), "sops") == _ok(cli(["decrypt", str(f)], env=env), "ours")
