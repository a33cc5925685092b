"""The public Python API, --reuse-from, validate, check-encrypted, config explain, keygen.

Only the public API is used (``import secretsctl``); files are checked with
the sops binary.
"""
from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

import secretsctl
from secretsctl.errors import FileChanged, SecretsctlError

from conftest import age_recipient

R1 = age_recipient(1)
PLAIN = ("# top comment\ndb:\n    host: db.internal\n    password: hunter2  # inline\n"
         "list:\n    - a\n    - b\nport: 5432\nwhen: 2024-01-02T03:04:05Z\n")


@pytest.fixture
def enc(tmp_path, sops, base_env, monkeypatch):
    for k, v in base_env.items():
        monkeypatch.setenv(k, v)
    src = tmp_path / "s.yaml"
    src.write_text(PLAIN)
    res = sops(["encrypt", "--age", R1, str(src)])
    assert res.returncode == 0, res.stderr
    src.write_bytes(res.stdout)
    return src


def _changed_lines(before: bytes, after: bytes) -> list[str]:
    """Lines that differ, except lastmodified (equal when both writes fall in one second)."""
    return [line for line in difflib.ndiff(before.decode().splitlines(), after.decode().splitlines())
            if line.startswith(("+ ", "- ")) and "lastmodified:" not in line]


def test_load_and_loads(enc):
    data = secretsctl.load(str(enc))
    assert data["db"]["password"] == "hunter2" and data["list"] == ["a", "b"] and data["port"] == 5432
    assert secretsctl.loads(enc.read_bytes(), format="yaml") == data
    with pytest.raises(SecretsctlError) as info:
        secretsctl.loads(b"a: 1\n", format="yaml")
    assert info.value.exit_code == 1


def test_edit_writes_a_minimal_diff_that_sops_reads(enc, sops):
    before = enc.read_bytes()
    original = sops(["decrypt", str(enc)]).stdout.decode()
    with secretsctl.edit(str(enc)) as data:
        data["db"]["password"] = "n3w"
    after = enc.read_bytes()
    changed = _changed_lines(before, after)
    # The password line and the mac: each once removed, once added (plus lastmodified).
    assert len(changed) == 4, changed
    assert sum("password:" in c for c in changed) == 2 and sum("mac:" in c for c in changed) == 2
    plain = sops(["decrypt", str(enc)]).stdout.decode()
    assert plain == original.replace("hunter2", "n3w")   # comments, order and the timestamp kept


def test_edit_writes_nothing_on_exception_or_no_change(enc):
    before = enc.read_bytes()
    with pytest.raises(RuntimeError):
        with secretsctl.edit(str(enc)) as data:
            data["db"]["password"] = "never"
            raise RuntimeError("boom")
    with secretsctl.edit(str(enc)):
        pass
    assert enc.read_bytes() == before


def test_edit_never_loses_a_concurrent_change(enc):
    with pytest.raises(FileChanged):
        with secretsctl.edit(str(enc)) as data:
            data["port"] = 1
            with secretsctl.edit(str(enc)) as other:   # someone else saves first
                other["port"] = 2
    assert secretsctl.load(str(enc))["port"] == 2


def test_edit_adds_and_removes_keys(enc, sops):
    with secretsctl.edit(str(enc)) as data:
        del data["list"]
        data["db"]["user"] = "app"
    out = secretsctl.load(str(enc))
    assert "list" not in out and out["db"] == {"host": "db.internal", "password": "hunter2", "user": "app"}
    assert sops(["decrypt", str(enc)]).returncode == 0


def test_reuse_from_keeps_unchanged_ciphertext(enc, tmp_path, cli, sops):
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAIN.replace("5432", "6543"))
    res = cli(["encrypt", "--reuse-from", str(enc), str(plain)])
    assert res.returncode == 0, res.stderr
    changed = _changed_lines(enc.read_bytes(), res.stdout)
    assert len(changed) == 4 and sum("port:" in c for c in changed) == 2, changed
    out = tmp_path / "new.yaml"
    out.write_bytes(res.stdout)
    assert sops(["decrypt", str(out)]).stdout == sops(["decrypt", str(enc)]).stdout.replace(b"5432", b"6543")
    assert cli(["encrypt", "--reuse-from", str(enc), "--age", R1, str(plain)]).returncode == 8
    assert cli(["encrypt", "--reuse-from", str(enc), str(enc)]).returncode == 203


