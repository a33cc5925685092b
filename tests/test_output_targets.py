"""Where output goes: special files, symlinks, owners, standard output; sops as the judge.

``--output`` and ``-i`` rename a temp file over a regular file only; a
device, FIFO or ``/dev/stdout`` is written into (replacing ``/dev/null``
as root would be a disaster).  Standard output failures are one line and
exit 3, a reader that leaves early gives 141.  Also the Shamir threshold's
range, which bounds what ``--shamir-secret-sharing-threshold`` may write.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import age_recipient

from secretsctl import fileio

PLAIN = b"a: 1\nb: hello\n"
AGE = ["--age", age_recipient(1)]
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (mknod, chown)")


@pytest.fixture
def tools(sops_bin):
    """argv prefixes of both implementations."""
    return {"secretsctl": [sys.executable, "-m", "secretsctl"], "sops": [sops_bin]}


@pytest.fixture
def enc(tmp_path, cli) -> Path:
    src = tmp_path / "enc.yaml"
    src.write_bytes(PLAIN)
    assert cli(["encrypt", *AGE, "-i", str(src)]).returncode == 0
    return src


def run(argv, env, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(argv, check=False, env=env, stderr=subprocess.PIPE, timeout=60, **kw)


def one_line(proc, code: int, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.startswith("secretsctl: error: ") and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n.lower() in err.lower(), err
    return err


# ------------------------------------------------------------ special files

@needs_root
@pytest.mark.parametrize("tool", ["secretsctl", "sops"])
def test_char_device_is_written_into(tool, tools, enc, tmp_path, base_env):
    null = tmp_path / "mynull"
    os.mknod(null, stat.S_IFCHR | 0o644, os.makedev(1, 3))
    proc = run([*tools[tool], "decrypt", "--output", str(null), str(enc)], base_env)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(null.lstat().st_mode) and null.lstat().st_rdev == os.makedev(1, 3)
    assert sorted(os.listdir(tmp_path)) == ["enc.yaml", "home", "mynull"]  # no temp file left


@pytest.mark.parametrize("tool", ["secretsctl", "sops"])
def test_fifo_is_written_into(tool, tools, enc, tmp_path, base_env):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run([*tools[tool], "decrypt", "--output", str(fifo), str(enc)], base_env)
    reader.join(10)
    assert proc.returncode == 0, proc.stderr
    assert got == [PLAIN] and stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("tool", ["secretsctl", "sops"])
def test_symlink_loop_is_an_error(tool, tools, enc, tmp_path, base_env):
    loop = tmp_path / "loop"
    os.symlink("loop", loop)
    proc = run([*tools[tool], "decrypt", "--output", str(loop), str(enc)], base_env)
    assert proc.returncode == 3
    assert b"too many levels of symbolic links" in proc.stderr.lower()
    if tool == "secretsctl":
        one_line(proc, 3, f"{loop}: ")
    assert os.readlink(loop) == "loop"


@pytest.mark.parametrize("tool", ["secretsctl", "sops"])
def test_dev_stdout_and_process_substitution(tool, tools, enc, base_env):
    proc = run([*tools[tool], "decrypt", "--output", "/dev/stdout", str(enc)], base_env)
    assert (proc.returncode, proc.stdout) == (0, PLAIN), proc.stderr
    # `--output >(cmd)`: the shell passes a pipe as /dev/fd/N.
    r, w = os.pipe()
    try:
        proc = run([*tools[tool], "decrypt", "--output", f"/dev/fd/{w}", str(enc)], base_env,
                   pass_fds=(w,))
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            assert (proc.returncode, fh.read()) == (0, PLAIN), proc.stderr
    finally:
        for fd in (r, w):
            try:
                os.close(fd)
            except OSError:
                pass


def test_directory_output_names_the_path(enc, tmp_path, cli):
    target = tmp_path / "adir"
    target.mkdir()
    one_line(cli(["decrypt", "--output", str(target), str(enc)]), 3, f"{target}: ")


def test_symlink_to_a_file_is_written_through(enc, tmp_path, cli):
    real = tmp_path / "real.yaml"
    real.write_bytes(b"old")
    link = tmp_path / "link.yaml"
    os.symlink("real.yaml", link)
    assert cli(["decrypt", "--output", str(link), str(enc)]).returncode == 0
    assert os.readlink(link) == "real.yaml" and real.read_bytes() == PLAIN
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


# ------------------------------------------------------------ owner, links

@needs_root
@pytest.mark.parametrize("tool", ["secretsctl", "sops"])
def test_in_place_keeps_owner_and_group(tool, tools, tmp_path, base_env):
    f = tmp_path / "f.yaml"
    f.write_bytes(PLAIN)
    os.chown(f, 65534, 65534)
    f.chmod(0o640)
    proc = run([*tools[tool], "encrypt", *AGE, "-i", str(f)], base_env)
    assert proc.returncode == 0, proc.stderr
    st = f.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert b"ENC[" in f.read_bytes()


def _fake_stat(gid: int) -> os.stat_result:
    fields = list(os.stat("/"))
    fields[5] = gid  # st_gid
    return os.stat_result(fields)


def test_owner_that_cannot_be_kept_narrows_the_group(tmp_path, monkeypatch):
    """A user may not give a file away: the write succeeds, and a group that
    could not be kept loses its bits instead of going to our own group."""
    def refuse(*a):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(fileio.os, "fchown", refuse)
    with open(tmp_path / "t", "wb") as fh:
        own_gid = os.fstat(fh.fileno()).st_gid
        assert fileio._keep_owner(fh.fileno(), _fake_stat(own_gid), 0o640) == 0o640
        assert fileio._keep_owner(fh.fileno(), _fake_stat(own_gid + 1), 0o640) == 0o600


def test_in_place_write_survives_refused_chown(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio.os, "fchown", lambda *a: (_ for _ in ()).throw(PermissionError(1, "no")))
    p = tmp_path / "x"
    p.write_bytes(b"old")
    p.chmod(0o640)
    fileio.write_atomic(str(p), b"new")
    assert p.read_bytes() == b"new" and stat.S_IMODE(p.stat().st_mode) == 0o640


def test_hard_link_keeps_old_contents(tmp_path, cli):
    """Documented difference: the rename gives the file a new inode."""
    f = tmp_path / "f.yaml"
    f.write_bytes(PLAIN)
    other = tmp_path / "other.yaml"
    os.link(f, other)
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    assert b"ENC[" in f.read_bytes() and other.read_bytes() == PLAIN


# ------------------------------------------------------------ standard output

STDOUT_COMMANDS = [["decrypt", "{f}"], ["filestatus", "{f}"], ["keys", "{f}"]]


def _argv(cmd: list[str], enc: Path) -> list[str]:
    return [sys.executable, "-m", "secretsctl", *[a.format(f=enc) for a in cmd]]


@pytest.mark.parametrize("cmd", STDOUT_COMMANDS, ids=lambda c: c[0])
def test_full_stdout_is_one_line_exit_3(cmd, enc, base_env):
    with open("/dev/full", "wb") as full:
        proc = run(_argv(cmd, enc), base_env, stdout=full)
    one_line(proc, 3, "cannot write to standard output: no space left on device")


@pytest.mark.parametrize("cmd", STDOUT_COMMANDS, ids=lambda c: c[0])
def test_closed_stdout_is_one_line_exit_3(cmd, enc, base_env):
    proc = run(_argv(cmd, enc), base_env, stdout=None, preexec_fn=lambda: os.close(1))
    one_line(proc, 3, "cannot write to standard output: it is closed")


def test_closed_stdout_does_not_matter_without_output(tmp_path, base_env):
    f = tmp_path / "f.yaml"
    f.write_bytes(PLAIN)
    proc = run(_argv(["encrypt", *AGE, "-i", "{f}"], f), base_env, stdout=None,
               preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0, proc.stderr
    assert b"ENC[" in f.read_bytes() and proc.stderr == b""


@pytest.mark.parametrize("cmd", STDOUT_COMMANDS, ids=lambda c: c[0])
def test_closed_pipe_exits_141_quietly(cmd, enc, base_env, sops_bin):
    r, w = os.pipe()
    os.close(r)
    try:
        proc = run(_argv(cmd, enc), base_env, stdout=w)
        if cmd[0] == "decrypt":
            assert run([sops_bin, "decrypt", str(enc)], base_env, stdout=w).returncode == -13  # SIGPIPE
    finally:
        os.close(w)
    assert (proc.returncode, proc.stderr) == (141, b"")


def test_reader_leaving_mid_output_gives_141(tmp_path, cli, base_env):
    """A pipe write cut short returns a short count, not an error: the rest must still fail."""
    f = tmp_path / "big.yaml"
    f.write_bytes(b"big: " + b"x" * 3_000_000 + b"\n")
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    child = subprocess.Popen(_argv(["decrypt", "{f}"], f), env=base_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout.read(10) == b"big: xxxxx"
    child.stdout.close()
    err = child.stderr.read()
    assert (child.wait(60), err) == (141, b"")


def test_full_output_still_complete(tmp_path, cli):
    f = tmp_path / "big.yaml"
    body = b"big: " + b"x" * 3_000_000 + b"\n"
    f.write_bytes(body)
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    assert cli(["decrypt", str(f)]).stdout == body


# ------------------------------------------------------------ Shamir threshold

HUGE = "99999999999999999999"


@pytest.mark.parametrize("cmd", [
    ["encrypt", *AGE, "--shamir-secret-sharing-threshold", "{n}", "-i", "{f}"],
    ["set", "--shamir-secret-sharing-threshold", "{n}", "{f}", '["a"]', "2"],
    ["edit", "--shamir-secret-sharing-threshold", "{n}", "{f}"],
    ["updatekeys", "-y", "--shamir-secret-sharing-threshold", "{n}", "{f}"],
    ["groups", "add", "-f", "{f}", "--age", age_recipient(2), "-i", "--shamir-secret-sharing-threshold", "{n}"],
    ["groups", "delete", "-f", "{f}", "-i", "--shamir-secret-sharing-threshold", "{n}", "0"],
], ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("n", [HUGE, "256"])
def test_threshold_above_255_is_refused(cmd, n, tmp_path, cli):
    f = tmp_path / "f.yaml"
    f.write_bytes(PLAIN)
    proc = cli([a.format(n=n, f=f) for a in cmd])
    err = proc.stderr.decode()
    # A usage error: exit 1, as sops exits on a flag it cannot parse.
    assert proc.returncode == 1 and "not in the range x<=255" in err and "Traceback" not in err, err
    assert f.read_bytes() == PLAIN


def test_threshold_limits_against_sops(tmp_path, cli, sops):
    f = tmp_path / "f.yaml"
    f.write_bytes(PLAIN)
    # sops refuses what does not fit its int flag; nothing is written either way.
    assert sops(["encrypt", *AGE, "--shamir-secret-sharing-threshold", HUGE, str(f)]).returncode != 0
    assert cli(["encrypt", *AGE, "--shamir-secret-sharing-threshold", HUGE, str(f)]).returncode == 1
    # A negative value keeps its own error (exit 1, naming the file).
    one_line(cli(["encrypt", *AGE, "--shamir-secret-sharing-threshold", "-1", str(f)]), 1,
             "must be a non-negative integer")
    one_line(cli(["encrypt", *AGE, "--shamir-secret-sharing-threshold", "-" + HUGE, str(f)]), 1,
             "must be a non-negative integer")
    # 255 itself is accepted, and sops reads the result.
    out = tmp_path / "g.yaml"
    assert cli(["encrypt", *AGE, "--shamir-secret-sharing-threshold", "255", "--output", str(out),
                str(f)]).returncode == 0
    assert sops(["decrypt", str(out)]).stdout == PLAIN  # one group: the threshold is moot
