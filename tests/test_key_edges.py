"""Edges of key management found in review: Shamir thresholds under ``updatekeys``
(sops 3.11 as the judge), ``created_at`` across re-wraps and the ``keys`` report,
``--rotate`` only where a key is lost, one job per file, big files in a walk.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import age_recipient, pgp_fpr
from keyops_helpers import PLAIN, age_env, data_key, encrypt_lib, ok, sha, shamir_file

from secretsctl import api, batch

ALL3 = (1, 2, 3)
STAMP = re.compile(rb'created_at: "([^"]+)"')


def threshold_lines(data: bytes) -> list[bytes]:
    return [ln.strip() for ln in data.splitlines() if b"shamir_threshold" in ln]


def groups_rule(*groups: tuple[int, ...], threshold: int | None = None) -> str:
    head = "creation_rules:\n  - " + (f"shamir_threshold: {threshold}\n    " if threshold else "")
    return head + "key_groups:\n" + "".join(
        "      - age: [" + ", ".join(f"'{age_recipient(n)}'" for n in g) + "]\n" for g in groups)


def test_updatekeys_keeps_the_files_threshold_as_sops(env, tmp_path, cli, sops):
    full = age_env(env, *ALL3)
    ours = shamir_file(tmp_path, sops, env)  # three groups, threshold 2, made by sops
    theirs = tmp_path / "theirs.yaml"
    theirs.write_bytes(ours.read_bytes())
    cfg = tmp_path / ".sops.yaml"

    # The rule sets no threshold: nothing to do (before the fix the file went to 3).
    cfg.write_text(groups_rule((1,), (2,), (3,)))
    before = sha(ours)
    proc = cli(["updatekeys", "-y", str(ours)], env=full, cwd=tmp_path)
    assert ok(proc) == b"" and "already up to date" in proc.stderr.decode() and sha(ours) == before
    ok(sops(["updatekeys", "-y", str(theirs)], env=full, cwd=tmp_path))
    assert threshold_lines(theirs.read_bytes()) == [b"shamir_threshold: 2"]

    # A key change under a rule asking for 3: both keep 2; we say the rule was not applied.
    cfg.write_text(groups_rule((1, 2), (2,), (3,), threshold=3))
    proc = cli(["updatekeys", "-y", str(ours)], env=full, cwd=tmp_path)
    assert "shamir_threshold: 2\nGroup 0\n" in ok(proc).decode()
    assert ".sops.yaml sets shamir_threshold 3; the file keeps 2" in proc.stderr.decode()
    ok(sops(["updatekeys", "-y", str(theirs)], env=full, cwd=tmp_path))
    assert threshold_lines(ours.read_bytes()) == threshold_lines(theirs.read_bytes()) == [b"shamir_threshold: 2"]
    assert ok(sops(["decrypt", str(ours)], env=age_env(env, 2, 3))) == PLAIN  # two groups still suffice

    # Down to one group: the threshold is capped at 1, written as sops writes it.
    cfg.write_text(groups_rule((1,)))
    proc = cli(["updatekeys", "-y", str(ours)], env=full, cwd=tmp_path)
    assert "+++ shamir_threshold: 1\n--- shamir_threshold: 2\n" in ok(proc).decode()
    ok(sops(["updatekeys", "-y", str(theirs)], env=full, cwd=tmp_path))
    assert threshold_lines(ours.read_bytes()) == threshold_lines(theirs.read_bytes())
    assert ok(sops(["decrypt", str(ours)], env=age_env(env, 1))) == PLAIN


def _age_stamps(path: Path, when: bytes) -> None:
    """Pretend the file's keys were stamped at ``when`` (created_at is outside the MAC)."""
    path.write_bytes(STAMP.sub(b'created_at: "' + when + b'"', path.read_bytes()))


def test_keys_report_and_rewraps_keep_created_at(env, tmp_path, cli, sops):
    f = tmp_path / "s.yaml"
    f.write_bytes(encrypt_lib(PLAIN, "s.yaml", env, [[api.KeySpec("pgp", pgp_fpr(1)),
                                                      api.KeySpec("age", age_recipient(1))]]))
    _age_stamps(f, b"2020-01-01T00:00:00Z")
    proc = cli(["keys", str(f)], env=env)
    out = ok(proc).decode()
    assert f"group 0  pgp   {pgp_fpr(1)}  created 2020-01-01T00:00:00Z  (older than the maximum age)" in out
    assert re.search(r"data key: \d{4} days old \(from oldest created_at\)", out)
    assert "1 of 1 file(s) need a data key rotation" in proc.stderr.decode()
    assert "need a data key rotation" not in cli(["keys", "--max-age", "100y", str(f)], env=env).stderr.decode()

    # A re-split (one group -> two) wraps the same data key again: the stamp stays, and so does the age.
    ok(cli(["groups", "add", "-f", str(f), "-i", "--age", age_recipient(2)], env=env))
    assert STAMP.findall(f.read_bytes()) == [b"2020-01-01T00:00:00Z"]
    assert "need a data key rotation" in cli(["keys", str(f)], env=env).stderr.decode()
    assert ok(sops(["decrypt", str(f)], env=age_env(env, 1, 2))) == PLAIN

    # A rotation renews it.
    ok(cli(["rotate", "-i", str(f)], env=age_env(env, 1, 2)))
    proc = cli(["keys", str(f)], env=env)
    assert "data key: 0 days old" in ok(proc).decode() and "rotation" not in proc.stderr.decode()

    # An age-only file has no created_at: lastmodified, and said so.
    g = tmp_path / "g.yaml"
    g.write_bytes(encrypt_lib(PLAIN, "g.yaml", env, [[api.KeySpec("age", age_recipient(1))]]))
    assert "data key: 0 days old (from lastmodified (age keys have no created_at))" in \
        ok(cli(["keys", str(g)], env=env)).decode()


