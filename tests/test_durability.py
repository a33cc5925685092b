"""Crashes and full disks: the file is always the complete old or the complete new one.

* kill -9 at random points (seeded) of ``encrypt -i``, ``rotate -i``,
  ``set``, ``updatekeys -y`` and ``edit``: half the kills at a random time
  within the command's measured run time, half the moment a temp file of
  ours appears next to the target (inside the write).  After every kill the
  file decrypts with its MAC checked and holds the old or the new data; the
  next successful write leaves no temp file behind (the sweep).
* A real full disk: a small tmpfs mounted for the test.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import KEYS, age_recipient

from secretsctl import api

SEED = 14
KILLS_PER_COMMAND = 6  # 30 in all


def _data(path: Path) -> object | None:
    """The decrypted data (MAC checked), or None if the file is not encrypted."""
    rt = api.Runtime(environ={"SOPS_AGE_KEY_FILE": str(KEYS / "age-test-1.txt")})
    if b"sops" not in path.read_bytes():
        return None
    return api.decrypt_file(str(path), runtime=rt).data()


def _temps(d: Path) -> list[str]:
    return [n for n in os.listdir(d) if n.startswith(".secretsctl-")]


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "secretsctl", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, d: Path, known: set[str], rng: random.Random,
               duration: float, on_temp: bool) -> None:
    """SIGKILL ``proc`` at a random moment, or once a new temp file of ours shows up in ``d``."""
    # ``known``: left by earlier kills (the sweep of the next successful write removes them)
    deadline = time.monotonic() + (duration * 2 if on_temp else rng.uniform(0, duration))
    while time.monotonic() < deadline and proc.poll() is None:
        if on_temp and set(_temps(d)) - known:
            time.sleep(rng.uniform(0, 0.001))
            break
        time.sleep(0.0005 if on_temp else 0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def _big_doc() -> str:
    return "".join(f"key{n}: value-{n}-{'x' * 40}\n" for n in range(400))


def _editor(tmp_path: Path) -> str:
    script = tmp_path / "editor.sh"
    script.write_text('#!/bin/sh\necho "edited: yes" >> "$1"\n')
    script.chmod(0o755)
    return str(script)


def _commands(tmp_path: Path, env: dict[str, str]) -> dict[str, tuple[list[str], dict, Callable]]:
    """name -> (args after the file, env, expected new data from the old data)."""
    plus = lambda extra: (lambda old: {**old, **extra})  # noqa: E731
    same = lambda old: old  # noqa: E731
    return {
        "encrypt": (["encrypt", "-i", "--age", age_recipient(1)], env, same),
        "rotate": (["rotate", "-i"], env, same),
        "set": (["set", None, '["added"]', '"new"'], env, plus({"added": "new"})),
        "updatekeys": (["updatekeys", "-y"], env, same),
        "edit": (["edit"], dict(env, EDITOR=_editor(tmp_path)), plus({"edited": "yes"})),
    }


def _argv(args: list, target: Path) -> list[str]:
    if None in args:
        return [str(target) if a is None else a for a in args]
    return [*args, str(target)]


@pytest.mark.parametrize("name", ["encrypt", "rotate", "set", "updatekeys", "edit"])
def test_kill_9_leaves_old_or_new_file(name, cli, base_env, tmp_path):
    rng = random.Random(f"{SEED}-{name}")
    d = tmp_path / "repo"
    d.mkdir()
    (d / ".sops.yaml").write_text(f"creation_rules:\n  - age: {age_recipient(1)},{age_recipient(2)}\n")
    target = d / "s.yaml"
    target.write_text(_big_doc())
    if name != "encrypt":
        assert cli(["encrypt", "-i", "--age", age_recipient(1), str(target)]).returncode == 0
    pristine = target.read_bytes()
    args, env, new_of = _commands(tmp_path, base_env)[name]
    old_data = _data(target) if name != "encrypt" else None
    expected_new = new_of(old_data if old_data is not None else _plain_data(target))
    start = time.monotonic()
    proc = _spawn(_argv(args, target), env)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    duration = time.monotonic() - start
    for n in range(KILLS_PER_COMMAND):
        target.write_bytes(pristine)
        known = set(_temps(d))
        proc = _spawn(_argv(args, target), env)
        _kill_when(proc, d, known, rng, duration, on_temp=n % 2 == 1)
        now = target.read_bytes()
        if now != pristine:  # not the old file: then the complete new one
            assert _data(target) == expected_new, f"kill {n}: neither the old nor the new file"
        elif old_data is not None:
            assert _data(target) == old_data
    target.write_bytes(pristine)
    proc = _spawn(_argv(args, target), env)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert _data(target) == expected_new
    assert _temps(d) == [], "the next successful write sweeps what the kills left"
    _remove_our_edit_dirs()


def _remove_our_edit_dirs() -> None:
    """A killed edit cannot remove its plaintext directory (SECURITY.md); this test's only."""
    from secretsctl.editor import DIR_PREFIX, temp_root
    for leftover in Path(temp_root()).glob(f"{DIR_PREFIX}*"):
        mine = leftover / "s.yaml"
        try:
            if mine.read_text().startswith("key0: value-0-"):
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _plain_data(path: Path) -> object:
    from secretsctl.formats import make_store
    from secretsctl.formats import StoreOptions
    from secretsctl.tree import to_python
    return to_python(make_store("yaml", StoreOptions()).load_plain(path.read_bytes())[0])


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 96 KiB tmpfs: a real ENOSPC (we run as root in CI; fail loudly otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0755", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"the full-disk test mounts a small tmpfs and needs root: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_keeps_the_original(cli, full_disk):
    target = full_disk / "s.yaml"
    target.write_text("a: 1\n")
    assert cli(["encrypt", "-i", "--age", age_recipient(1), str(target)]).returncode == 0
    original = target.read_bytes()
    big = '"' + "y" * 100_000 + '"'
    res = cli(["set", str(target), '["big"]', big])
    assert res.returncode == 3, res.stderr
    assert b"No space left on device" in res.stderr and res.stderr.count(b"\n") == 1
    assert target.read_bytes() == original and os.listdir(full_disk) == ["s.yaml"]
    # encrypt -i of a plaintext that fits, but whose ciphertext does not
    plain = full_disk / "p.yaml"
    plain.write_text("".join(f"k{n}: {'v' * 60}\n" for n in range(600)))
    before = plain.read_bytes()
    res = cli(["encrypt", "-i", "--age", age_recipient(1), str(plain)])
    assert res.returncode == 3, res.stderr
    assert plain.read_bytes() == before and sorted(os.listdir(full_disk)) == ["p.yaml", "s.yaml"]
