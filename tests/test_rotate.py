"""``secretsctl rotate``: new data key, same plaintext, key add/remove, Shamir, KMS,
many files in parallel, failures isolated, SIGINT leaves no half-written file.

The real sops binary is the judge: it must open the result with every
remaining key and refuse it (exit 128) with a removed one.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import age_recipient, pgp_fpr
from keyops_helpers import (
    PLAIN,
    age_env,
    assert_rotated,
    data_key,
    encrypt_lib,
    no_keys_env,
    ok,
    plaintext,
    runtime,
    shamir_file,
)

from secretsctl import api

# ------------------------------------------------------------------ single file, sops as the judge

def test_rotate_add_remove_age_and_pgp_sops_decrypts(env, gnupg_only1, tmp_path, cli, sops):
    f = tmp_path / "s.yaml"
    f.write_bytes(PLAIN)
    ok(sops(["encrypt", "-i", "--age", f"{age_recipient(1)},{age_recipient(2)}",
             "--pgp", pgp_fpr(1), str(f)], env=env))
    before = f.read_bytes()
    ok(cli(["rotate", "-i", "--rm-age", age_recipient(2), "--add-age", age_recipient(3),
            "--rm-pgp", pgp_fpr(1), "--add-pgp", pgp_fpr(2), str(f)], env=env))
    after = f.read_bytes()
    assert_rotated(before, after)
    assert data_key(f, env) != api.decrypt_data(before, filename=str(f), runtime=runtime(env)).data_key
    assert age_recipient(2).encode() not in after and pgp_fpr(1).encode() not in after
    # Every remaining key opens it in sops; the plaintext is what it was.
    only_pgp2 = {**age_env(env), "GNUPGHOME": env["GNUPGHOME"]}
    for e in (age_env(env, 1), age_env(env, 3), only_pgp2):
        assert ok(sops(["decrypt", str(f)], env=e)) == PLAIN
    # The removed age key and the removed PGP key do not.
    for e in ({**age_env(env, 2), "GNUPGHOME": no_keys_env(env, tmp_path)["GNUPGHOME"]},
              {**age_env(env), "GNUPGHOME": gnupg_only1}):
        proc = sops(["decrypt", str(f)], env=e)
        assert proc.returncode == 128, proc.stderr


def test_rotate_prints_one_file_needs_in_place_for_several(env, tmp_path, cli, sops):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for p in (a, b):
        p.write_bytes(encrypt_lib(b'{"k": "v", "n": 1}', p.name, env, [[api.KeySpec("age", age_recipient(1))]]))
    before = a.read_bytes()
    out = ok(cli(["rotate", str(a)], env=env))
    assert a.read_bytes() == before  # not -i: printed, file untouched
    assert_rotated(before, out)
    printed = tmp_path / "printed.json"
    printed.write_bytes(out)
    assert ok(sops(["decrypt", str(printed)], env=env)) == ok(sops(["decrypt", str(a)], env=env))
    proc = cli(["rotate", str(a), str(b)], env=env)
    assert proc.returncode == 8 and b"-i" in proc.stderr
    proc = cli(["rotate", "-r", str(tmp_path)], env=env)
    assert proc.returncode == 8
    assert cli(["rotate", str(tmp_path / "missing.yaml")], env=env).returncode == 2  # as `sops rotate`
    assert sops(["rotate", str(tmp_path / "missing.yaml")], env=env).returncode == 2
    assert cli(["rotate", "--add-age", age_recipient(2), str(tmp_path / "missing.yaml")],
               env=env).returncode == 49
    # --output writes the rotated file there; the input stays.
    target = tmp_path / "out.json"
    ok(cli(["rotate", "--output", str(target), str(a)], env=env))
    assert a.read_bytes() == before and plaintext(target, env) == plaintext(a, env)


def test_rotate_shamir_groups_keep_working(env, tmp_path, cli, sops):
    f = shamir_file(tmp_path, sops, env)
    before = f.read_bytes()
    ok(cli(["rotate", "-i", str(f)], env=age_env(env, 1, 3), cwd=tmp_path))
    after = f.read_bytes()
    assert_rotated(before, after)
    assert b"shamir_threshold: 2" in after and after.count(b"recipient:") == 3
    for pair in ((1, 2), (2, 3), (1, 3)):
        assert ok(sops(["decrypt", str(f)], env=age_env(env, *pair))) == PLAIN
    assert sops(["decrypt", str(f)], env=age_env(env, 2)).returncode == 128
    # Removing the only key of a group is refused (it would strand that share).
    proc = cli(["rotate", "-i", "--rm-age", age_recipient(3), str(f)], env=age_env(env, 1, 2))
    assert proc.returncode == 1 and b"group 2" in proc.stderr
    assert f.read_bytes() == after


# ------------------------------------------------------------------ KMS through moto



def test_rotate_kms_add_and_remove_with_moto(world, aws_env, tmp_path, cli, sops):
    f = tmp_path / "k.yaml"
    f.write_bytes(PLAIN)
    ok(cli(["encrypt", "-i", "--kms", world.k1, "--age", age_recipient(1), str(f)], env=aws_env))
    before = f.read_bytes()
    ok(cli(["rotate", "-i", "--add-kms", world.k2, "--encryption-context", "app:web",
            "--rm-age", age_recipient(1), str(f)], env=aws_env))
    after = f.read_bytes()
    assert_rotated(before, after)
    assert world.k2.encode() in after and b"app: web" in after and b"age:" not in after
    no_age = age_env(aws_env)
    assert ok(sops(["decrypt", str(f)], env=no_age)) == PLAIN
    only_k2 = after.replace(world.k1.encode(), world.k1.replace("us-east-1", "eu-west-1").encode())
    f2 = tmp_path / "k2.yaml"
    f2.write_bytes(only_k2)  # k1's entry now names a key that does not exist
    assert ok(sops(["decrypt", str(f2)], env=no_age)) == PLAIN
    # The removed age key alone (no AWS access) cannot open it.
    offline = {k: v for k, v in age_env(aws_env, 1).items() if not k.startswith("AWS_")}
    offline["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    offline.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true")
    assert sops(["decrypt", str(f)], env=offline).returncode == 128


# ------------------------------------------------------------------ many files

def make_tree(root: Path, env: dict[str, str], n: int, *, age_only: bool = True) -> dict[Path, bytes]:
    """``n`` age-encrypted files in mixed formats under ``root``; returns path -> plaintext."""
    groups = [[api.KeySpec("age", f"{age_recipient(1)},{age_recipient(2)}")]]
    kinds = [("yaml", b"user: u%d\npassword: p%d\n"), ("json", b'{"user": "u%d", "password": "p%d"}'),
             ("env", b"USER=u%d\nPASSWORD=p%d\n"), ("ini", b"[s]\nuser = u%d\npassword = p%d\n")]
    out = {}
    for i in range(n):
        ext, tmpl = kinds[i % len(kinds)]
        sub = root / f"team{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        p = sub / f"s{i:03d}.{ext}"
        p.write_bytes(encrypt_lib(tmpl % (i, i), p.name, env, groups))
        out[p] = plaintext(p, env)
    return out


def test_directory_rotate_isolates_a_corrupt_file(env, tmp_path, cli, sops):
    root = tmp_path / "secrets"
    files = make_tree(root, env, 8)
    (root / ".git").mkdir()
    (root / ".git" / "x.yaml").write_bytes((next(iter(files))).read_bytes())  # hidden dir: skipped
    corrupt = root / "team0" / "broken.yaml"
    good = next(p for p in files if p.suffix == ".yaml").read_bytes()
    corrupt.write_bytes(re.sub(rb"(password: ENC\[AES256_GCM,data:)(..)", rb"\1AA", good, count=1))
    notes = root / "README.md"
    notes.write_text("not a secret\n")
    before = {p: p.read_bytes() for p in [*files, corrupt, notes, root / ".git" / "x.yaml"]}
    proc = cli(["rotate", "-i", "-r", str(root)], env=env)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "rotated 8 of 9 file(s); 1 failed" in err and str(corrupt) in err
    for p, plain in files.items():
        assert p.read_bytes() != before[p] and plaintext(p, env) == plain
    for p in (corrupt, notes, root / ".git" / "x.yaml"):
        assert p.read_bytes() == before[p]
    sample = next(iter(files))
    assert ok(sops(["decrypt", str(sample)], env=age_env(env, 2))) == files[sample]


def test_dry_run_writes_nothing_and_shows_plan(env, tmp_path, cli):
    files = make_tree(tmp_path / "d", env, 4)
    before = {p: p.read_bytes() for p in files}
    proc = cli(["rotate", "--dry-run", "-r", "--rm-age", age_recipient(2), str(tmp_path / "d")], env=env)
    out = ok(proc).decode()
    assert {p: p.read_bytes() for p in files} == before
    for p in files:
        assert f"{p}: rotate the data key, data key 0 days old" in out
    assert out.count(f"--- {age_recipient(2)}") == 4


def test_sigint_leaves_every_file_fully_old_or_fully_new(env, tmp_path):
    root = tmp_path / "many"
    files = make_tree(root, env, 36)  # >= 32 files: two forked workers (FILES_PER_PROCESS)
    before = {p: p.read_bytes() for p in files}
    old_keys = {p: data_key(p, env) for p in files}
    slow = {**env, "SECRETSCTL_TEST_FILE_DELAY": "0.3"}
    proc = subprocess.Popen([sys.executable, "-m", "secretsctl", "rotate", "-i", "-r", "-j", "4", str(root)],
                            env=slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not any(p.read_bytes() != before[p] for p in files):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"not started (interrupted)" in err
    changed = 0
    for p, plain in files.items():
        data = p.read_bytes()
        if data == before[p]:
            continue
        changed += 1
        assert plaintext(p, env) == plain and data_key(p, env) != old_keys[p]
    assert 0 < changed < len(files)
    assert not [n for n in os.listdir(root) + [x for d in root.iterdir() for x in os.listdir(d)]
                if n.startswith(".secretsctl-")]
