"""Unpack the pinned third-party sources that tests/test_clients_*.py run.

Run by scripts/setup with the virtualenv's Python.  Two things are not on
PyPI in an installable form of their own, so they come from pinned PyPI
files, checked by sha256, and are unpacked under ``<venv>/clients/``
(never committed):

- sopsy's own test suite: its wheel has no tests; the 1.2.1 sdist is the
  newest that ships ``tests/`` (1.3.0's sdist dropped them; its library
  code is identical).  The installed sopsy (the ``test`` extra pins the
  same version) is what those tests import.
- the ``community.sops`` Ansible collection: Galaxy is out of reach, and
  the only PyPI file holding it is the ``ansible`` community package
  (54 MB, about 21,500 files; a full install takes ~40 s and 550 MB).
  Only ``ansible_collections/community/sops`` is extracted (under 1 MB);
  ansible-core itself comes from the ``test`` extra.

Usage: python scripts/client_sources.py   (idempotent; fails loudly)
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SOPSY = ("sopsy", "1.2.1", "sopsy-1.2.1.tar.gz",
         "2159a82f6fee10b7e29b688e4a0bdc1a50e96e8da2357ff46f97554aff0990f1")
ANSIBLE = ("ansible", "12.3.0", "ansible-12.3.0-py3-none-any.whl",
           "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414")
COLLECTION = "ansible_collections/community/sops/"


def clients_dir() -> Path:
    """Where the unpacked sources live: ``<venv>/clients`` (tests look there too)."""
    return Path(sys.prefix) / "clients"


def download(pin: tuple[str, str, str, str], into: Path, sdist: bool) -> Path:
    """Fetch one pinned file with pip (its cache makes re-runs cheap) and check its sha256."""
    name, version, filename, sha256 = pin
    argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
            "--no-deps", "-d", str(into), f"{name}=={version}"]
    # --no-binary NAME (not :all:) so that pip may still use wheels of the
    # sdist's build backend when it prepares the metadata.
    argv += ["--no-binary", name] if sdist else ["--only-binary", ":all:"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        # pip's own words say why (no network, no such version, a build failure).
        raise SystemExit(f"client_sources: pip could not download {name}=={version}:\n"
                         + proc.stdout + proc.stderr)
    path = into / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"client_sources: {filename} has sha256 {digest}, pinned {sha256}")
    return path


def unpack_sopsy(tmp: Path, target: Path) -> None:
    """Unpack the sopsy sdist (tests included) to ``target``."""
    archive = download(SOPSY, tmp, sdist=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "x", filter="data")
    shutil.move(str(tmp / "x" / f"sopsy-{SOPSY[1]}"), target)


def unpack_collection(tmp: Path, target: Path) -> None:
    """Extract only community.sops from the ansible wheel, as a collections path."""
    wheel = download(ANSIBLE, tmp, sdist=False)
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(COLLECTION)]
        if not members:
            raise SystemExit(f"client_sources: {wheel.name} holds no {COLLECTION}")
        zf.extractall(tmp / "x", members)
    shutil.move(str(tmp / "x"), target)


def main() -> None:
    """Unpack whatever is missing; a finished unpack is never redone."""
    root = clients_dir()
    root.mkdir(exist_ok=True)
    jobs = [(root / f"sopsy-{SOPSY[1]}", unpack_sopsy),
            (root / f"ansible-{ANSIBLE[1]}-collections", unpack_collection)]
    for target, unpack in jobs:
        if target.is_dir():
            continue
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            # Unpack beside the target and move it in whole: an interrupted
            # run leaves no half-filled directory that the check above trusts.
            unpack(Path(tmp), target)


if __name__ == "__main__":
    main()
