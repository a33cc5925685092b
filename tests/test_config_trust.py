"""A .sops.yaml that others could have written warns (one line) when it supplies the keys."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import age_recipient


def _repo(tmp_path: Path, mode: int = 0o644, dir_mode: int = 0o755, uid: int | None = None) -> Path:
    d = tmp_path / "repo"
    d.mkdir()
    cfg = d / ".sops.yaml"
    cfg.write_text(f"creation_rules:\n  - age: {age_recipient(1)}\n")
    cfg.chmod(mode)
    if uid is not None:
        os.chown(cfg, uid, -1)
    d.chmod(dir_mode)
    (d / "s.yaml").write_text("a: 1\n")
    return d


def _warnings(res) -> list[str]:
    return [l for l in res.stderr.decode().splitlines() if l.startswith("secretsctl: warning:")]


@pytest.mark.parametrize("setup, reason", [
    (dict(mode=0o666), "is writable by other users"),
    (dict(mode=0o664), "is writable by other users"),
    (dict(uid=12345), "is owned by another user (uid 12345)"),
    (dict(dir_mode=0o777), "is in a world-writable directory without the sticky bit"),
])
def test_untrusted_config_warns_once(cli, tmp_path, setup, reason):
    d = _repo(tmp_path, **setup)
    res = cli(["encrypt", str(d / "s.yaml")], cwd=d)
    assert res.returncode == 0, res.stderr
    warnings = _warnings(res)
    assert len(warnings) == 1 and res.stderr.decode().count("\n") == 1, res.stderr
    assert reason in warnings[0] and str(d / ".sops.yaml") in warnings[0]


def test_trusted_config_and_flag_keys_are_silent(cli, tmp_path):
    d = _repo(tmp_path, dir_mode=0o1777)  # sticky world-writable dir (/tmp) is fine
    res = cli(["encrypt", str(d / "s.yaml")], cwd=d)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    (d / ".sops.yaml").chmod(0o666)
    res = cli(["encrypt", "--age", age_recipient(1), str(d / "s.yaml")], cwd=d)
    assert res.returncode == 0 and res.stderr == b"", res.stderr  # the flags chose the keys


def test_updatekeys_warns_too(cli, tmp_path):
    d = _repo(tmp_path)
    assert cli(["encrypt", "-i", str(d / "s.yaml")], cwd=d).returncode == 0
    (d / ".sops.yaml").chmod(0o666)
    res = cli(["updatekeys", "-y", str(d / "s.yaml")], cwd=d)
    assert res.returncode == 0, res.stderr
    assert len(_warnings(res)) == 1