def test_validate_good_tampered_and_undecryptable(enc, tmp_path, cli, base_env):
    tampered = tmp_path / "t.yaml"
    tampered.write_text(enc.read_text().replace("# top comment", "# top comment edited", 1))
    lines = enc.read_text().splitlines()
    bad_mac = tmp_path / "m.yaml"
    bad_mac.write_text("\n".join(line for line in lines if "port:" not in line) + "\n")
    res = cli(["validate", str(enc)])
    assert res.returncode == 0 and res.stdout.startswith(b"OK   ")
    res = cli(["validate", str(enc), str(bad_mac)])
    assert res.returncode == 51 and b"FAIL" in res.stdout and b"MAC" in res.stdout
    assert b"hunter2" not in res.stdout + res.stderr
    nokey = {k: v for k, v in base_env.items() if k != "SOPS_AGE_KEY_FILE"}
    res = cli(["validate", str(enc)], env=nokey)
    assert res.returncode == 128 and b"data key" in res.stdout
    plain = tmp_path / "plain.yaml"
    plain.write_text("a: 1\n")
    assert cli(["validate", str(plain)]).returncode == 1
    assert cli(["validate", "--sops-files-only", str(plain), str(enc)]).returncode == 0


def test_check_encrypted_and_config_explain(tmp_path, cli):
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: ^prod/.*\n    age: {R1}\n  - path_regex: \\.secret\\.yaml$\n"
        f"    age: {R1}\n")
    (tmp_path / "prod").mkdir()
    leaked = tmp_path / "prod" / "db.yaml"
    leaked.write_text("password: plain\n")
    free = tmp_path / "notes.yaml"
    free.write_text("a: 1\n")
    res = cli(["check-encrypted", str(leaked), str(free)], cwd=tmp_path)
    assert res.returncode == 1 and b"db.yaml" in res.stdout and b"notes.yaml" not in res.stdout
    assert b"plain" not in res.stdout
    assert cli(["encrypt", "-i", str(leaked)], cwd=tmp_path).returncode == 0
    assert cli(["check-encrypted", str(leaked), str(free)], cwd=tmp_path).returncode == 0
    res = cli(["config", "explain", str(tmp_path / "x.secret.yaml")], cwd=tmp_path)
    out = res.stdout.decode()
    assert res.returncode == 0
    assert "creation_rules[0]: skipped: path_regex '^prod/.*' does not match" in out
    assert "creation_rules[1]: USED" in out and R1 in out


def test_keygen_creates_once_at_sops_path(tmp_path, cli, base_env, sops):
    env = {k: v for k, v in base_env.items() if k != "SOPS_AGE_KEY_FILE"}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home" / ".config")
    res = cli(["keygen"], env=env)
    assert res.returncode == 0, res.stderr
    recipient = res.stdout.decode().strip()
    path = Path(env["XDG_CONFIG_HOME"]) / "sops" / "age" / "keys.txt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and recipient.startswith("age1")
    before = path.read_bytes()
    again = cli(["keygen"], env=env)
    assert again.returncode == 3 and path.read_bytes() == before
    # sops finds the new identity where it looks by default.
    f = tmp_path / "x.yaml"
    f.write_text("k: v\n")
    assert cli(["encrypt", "-i", "--age", recipient, str(f)], env=env).returncode == 0
    assert sops(["decrypt", str(f)], env=env).stdout == b"k: v\n"


def test_daily_use_rough_edges(enc, tmp_path, cli):
    # A value that is not JSON: say how to quote it, name no flag that does not exist.
    res = cli(["set", str(enc), '["db"]["password"]', "hunter3"])
    err = res.stderr.decode()
    assert res.returncode == 7 and "--set" not in err and "'\"hunter2\"'" in err
    # keys: groups count from 0, as `groups delete` and the data-key report do; CI can fail on age.
    # (keys reads metadata only: an old lastmodified makes an age-only data key old.)
    import re
    enc.write_text(re.sub(r"lastmodified: \S+", 'lastmodified: "2020-01-01T00:00:00Z"', enc.read_text()))
    res = cli(["keys", "--max-age", "30d", "--fail-on-old", str(enc)])
    assert res.returncode == 10 and b"    group 0  age" in res.stdout
    assert cli(["keys", "--max-age", "99y", "--fail-on-old", str(enc)]).returncode == 0
    # updatekeys --dry-run shows the data key's age.
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {R1},{age_recipient(2)}\n")
    res = cli(["updatekeys", "--dry-run", str(enc)], cwd=tmp_path)
    assert res.returncode == 0 and b"Group 0\n" in res.stdout and b"(data key " in res.stdout
    assert re.search(rb"\(data key \d+ days old\)", res.stdout)
