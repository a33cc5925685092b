"""No core file holds plaintext: RLIMIT_CORE 0 and not dumpable; SIGQUIT/SIGABRT clean up.

The processes run with ``ulimit -c unlimited`` (set in preexec) in a
directory of their own, where ``core_pattern`` "core" puts a core file.
A control process with the same setup shows what would happen without the
protection.  The dumpable flag is observed by its effect: the test raises
the running process's core limit back to unlimited from outside (prlimit)
and crashes it with SIGSEGV; a dumpable process would leave a core.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import age_recipient

CORE_PATTERN = Path("/proc/sys/kernel/core_pattern").read_text().strip()
# A plain name ("core", "core.%p") puts the core in the crashing process's cwd.
CORES_IN_CWD = "/" not in CORE_PATTERN and not CORE_PATTERN.startswith("|")
MARKER = "MARKER-core-secret"


def _unlimited() -> None:
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if os.geteuid() == 0:
        hard = resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))  # ulimit -c unlimited


def _launch(argv: list[str], d: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=d, env=env, preexec_fn=_unlimited,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _core_limit(pid: int) -> str:
    line = next(l for l in Path(f"/proc/{pid}/limits").read_text().splitlines()
                if l.startswith("Max core file size"))
    return line.split()[4]  # soft limit column


def _cores(d: Path) -> list[str]:
    return [n for n in os.listdir(d) if n.startswith("core")]


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    return d


def test_control_without_protection_dumps_core(run_dir, base_env):
    """The setup works: an unprotected process has the limit and dumps a core."""
    proc = _launch([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                   run_dir, base_env)
    assert proc.stdout.readline() == b"up\n"
    assert _core_limit(proc.pid) == "unlimited"
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(timeout=30) == -signal.SIGQUIT
    if CORES_IN_CWD:
        assert _cores(run_dir), f"no core file written (core_pattern {CORE_PATTERN!r})"


def _editing(run_dir: Path, base_env: dict[str, str], cli) -> tuple[subprocess.Popen, str, str, int]:
    """``secretsctl edit`` waiting in an editor: (process, temp file, editor's core limit, editor pid)."""
    target = run_dir / "s.yaml"
    target.write_text(f"password: {MARKER}\n")
    res = cli(["encrypt", "-i", "--age", age_recipient(1), str(target)])
    assert res.returncode == 0, res.stderr
    editor, info = run_dir / "editor.sh", run_dir / "info"
    # Reports the temp file, its own core limit and pid, then waits like an open editor.
    editor.write_text(f'#!/bin/sh\n{{ echo "$1"; ulimit -c; echo $$; }} > {info}.part\n'
                      f'mv {info}.part {info}\nexec sleep 60\n')
    editor.chmod(0o755)
    proc = _launch([sys.executable, "-m", "secretsctl", "edit", str(target)], run_dir,
                   dict(base_env, EDITOR=str(editor)))
    _wait_for(info, proc)
    temp_file, editor_limit, editor_pid = info.read_text().split()
    assert MARKER in Path(temp_file).read_text()
    return proc, temp_file, editor_limit, int(editor_pid)


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGABRT])
def test_signal_during_edit_leaves_no_core_and_no_plaintext(run_dir, base_env, cli, sig):
    proc, temp_file, editor_limit, _ = _editing(run_dir, base_env, cli)
    assert _core_limit(proc.pid) == "0"  # in the process that holds the plaintext
    assert editor_limit == "0"  # the editor holds the plaintext too
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert err.decode().count("\n") == 1 and b"interrupted by" in err
    assert not os.path.exists(os.path.dirname(temp_file)), "edit temp directory left behind"
    assert _cores(run_dir) == []
    assert MARKER.encode() not in (run_dir / "s.yaml").read_bytes()


def test_not_dumpable_even_with_the_limit_raised_from_outside(run_dir, base_env, cli):
    """PR_SET_DUMPABLE 0: with RLIMIT_CORE put back to unlimited, a crash still dumps nothing."""
    proc, temp_file, _, editor_pid = _editing(run_dir, base_env, cli)
    try:
        resource.prlimit(proc.pid, resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)
        assert _core_limit(proc.pid) == "unlimited"
        proc.send_signal(signal.SIGSEGV)  # not handled: the kernel's default action, a core dump
        assert proc.wait(timeout=30) == -signal.SIGSEGV
        assert _cores(run_dir) == []
    finally:
        os.kill(editor_pid, signal.SIGKILL)
        shutil.rmtree(os.path.dirname(temp_file), ignore_errors=True)


def test_exec_env_child_gets_the_users_core_limit(run_dir, base_env, cli):
    """The user's program is not ours to restrict: its limit is what the user set (as with sops)."""
    target = run_dir / "s.yaml"
    target.write_text("password: x\n")
    assert cli(["encrypt", "-i", "--age", age_recipient(1), str(target)]).returncode == 0
    for args in (["exec-env", str(target), "ulimit -c"],
                 ["exec-env", "--same-process", str(target), "ulimit -c"]):
        proc = _launch([sys.executable, "-m", "secretsctl", *args], run_dir, base_env)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == b"unlimited", args
