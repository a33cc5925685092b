"""Helpers for tests that run real sops clients (makes, sopsy, community.sops).

Each client is run twice on the same files: once with the real Go sops
first on PATH (``real_sops_dir``), once with the two-line shim that execs
secretsctl (``sops_shim_dir``).  The real run is checked against what the
test expects first, so a failure says which side broke; then the shim run
must give the same result.

The third-party sources the clients need beyond their wheels (sopsy's test
suite, the community.sops collection) are unpacked by scripts/setup
(scripts/client_sources.py) under ``<venv>/clients``.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

SIDES = ("real", "shim")
# The virtualenv's own bin (ansible-playbook, python) and the system's (bash, jq).
VENV_BIN = Path(sys.executable).parent


def clients_dir() -> Path:
    """``<venv>/clients``, where scripts/client_sources.py unpacks (same rule as there)."""
    return Path(sys.prefix) / "clients"


def client_source(name: str) -> Path:
    """A directory unpacked by scripts/setup; missing means the set-up was not run."""
    path = clients_dir() / name
    if not path.is_dir():
        pytest.fail(f"{path} is missing: run scripts/setup (scripts/client_sources.py)")
    return path


def sops_dirs(real_sops_dir: Path, sops_shim_dir: Path) -> dict[str, Path]:
    """The directory to put first on PATH for each side."""
    return {"real": real_sops_dir, "shim": sops_shim_dir}


def path_env(env: dict[str, str], bindir: Path, **extra: str) -> dict[str, str]:
    """``env`` with ``bindir`` (whose ``sops`` the client runs) first on PATH."""
    path = [str(bindir), str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")]
    return {**env, "PATH": ":".join(path), **extra}


def recording_sops_dir(bindir: Path, target: Path, log: Path) -> Path:
    """``bindir/sops``: appends its argv to ``log``, then execs ``target``.

    Each argument ends in NUL and each call in RS (0x1e), so any argument,
    the empty one included, reads back as it was.  This is how
    docs/clients-command-lines.md was captured.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "sops"
    shim.write_text("#!/bin/sh\n"
                    f"{{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; printf '\\036'; }}"
                    f" >> {shlex.quote(str(log))}\n"
                    f'exec {shlex.quote(str(target))} "$@"\n')
    shim.chmod(0o755)
    return bindir


def recorded_calls(log: Path, replace: dict[str, str] | None = None) -> list[list[str]]:
    """The argv lists a recording shim saw, each ``replace`` key (a tmp dir, say)
    replaced by its value so that they compare with the documented calls."""
    if not log.exists():
        return []
    calls = []
    for record in log.read_bytes().split(b"\x1e")[:-1]:
        argv = [a.decode() for a in record.split(b"\0")[:-1]]
        for old, new in (replace or {}).items():
            argv = [a.replace(old, new) for a in argv]
        calls.append(argv)
    return calls


def pre_3_9_sops_dir(bindir: Path, target: Path) -> Path:
    """``bindir/sops``: fails ``--version`` as sops before 3.8 did, else execs ``target``.

    community.sops then takes the binary for sops 3.7.3 and sends the legacy
    flag form (``--decrypt F``, ``--encrypt /dev/stdin``), which any sops a
    user still has installed gets.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "sops"
    shim.write_text('#!/bin/sh\n[ "$1" = --version ] && exit 1\n'
                    f'exec {shlex.quote(str(target))} "$@"\n')
    shim.chmod(0o755)
    return bindir
