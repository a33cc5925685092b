"""``secretsctl groups add|delete`` and the Shamir threshold, with sops as the judge."""
from __future__ import annotations

from conftest import age_recipient, pgp_fpr
from keyops_helpers import PLAIN, age_env, data_key, ok, shamir_file

from secretsctl import api


def values_and_stamps(data: bytes) -> list[bytes]:
    """Every data line plus lastmodified and mac (YAML): what a re-wrap must not touch."""
    lines = data.splitlines()
    body = lines[:lines.index(b"sops:")]
    return body + [ln for ln in lines if ln.strip().startswith((b"lastmodified:", b"mac:"))]


def test_add_groups_then_threshold_sops_decrypts(env, tmp_path, cli, sops):
    f = tmp_path / "s.yaml"
    f.write_bytes(PLAIN)
    ok(sops(["encrypt", "-i", "--age", age_recipient(1), str(f)], env=env))
    original = f.read_bytes()
    key = data_key(f, env)

    # Without -i the new file is printed and the input stays as it was.
    printed = ok(cli(["groups", "add", "-f", str(f), "--age", age_recipient(2)], env=env))
    assert f.read_bytes() == original and b"key_groups:" in printed

    ok(cli(["groups", "add", "-f", str(f), "--age", age_recipient(2), "-i"], env=env))
    two = f.read_bytes()
    assert values_and_stamps(two) == values_and_stamps(original)
    assert b"key_groups:" in two and b"shamir_threshold: 2" in two  # every group, explicit as sops 3.11
    assert ok(sops(["decrypt", str(f)], env=age_env(env, 1, 2))) == PLAIN
    assert sops(["decrypt", str(f)], env=age_env(env, 1)).returncode == 128

    ok(cli(["groups", "add", "-f", str(f), "--age", age_recipient(3), "--pgp", pgp_fpr(2),
            "--shamir-secret-sharing-threshold", "2", "-i"], env=age_env(env, 1, 2)))
    three = f.read_bytes()
    assert values_and_stamps(three) == values_and_stamps(original)
    assert b"shamir_threshold: 2" in three
    assert data_key(f, age_env(env, 1, 3)) == key  # same data key, split again
    for pair in ((1, 2), (1, 3), (2, 3)):
        assert ok(sops(["decrypt", str(f)], env=age_env(env, *pair))) == PLAIN
    with_pgp = {**age_env(env, 2)}  # group 3 through the PGP key in GNUPGHOME
    assert ok(sops(["decrypt", str(f)], env=with_pgp)) == PLAIN
    assert sops(["decrypt", str(f)], env={**age_env(env, 1), "GNUPGHOME": str(tmp_path)}).returncode == 128


def test_delete_group_and_threshold_guard(env, tmp_path, cli, sops):
    f = shamir_file(tmp_path, sops, env)
    original = f.read_bytes()
    keys = age_env(env, 1, 2, 3)

    ok(cli(["groups", "delete", "-f", str(f), "-i", "0"], env=keys))
    two = f.read_bytes()
    assert values_and_stamps(two) == values_and_stamps(original)
    assert age_recipient(1).encode() not in two and b"shamir_threshold: 2" in two
    assert ok(sops(["decrypt", str(f)], env=age_env(env, 2, 3))) == PLAIN
    assert sops(["decrypt", str(f)], env=age_env(env, 1, 2)).returncode == 128

    # Two groups, threshold 2: deleting another one is refused, the file is untouched.
    proc = cli(["groups", "delete", "-f", str(f), "-i", "1"], env=keys)
    assert proc.returncode == 1 and b"Shamir threshold is 2, but we only have 1 key groups" in proc.stderr
    assert f.read_bytes() == two
    proc = cli(["groups", "delete", "-f", str(f), "-i", "5"], env=keys)
    assert proc.returncode == 1 and f.read_bytes() == two

    # Lowering the threshold to 1 lets it go: one group left, written flat.
    ok(cli(["groups", "delete", "-f", str(f), "-i", "--shamir-secret-sharing-threshold", "1", "1"],
           env=keys))
    one = f.read_bytes()
    assert b"key_groups" not in one and age_recipient(2).encode() in one
    assert ok(sops(["decrypt", str(f)], env=age_env(env, 2))) == PLAIN


def test_sops_groups_add_on_our_file_we_decrypt(env, tmp_path, cli, sops):
    f = tmp_path / "s.json"
    f.write_bytes(api.encrypt_data(b'{"a": "b"}', filename=str(f),
                                   runtime=api.Runtime(environ=env, config_path="/dev/null"),
                                   options=api.EncryptOptions(key_groups=[[api.KeySpec("age", age_recipient(1))]])))
    ok(sops(["groups", "add", "--file", str(f), "--age", age_recipient(2), "-i"], env=env))
    assert ok(cli(["decrypt", str(f)], env=age_env(env, 1, 2))) == b'{\n\t"a": "b"\n}\n'
    assert b'"shamir_threshold": 2' in f.read_bytes()
    proc = cli(["groups", "delete", "-f", str(f), "-i", "1"], env=age_env(env, 1, 2))
    assert proc.returncode == 1 and b"Shamir threshold is 2" in proc.stderr
    ok(cli(["groups", "delete", "-f", str(f), "-i", "--shamir-secret-sharing-threshold", "1", "1"],
           env=age_env(env, 1, 2)))
    assert ok(sops(["decrypt", str(f)], env=age_env(env, 1))) == b'{\n\t"a": "b"\n}\n'
