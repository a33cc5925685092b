"""``secretsctl updatekeys``: key groups follow ``.sops.yaml``, the data key and every
value stay as they are; plan first, confirmation, ``--rotate`` for removed keys.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import age_recipient, pgp_fpr
from secretsctl import api
from keyops_helpers import age_env, data_key, encrypt_lib, ok, plaintext, sha

KINDS = [("yaml", b"user: u%d\npassword: p%d\nlist:\n    - a\n    - %d\n"),
         ("json", b'{\n\t"user": "u%d",\n\t"password": "p%d",\n\t"n": %d\n}'),
         ("env", b"USER=u%d\nPASSWORD=p%d\nN=%d\n"),
         ("ini", b"[s]\nuser = u%d\npassword = p%d\nn = %d\n")]
# Where the metadata starts, per format: data lines are everything before it
# (dotenv: every line not starting with sops_).
META_START = {"yaml": b"sops:\n", "json": b'\t"sops": {\n', "ini": b"[sops]\n"}


def rule(*keys: str) -> str:
    return "creation_rules:\n  - path_regex: secrets/.*\n" + "".join(f"    {k}\n" for k in keys)


def split(p: Path) -> tuple[list[bytes], list[bytes]]:
    """(data lines, the lastmodified and mac lines) of an encrypted file."""
    lines = p.read_bytes().splitlines(keepends=True)
    ext = p.suffix[1:]
    if ext == "env":
        data = [ln for ln in lines if not ln.startswith(b"sops_")]
    else:
        data = lines[:lines.index(META_START[ext])]
    stamps = [ln for ln in lines if b"lastmodified" in ln or b"mac" in ln.split(b"=")[0].split(b":")[0]]
    if ext == "ini":
        # go-ini pads every [sops] key to the longest one, so the padding moves
        # with the key list; the values themselves must not.
        stamps = [re.sub(rb" +=", b" =", ln) for ln in stamps]
    return data, stamps


def make_repo(tmp_path: Path, env: dict[str, str], n: int) -> dict[Path, bytes]:
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)}", f"pgp: {pgp_fpr(1)}"))
    out = {}
    for i in range(n):
        ext, tmpl = KINDS[i % 4]
        d = tmp_path / "secrets" / f"app{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"s{i:02d}.{ext}"
        # Keys from the creation rule, as `secretsctl encrypt` would pick them.
        p.write_bytes(api.encrypt_data(tmpl % (i, i, i), filename=str(p),
                                       runtime=api.Runtime(environ=dict(env), cwd=str(tmp_path))))
        out[p] = tmpl % (i, i, i)
    return out


def test_fifty_files_dry_run_then_apply_sops_agrees(env, gnupg_only1, tmp_path, cli, sops):
    files = make_repo(tmp_path, env, 50)
    keys_before = {p: data_key(p, env) for p in files}
    parts_before = {p: split(p) for p in files}
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(2)}"))
    hashes = {p: sha(p) for p in files}

    proc = cli(["updatekeys", "--dry-run", "-r", "secrets"], env=env, cwd=tmp_path)
    out, err = ok(proc).decode(), proc.stderr.decode()
    assert {p: sha(p) for p in files} == hashes  # nothing touched
    assert out.count(f"+++ {age_recipient(2)}") == 50 and out.count(f"--- {pgp_fpr(1)}") == 50
    assert out.count(f"    {age_recipient(1)}") == 50
    assert "50 file(s) lose a master key" in err and "--rotate" in err and "nothing was written" in err

    proc = cli(["updatekeys", "-y", "-r", "secrets"], env=env, cwd=tmp_path)
    ok(proc)
    assert "updated 50 of 50 file(s); 0 failed" in proc.stderr.decode()
    no_pgp = {**age_env(env, 2), "GNUPGHOME": gnupg_only1}
    for p in files:
        assert sha(p) != hashes[p]
        assert split(p) == parts_before[p]  # data lines, lastmodified, mac: byte-identical
        assert data_key(p, env) == keys_before[p]
        assert pgp_fpr(1).encode() not in p.read_bytes()
        assert api.load_tree(str(p), runtime=api.Runtime(environ=age_env(env, 2), config_path="/dev/null")) \
            == api.load_tree(str(p), runtime=api.Runtime(environ=age_env(env, 1), config_path="/dev/null"))
    # sops: the new age key opens every file, the removed PGP key none.
    for p in files:
        assert ok(sops(["decrypt", str(p)], env=no_pgp)) == sops(["decrypt", str(p)], env=age_env(env, 1)).stdout
        assert sops(["decrypt", str(p)], env={**age_env(env), "GNUPGHOME": gnupg_only1}).returncode == 128
    # A second run has nothing to do.
    proc = cli(["updatekeys", "-y", "-r", "secrets"], env=env, cwd=tmp_path)
    assert ok(proc) == b"" and proc.stderr.decode().count("already up to date") == 50


def test_rotate_flag_does_both_and_unchanged_keys_keep_their_wrap(env, tmp_path, cli, sops):
    files = make_repo(tmp_path, env, 4)
    old = {p: data_key(p, env) for p in files}
    age1_enc = {p: api.decrypt_file(str(p), runtime=api.Runtime(environ=env, cwd=str(tmp_path)))
                .metadata.key_groups[0] for p in files}
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(3)}"))
    proc = cli(["updatekeys", "-y", "--rotate", "-r", "secrets"], env=env, cwd=tmp_path)
    ok(proc)
    assert "lose a master key" not in proc.stderr.decode()
    for p in files:
        assert data_key(p, env) != old[p]
        assert ok(sops(["decrypt", str(p)], env=age_env(env, 3))) == \
            ok(sops(["decrypt", str(p)], env=age_env(env, 1)))
        assert pgp_fpr(1).encode() not in p.read_bytes()
    # Without --rotate a key that stays keeps its wrapped key byte for byte.
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(3)},{age_recipient(2)}"))
    p = next(iter(files))
    wraps = [k.enc for k in api.decrypt_file(str(p), runtime=api.Runtime(environ=env, cwd=str(tmp_path)))
             .metadata.key_groups[0]]
    ok(cli(["updatekeys", "-y", str(p)], env=env, cwd=tmp_path))
    after = api.decrypt_file(str(p), runtime=api.Runtime(environ=env, cwd=str(tmp_path))).metadata.key_groups[0]
    assert [k.enc for k in after[:2]] == wraps and after[2].enc and after[2].enc not in wraps
    assert age1_enc  # the first read worked with PGP in the file


def test_confirmation_prompt(env, tmp_path, cli):
    files = make_repo(tmp_path, env, 2)
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)}", f"pgp: {pgp_fpr(1)},{pgp_fpr(2)}"))
    hashes = {p: sha(p) for p in files}
    proc = cli(["updatekeys", "-r", "secrets"], env=env, cwd=tmp_path, input=b"")
    assert proc.returncode == 1 and b"Is this okay? (y/n):" in proc.stdout
    proc = cli(["updatekeys", "-r", "secrets"], env=env, cwd=tmp_path, input=b"maybe\nn\n")
    ok(proc)
    assert proc.stdout.count(b"Is this okay? (y/n):") == 2 and {p: sha(p) for p in files} == hashes
    assert b"lose a master key" not in proc.stderr  # only an addition
    proc = cli(["updatekeys", "-r", "secrets"], env=env, cwd=tmp_path, input=b"y\n")
    ok(proc)
    for p in files:
        assert sha(p) != hashes[p] and p.read_bytes().count(b"BEGIN PGP MESSAGE") == 2


def test_shamir_rule_resplits_the_same_data_key(env, tmp_path, cli, sops):
    files = make_repo(tmp_path, env, 3)
    old = {p: data_key(p, env) for p in files}
    copies = {p: p.with_name("sops-" + p.name) for p in files}
    for p, c in copies.items():
        c.write_bytes(p.read_bytes())
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - path_regex: secrets/.*\n    shamir_threshold: 2\n    key_groups:\n"
        + "".join(f"      - age: ['{age_recipient(n)}']\n" for n in (1, 2, 3)))
    proc = cli(["updatekeys", "-y", *map(str, files)], env=env, cwd=tmp_path)
    out = ok(proc).decode()
    # As sops 3.11: a one-group file gets "every group"; the rule's 2 is not applied, and we say so.
    assert "+++ shamir_threshold: 3" in out and "Group 2" in out   # groups count from 0
    assert proc.stderr.decode().count(".sops.yaml sets shamir_threshold 2; the file keeps 3") == 3
    for p, c in copies.items():
        ok(sops(["updatekeys", "-y", str(c)], env=age_env(env, 1), cwd=tmp_path))
        assert b"shamir_threshold: 3" in c.read_bytes() or b'"shamir_threshold": 3' in c.read_bytes() \
            or b"shamir_threshold=3" in c.read_bytes()
        assert data_key(p, age_env(env, 1, 2, 3)) == old[p]
        assert ok(sops(["decrypt", str(p)], env=age_env(env, 1, 2, 3))) == plaintext(p, age_env(env, 1, 2, 3))
        assert sops(["decrypt", str(p)], env=age_env(env, 1, 3)).returncode == 128
    # The explicit flag applies the rule's threshold: any two groups open the files.
    proc = cli(["updatekeys", "-y", "--shamir-secret-sharing-threshold", "2", *map(str, files)],
               env=age_env(env, 1, 2, 3), cwd=tmp_path)
    assert "+++ shamir_threshold: 2" in ok(proc).decode() and "--- shamir_threshold: 3" in proc.stdout.decode()
    for p in files:
        assert data_key(p, age_env(env, 2, 3)) == old[p]
        assert ok(sops(["decrypt", str(p)], env=age_env(env, 1, 3))) == plaintext(p, age_env(env, 1, 2))
        assert sops(["decrypt", str(p)], env=age_env(env, 3)).returncode == 128


def test_file_without_rule_fails_others_continue(env, tmp_path, cli):
    files = make_repo(tmp_path, env, 2)
    stray = tmp_path / "other.yaml"
    stray.write_bytes(encrypt_lib(b"a: 1\n", "other.yaml", env, [[api.KeySpec("age", age_recipient(1))]]))
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(2)}"))
    proc = cli(["updatekeys", "-y", "secrets/app0/s00.yaml", "other.yaml", "secrets/app1/s01.json"],
               env=env, cwd=tmp_path)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "other.yaml" in err and "no matching creation rules" in err and "1 failed" in err
    for p in files:
        assert age_recipient(2).encode() in p.read_bytes()


# ------------------------------------------------------------------ the metadata block alone

def _armor_free(data: bytes) -> bytes:
    """The file without the age armour (a new wrap is random in both tools)."""
    return re.sub(rb"-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----", b"ARMOR",
                  data, flags=re.S)


@pytest.mark.parametrize("ext", ["yaml", "json"])
def test_adding_a_recipient_rewrites_only_the_metadata_block_as_sops(ext, base_env, tmp_path, cli, sops):
    """A file sops wrote: every byte before the metadata is kept; the rest is what sops writes."""
    plain = {"yaml": b"a: 1\nb:\n    - x\n    - 2.5\nc: true\n",
             "json": b'{"a": 1, "b": ["x", 2.5], "c": true}'}[ext]
    d = tmp_path / "secrets"
    d.mkdir()
    (d / f"p.{ext}").write_bytes(plain)
    enc = ok(sops(["encrypt", "--age", age_recipient(1), str(d / f"p.{ext}")]))
    ours, theirs = d / f"ours.{ext}", d / f"theirs.{ext}"
    ours.write_bytes(enc)
    theirs.write_bytes(enc)
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(2)}"))
    ok(cli(["updatekeys", "-y", str(ours)], cwd=tmp_path))
    ok(sops(["updatekeys", "-y", str(theirs)], cwd=tmp_path))
    start = enc.index(META_START[ext])
    assert ours.read_bytes()[:start] == enc[:start]
    assert _armor_free(ours.read_bytes()) == _armor_free(theirs.read_bytes())
    for n in (1, 2):
        assert ok(sops(["decrypt", str(ours)], env=age_env(base_env, n))) == \
            ok(sops(["decrypt", str(theirs)], env=age_env(base_env, n)))


def test_a_data_key_that_does_not_open_the_mac_is_not_handed_out(base_env, tmp_path, cli):
    """The block path proves the data key on the stored MAC before wrapping it again."""
    d = tmp_path / "secrets"
    d.mkdir()
    f = d / "s.yaml"
    f.write_bytes(ok(cli(["encrypt", "--age", age_recipient(1), "--filename-override", "s.yaml"],
                         input=b"a: 1\n")))
    # Re-encrypt lastmodified's AAD away: the MAC no longer opens under the key.
    tampered = re.sub(rb'lastmodified: "(\d{4})', lambda m: b'lastmodified: "' + str(int(m[1]) - 1).encode(),
                      f.read_bytes())
    f.write_bytes(tampered)
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(2)}"))
    res = cli(["updatekeys", "-y", str(f)], cwd=tmp_path)
    assert res.returncode != 0 and b"MAC" in res.stderr
    assert f.read_bytes() == tampered


def test_a_hand_formatted_file_takes_the_full_path(base_env, tmp_path, cli, sops):
    """Metadata not in the emitter's layout (2-space indent): re-emitted whole, still correct."""
    d = tmp_path / "secrets"
    d.mkdir()
    f = d / "s.yaml"
    enc = ok(cli(["encrypt", "--age", age_recipient(1), "--filename-override", "s.yaml"], input=b"a: 1\nb: x\n"))
    f.write_bytes(re.sub(rb"(?m)^    ", b"  ", enc))
    (tmp_path / ".sops.yaml").write_text(rule(f"age: {age_recipient(1)},{age_recipient(2)}"))
    ok(cli(["updatekeys", "-y", str(f)], cwd=tmp_path))
    assert f.read_bytes().count(b"recipient:") == 2
    assert ok(sops(["decrypt", str(f)], env=age_env(base_env, 2))) == b"a: 1\nb: x\n"
