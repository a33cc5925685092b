"""A real terminal editor: Debian's vim under tmux edits a file through ``secretsctl edit``.

The user's vimrc turns on swap, undo, backup and viminfo files in $HOME;
secretsctl must start vim so that none of them is written.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from conftest import age_recipient

from secretsctl import editor

VIMRC = """\
set swapfile directory=~/swap// undofile undodir=~/undo backup writebackup backupdir=~/backup
set updatecount=1 viminfo='100 viminfofile=~/viminfo
"""


def tmux(sock: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-S", sock, *args], capture_output=True, text=True, timeout=30)


def wait_for(cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_vim_edit_under_tmux(sops, base_env, tmp_path):
    home = Path(base_env["HOME"])
    for d in ("swap", "undo", "backup"):
        (home / d).mkdir()
    (home / ".vimrc").write_text(VIMRC)
    src = tmp_path / "plain.yaml"
    src.write_text("user: admin\npassword: old-secret\n")
    res = sops(["encrypt", "--age", age_recipient(1), str(src)])
    assert res.returncode == 0, res.stderr
    # A unique name: the temp copy has the same base name, so a leftover can
    # be found even while other test runs edit files under /dev/shm too.
    target = tmp_path / f"app-{os.getpid()}-{time.monotonic_ns()}.yaml"
    target.write_bytes(res.stdout)
    before = target.read_bytes()

    rc_file = tmp_path / "rc"
    env = dict(base_env, EDITOR="vim", TERM="xterm")
    command = " ".join(shlex.quote(a) for a in
                       ["env", *(f"{k}={v}" for k, v in env.items()),
                        sys.executable, "-m", "secretsctl", "edit", str(target)])
    sock = str(tmp_path / "tmux.sock")
    try:
        r = tmux(sock, "new-session", "-d", "-x", "120", "-y", "40",
                 f"{command}; echo $? > {shlex.quote(str(rc_file))}")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: "password: old-secret" in tmux(sock, "capture-pane", "-p").stdout,
                 "vim to show the decrypted file")
        copies = list(Path(editor.temp_root()).glob(f"{editor.DIR_PREFIX}*/{target.name}"))
        assert len(copies) == 1 and copies[0].stat().st_mode & 0o777 == 0o600
        tmux(sock, "send-keys", ":%s/old-secret/new-secret/", "Enter")
        tmux(sock, "send-keys", ":wq", "Enter")
        wait_for(rc_file.exists, "secretsctl to exit")
    finally:
        tmux(sock, "kill-server")
    assert rc_file.read_text().strip() == "0"
    assert target.read_bytes() != before
    plain = sops(["decrypt", str(target)])
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == b"user: admin\npassword: new-secret\n"
    # vim wrote nothing beside the file (swap/undo/backup/viminfo) ...
    leaked = [p for p in home.rglob("*") if p.is_file() and p.name != ".vimrc"]
    assert leaked == []
    # ... and the private temp dir is gone.
    root = Path(editor.temp_root())
    assert list(root.glob(f"{editor.DIR_PREFIX}*/{target.name}")) == []
