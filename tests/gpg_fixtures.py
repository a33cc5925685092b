"""gpg fixtures shared by the key-source tests (loaded as a pytest plugin).

``pgp_home`` holds the vector PGP key (v8) plus one key generated per
session, so the tests prove we read keys made elsewhere and depend on no
fixed keyring.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import VECTORS


VECTOR_PGP_FPR = "99D9B1802CC7B50739D11CB56F81B3FF551CF1BC"


def make_pgp_home(home: Path) -> list[str]:
    """A GNUPGHOME with the vector PGP key plus one freshly generated key.

    The vector key (v8) proves we read keys made elsewhere; the generated
    key proves nothing depends on a fixed keyring.  Returns the
    fingerprints, vector key first.
    """
    home.mkdir(mode=0o700, exist_ok=True)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    subprocess.run([*gpg, "--import", str(VECTORS / "pgp-test-secret-key.asc")],
                   check=True, capture_output=True)
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key",
                    "secretsctl generated test key <gen@secretsctl.invalid>",
                    "future-default", "default", "never"], check=True, capture_output=True)
    out = subprocess.run([*gpg, "--list-secret-keys", "--with-colons"], check=True,
                         capture_output=True, text=True).stdout
    fprs, want = [], False
    for line in out.splitlines():
        f = line.split(":")
        if f[0] == "sec":
            want = True
        elif f[0] == "fpr" and want:
            fprs.append(f[9])
            want = False
    assert fprs[0] == VECTOR_PGP_FPR and len(fprs) == 2
    return fprs


def kill_agent(home: str | Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


@pytest.fixture(scope="session")
def pgp_home(tmp_path_factory):
    """(GNUPGHOME, [vector fpr, generated fpr]) — both keys can encrypt."""
    home = tmp_path_factory.mktemp("pgphome") / "gnupg"
    fprs = make_pgp_home(home)
    yield str(home), fprs
    kill_agent(home)


@pytest.fixture
def empty_gnupg_home(tmp_path):
    home = tmp_path / "emptygnupg"
    home.mkdir(mode=0o700)
    yield str(home)
    kill_agent(home)