def test_updatekeys_rotate_only_where_a_key_is_lost(env, tmp_path, cli, sops):
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        f"  - path_regex: secrets/same/.*\n    age: {age_recipient(1)}\n"
        f"  - path_regex: secrets/gain/.*\n    age: {age_recipient(1)},{age_recipient(2)}\n"
        f"  - path_regex: secrets/lose/.*\n    age: {age_recipient(1)}\n")
    files = {}
    for name, keys in (("same", (1,)), ("gain", (1,)), ("lose", (1, 2))):
        p = tmp_path / "secrets" / name / "s.yaml"
        p.parent.mkdir(parents=True)
        p.write_bytes(encrypt_lib(PLAIN, str(p), env, [[api.KeySpec("age", age_recipient(n)) for n in keys]]))
        files[name] = (p, sha(p), data_key(p, env))

    proc = cli(["updatekeys", "-y", "--rotate", "-r", "secrets"], env=env, cwd=tmp_path)
    out = ok(proc).decode()
    assert out.count("+++ new data key") == 1 and "updated 2 of 2 file(s); 0 failed" in proc.stderr.decode()
    same, gain, lose = files["same"], files["gain"], files["lose"]
    assert sha(same[0]) == same[1]
    assert data_key(gain[0], env) == gain[2] and age_recipient(2).encode() in gain[0].read_bytes()
    assert data_key(lose[0], env) != lose[2] and age_recipient(2).encode() not in lose[0].read_bytes()
    assert ok(sops(["decrypt", str(lose[0])], env=age_env(env, 1))) == PLAIN
    proc = cli(["updatekeys", "-y", "--rotate", "-r", "secrets"], env=env, cwd=tmp_path)
    assert ok(proc) == b"" and proc.stderr.decode().count("already up to date") == 3


def test_a_file_reached_twice_is_done_once(env, tmp_path, cli):
    d = tmp_path / "s"
    d.mkdir()
    a = d / "a.yaml"
    a.write_bytes(encrypt_lib(PLAIN, "a.yaml", env, [[api.KeySpec("age", age_recipient(1))]]))
    os.symlink("a.yaml", d / "link.yaml")
    key = data_key(a, env)
    for argv in (["-r", "s"], ["-r", "s", "s/a.yaml"], ["s/link.yaml", "s/a.yaml"]):
        proc = cli(["rotate", "-i", *argv], env=env, cwd=tmp_path)
        # One file: no summary line (two jobs would print "rotated 2 of 2", or race and fail).
        assert ok(proc) == b"" and proc.stderr == b""
        assert data_key(a, env) != key
        key = data_key(a, env)
    assert (d / "link.yaml").is_symlink()
    out = ok(cli(["keys", "-r", "s", "./s/a.yaml"], env=env, cwd=tmp_path)).decode()
    assert out.count("data key:") == 1


def test_big_files_are_sniffed_by_their_tail(env, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "MAX_SNIFF_BYTES", 1024)
    monkeypatch.setattr(batch, "TAIL_SNIFF_BYTES", 3000)
    big = tmp_path / "big.yaml"
    big.write_bytes(encrypt_lib(b"blob: " + b"x" * 20000 + b"\n", "big.yaml", env,
                                [[api.KeySpec("age", age_recipient(1))]]))
    assert big.stat().st_size > 3000 + 1024
    assert batch.is_sops_file(str(big))
    # Markers only at the head of a big file do not count: sops writes its metadata last.
    fake = tmp_path / "fake.yaml"
    fake.write_bytes(b"sops:\n  version: 1\n  mac: x\n" + b"# padding\n" * 1000)
    assert not batch.is_sops_file(str(fake))
    small = tmp_path / "small.yaml"
    small.write_bytes(b"sops:\n  version: 1\n  mac: x\n")
    assert batch.is_sops_file(str(small))


def test_max_age_too_large_is_a_clean_error(env, tmp_path, cli):
    f = tmp_path / "s.yaml"
    f.write_bytes(encrypt_lib(PLAIN, "s.yaml", env, [[api.KeySpec("age", age_recipient(1))]]))
    for text in ("99999999y", "9999999999999d"):
        proc = cli(["keys", "--max-age", text, str(f)], env=env)
        assert proc.returncode == 1 and proc.stderr.decode().strip().endswith(f"invalid age '{text}': too large")


def test_rotate_to_stdout_names_a_corrupt_file(env, tmp_path, cli):
    f = tmp_path / "bad.yaml"
    f.write_bytes(encrypt_lib(PLAIN, "bad.yaml", env, [[api.KeySpec("age", age_recipient(1))]]) + b"x: [\n")
    for argv in (["rotate", str(f)], ["rotate", "-i", str(f)]):
        proc = cli(argv, env=env)
        assert proc.returncode == 1 and f"secretsctl: error: {f}: Error unmarshalling input yaml" in proc.stderr.decode()  # noqa: E501


def test_rm_kms_removes_every_entry_of_the_key():
    from secretsctl.keyops import edit_groups
    from secretsctl.keysources.kms import KmsKey
    arn = "arn:aws:kms:us-east-1:123456789012:key/a"
    other = "arn:aws:kms:us-east-1:123456789012:key/b"
    group = [KmsKey(arn), KmsKey(arn, role="arn:aws:iam::123456789012:role/r"),
             KmsKey(arn, context={"app": "web"}), KmsKey(other)]
    out = edit_groups([group], [], [KmsKey(arn)])
    assert [(k.arn, k.role, k.context) for k in out[0]] == [(other, "", {})]
