"""Atomic writes: a failure at any step leaves the old file intact and no temp file."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from secretsctl import fileio
from secretsctl.errors import OutputError


def test_new_file_is_private(tmp_path):
    p = tmp_path / "x"
    fileio.write_atomic(str(p), b"data")
    assert p.read_bytes() == b"data" and stat.S_IMODE(p.stat().st_mode) == 0o600


def test_existing_mode_is_kept(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"old")
    p.chmod(0o640)
    fileio.write_atomic(str(p), b"new")
    assert p.read_bytes() == b"new" and stat.S_IMODE(p.stat().st_mode) == 0o640


@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
def test_failure_keeps_old_file(step, tmp_path, monkeypatch):
    """Each syscall faked to fail (the real full disk: tests/test_durability.py)."""
    p = tmp_path / "x"
    p.write_bytes(b"old contents")

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fileio.os, step, boom)
    with pytest.raises(OutputError) as info:
        fileio.write_atomic(str(p), b"new contents")
    assert info.value.exit_code == 3
    monkeypatch.undo()
    assert p.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["x"]
