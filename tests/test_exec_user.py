"""``exec-env``/``exec-file --user NAME``: the child runs as that user (sops 3.13.2).

A throwaway system user with a supplementary group is created for the
session (``useradd``) and removed afterwards.  The child reports its
``id -u``, ``id -G``, ``$HOME``, ``$USER`` and ``$LOGNAME``.  The refusal path
runs secretsctl itself as that user (``setpriv``); it is given the one
capability ``dac_read_search`` so that it can still read an interpreter kept
under a private home (``/root/...``), while its euid is not 0.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import age_recipient


@dataclass(frozen=True)
class ThrowawayUser:
    name: str
    uid: int
    gid: int
    supplementary_gid: int
    home: str


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} is not installed (util-linux/passwd)")
    return path


@pytest.fixture(scope="session")
def throwaway_user(tmp_path_factory: pytest.TempPathFactory):
    if os.geteuid() != 0:
        pytest.fail("the --user tests create a system user and need root (as CI and the dev "
                    "container run)")
    tag = uuid.uuid4().hex[:6]
    name, group = f"sctl-{tag}", f"sctl-g-{tag}"
    home = tmp_path_factory.mktemp("user-home") / name
    subprocess.run([_tool("groupadd"), "--system", group], check=True)
    try:
        subprocess.run([_tool("useradd"), "--system", "--user-group", "--groups", group,
                        "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
                       check=True)
        import grp
        import pwd
        entry = pwd.getpwnam(name)
        yield ThrowawayUser(name, entry.pw_uid, entry.pw_gid, grp.getgrnam(group).gr_gid, str(home))
        subprocess.run([_tool("userdel"), "--remove", name], check=True, capture_output=True)
    finally:
        subprocess.run([_tool("groupdel"), group], capture_output=True)


@pytest.fixture
def secret_file(cli, tmp_path: Path) -> Path:
    src = tmp_path / "plain.yaml"
    # HOME in the secrets: the user's HOME wins, as in sops (it is appended after them).
    src.write_text("A: one\nHOME: from-the-secrets\n")
    res = cli(["encrypt", "--age", age_recipient(1), str(src)])
    assert res.returncode == 0, res.stderr
    target = tmp_path / "s.yaml"
    target.write_bytes(res.stdout)
    os.chmod(tmp_path, 0o755)  # the child (as the user) only needs to enter the cwd
    return target


REPORT = 'id -u; id -G; echo "$HOME|$USER|$LOGNAME|$A"'


def _report(user: ThrowawayUser) -> list[str]:
    return [str(user.uid), f"{user.gid} {user.supplementary_gid}",
            f"{user.home}|{user.name}|{user.name}|one"]


@pytest.mark.parametrize("extra", [[], ["--same-process"], ["--pristine"]])
def test_exec_env_runs_as_user(cli, secret_file, throwaway_user, extra):
    res = cli(["exec-env", "--user", throwaway_user.name, *extra, str(secret_file), REPORT],
              cwd=secret_file.parent)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == _report(throwaway_user)


def test_exec_env_argv_form_and_exit_status(cli, secret_file, throwaway_user):
    res = cli(["exec-env", "--user", throwaway_user.name, str(secret_file), "--",
               "sh", "-c", 'test "$(id -u)" = ' + str(throwaway_user.uid) + " && exit 7"],
              cwd=secret_file.parent)
    assert res.returncode == 7, res.stderr


@pytest.mark.parametrize("fifo", [[], ["--no-fifo"]])
def test_exec_file_runs_as_user(cli, secret_file, throwaway_user, fifo):
    # The private directory is made after the switch, so the user owns it and can read the file.
    script = REPORT.replace("$A", "x") + '; cat {}; stat -c %U "$(dirname {})"'
    res = cli(["exec-file", "--user", throwaway_user.name, *fifo, str(secret_file), script],
              cwd=secret_file.parent)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    want = _report(throwaway_user)
    assert lines[:3] == want[:2] + [want[2].replace("|one", "|x")]
    assert lines[3:] == ["A: one", "HOME: from-the-secrets", throwaway_user.name]


@pytest.mark.parametrize("command", ["exec-env", "exec-file"])
def test_refused_when_not_root(secret_file, throwaway_user, base_env, command):
    # Relative names: the pytest directories above the cwd are root's (0700).
    marker = secret_file.parent / "ran"
    argv = [_tool("setpriv"), f"--reuid={throwaway_user.uid}", f"--regid={throwaway_user.gid}",
            "--init-groups", "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
            sys.executable, "-m", "secretsctl", command, "--user", "root", secret_file.name,
            "touch ran"]
    res = subprocess.run(argv, env=base_env, capture_output=True, cwd=secret_file.parent, timeout=60)
    assert res.returncode == 1
    assert res.stdout == b"" and not marker.exists()
    assert res.stderr.decode() == (f"secretsctl: error: --user root needs root (secretsctl runs as "
                                   f"uid {throwaway_user.uid}): run it with sudo, or drop --user\n")


def test_unknown_user(cli, secret_file):
    res = cli(["exec-env", "--user", "no-such-user-" + uuid.uuid4().hex[:6], str(secret_file), "true"])
    assert res.returncode == 1
    assert res.stderr.decode().startswith("secretsctl: error: --user: unknown user 'no-such-user-")
    assert res.stderr.count(b"\n") == 1


def test_empty_user_is_refused(cli, secret_file):
    # sops treats --user '' as no --user and runs the command as root.
    marker = secret_file.parent / "ran"
    res = cli(["exec-env", "--user", "", str(secret_file), f"touch {marker}"])
    assert res.returncode == 1 and not marker.exists()
    assert res.stderr == b"secretsctl: error: --user needs a user name\n"
