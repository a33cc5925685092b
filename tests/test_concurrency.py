"""Concurrent writers on one machine: no exit-0 update is ever lost; stale temp files go.

Real processes (``python -m secretsctl``) race on one file; the file's
lock (secretsctl/locking.py) serialises them from read to rename.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from conftest import age_recipient

from secretsctl import fileio, locking
from secretsctl.errors import FileLocked

WRITERS = 8
ROUNDS = 3


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "secretsctl", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, bytes]]:
    return [(p.wait(timeout=120), p.communicate()[1]) for p in procs]


@pytest.fixture
def secrets_file(cli, tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    plain = tmp_path / "repo" / "s.yaml"
    plain.write_text("orig: value\n")
    res = cli(["encrypt", "-i", "--age", age_recipient(1), str(plain)])
    assert res.returncode == 0, res.stderr
    return plain


def _decrypted(cli, path: Path) -> dict:
    res = cli(["decrypt", "--output-type", "json", str(path)])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith(".secretsctl-"))


def test_concurrent_sets_lose_nothing(cli, base_env, secrets_file):
    """8 writers at once, 3 rounds: every set that exited 0 is in the file (issue 14: 6 of 20 were lost)."""
    succeeded: list[str] = []
    for round_ in range(ROUNDS):
        keys = [f"k{round_}_{n}" for n in range(WRITERS)]
        procs = [_spawn(["set", str(secrets_file), f'["{k}"]', json.dumps(f"v-{k}")], base_env)
                 for k in keys]
        for key, (code, err) in zip(keys, _finish(procs)):
            # Under the lock a writer waits instead of failing, so all of them succeed.
            assert code == 0, err
            succeeded.append(key)
    data = _decrypted(cli, secrets_file)
    assert [k for k in succeeded if data.get(k) != f"v-{k}"] == []
    assert data["orig"] == "value"
    assert os.listdir(secrets_file.parent) == ["s.yaml"]  # no lock or temp file left beside it


def _enc_line(path: Path, key: str) -> str:
    return next(l for l in path.read_text().splitlines() if l.startswith(f"{key}:"))


def test_concurrent_rotate_and_sets(cli, base_env, secrets_file):
    """A rotation, four sets and an updatekeys racing: the new data key, the new key and every set survive."""
    (secrets_file.parent / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {age_recipient(1)},{age_recipient(2)}\n")
    before = _enc_line(secrets_file, "orig")
    for round_ in range(2):
        procs = [_spawn(["rotate", "-i", str(secrets_file)], base_env)]
        keys = [f"r{round_}_{n}" for n in range(4)]
        procs += [_spawn(["set", str(secrets_file), f'["{k}"]', '"x"'], base_env) for k in keys]
        procs.append(_spawn(["updatekeys", "-y", str(secrets_file)], base_env))
        for code, err in _finish(procs):
            assert code == 0, err
        data = _decrypted(cli, secrets_file)
        assert all(data.get(k) == "x" for k in keys), data
    # set keeps the data key and the IVs of unchanged values: only the rotations changed this line.
    assert _enc_line(secrets_file, "orig") != before
    assert age_recipient(2) in secrets_file.read_text()  # updatekeys' change survived too
    assert _temp_files(secrets_file.parent) == []


def test_writer_waits_for_the_lock_then_writes(tmp_path):
    """In-process: a held lock makes the writer wait, not fail and not overwrite."""
    p = tmp_path / "f"
    p.write_bytes(b"old")
    released = threading.Event()

    def hold() -> None:
        with fileio.updating(str(p)) as upd:
            time.sleep(0.5)
            upd.write(b"first")
        released.set()
    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.1)
    start = time.monotonic()
    with pytest.raises(fileio.FileChanged):  # it saw "old"; the holder wrote "first" meanwhile
        fileio.write_if_unchanged(str(p), b"old", b"second")
    assert released.is_set() and time.monotonic() - start >= 0.3
    t.join()
    assert p.read_bytes() == b"first"


@contextmanager
def _locked_by_another_process(path: Path) -> Iterator[None]:
    """A live process holding an exclusive flock on ``path`` for the block's duration."""
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl, sys, time; f = open(sys.argv[1]); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
                               str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"locked\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_lock_timeout_is_a_clean_error(tmp_path, monkeypatch):
    p = tmp_path / "f"
    p.write_bytes(b"old")
    monkeypatch.setattr(locking, "LOCK_TIMEOUT", 0.2)
    with _locked_by_another_process(p):
        with pytest.raises(FileLocked) as info:
            with fileio.updating(str(p)):
                pass
        assert info.value.exit_code == 1 and "holds the lock" in info.value.message
    assert p.read_bytes() == b"old"


def test_lock_follows_a_replaced_file(tmp_path):
    """A waiter whose locked inode was renamed away locks the new file (no double holder)."""
    p = tmp_path / "f"
    p.write_bytes(b"1")
    order: list[str] = []

    def writer(name: str) -> None:
        with fileio.updating(str(p)) as upd:
            order.append(upd.before.decode())
            time.sleep(0.05)
            upd.write(str(int(upd.before) + 1).encode())
    threads = [threading.Thread(target=writer, args=(str(n),)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(order) == ["1", "2", "3", "4", "5", "6"] and p.read_bytes() == b"7"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_write_sweeps_only_our_stale_temp_files(cli, base_env, secrets_file):
    d = secrets_file.parent
    dead = d / f".secretsctl-{_dead_pid()}-abc123.tmp"       # kill -9 leftover of this version
    old = d / ".secretsctl-q9x8w7.tmp"                         # older version's name, 10 min old
    young = d / ".secretsctl-z1y2x3.tmp"                       # older version's, maybe still writing
    live = d / f".secretsctl-{os.getpid()}-live01.tmp"         # this (live) process's name
    foreign = [d / ".secretsctl-notes.txt", d / ".other-123-abc.tmp", d / "secretsctl-1-a.tmp"]
    for f in (dead, old, young, live, *foreign):
        f.write_bytes(b"ENC[...]")
    os.utime(old, (time.time() - 600, time.time() - 600))
    locked_by_writer = d / f".secretsctl-{_dead_pid()}-held01.tmp"  # dead pid in the name, but locked
    locked_by_writer.write_bytes(b"x")
    with _locked_by_another_process(locked_by_writer):
        res = cli(["set", str(secrets_file), '["k"]', '"v"'])
        assert res.returncode == 0, res.stderr
    left = set(os.listdir(d))
    assert dead.name not in left and old.name not in left
    assert {young.name, live.name, locked_by_writer.name, *(f.name for f in foreign)} <= left
