"""Start-up stays cheap: what a small age decrypt imports, by module count and by name.

Counts, not times: a module count does not depend on the machine's load.
The budget was set from the measured count (see MODULE_BUDGET) with a
little headroom; a change that pulls a subsystem into every start-up (the
KMS client, PGP, Shamir, the YAML loader for a JSON file) fails here and
should import it lazily instead.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import sops_encrypted

#: Modules a decrypt imports beyond FLOOR: the interpreter, site and what an
#: editable install's finder imports, so that the count is about the same for
#: an editable and a regular install.  Measured on Python 3.11 with click 8:
#: 103 (editable) and 109 (regular install), of which click brings ~35
#: (inspect among them); 129 on the regular install before the KMS, PGP,
#: Shamir, YAML-guard, decimal, textwrap, shlex and traceback imports were
#: made lazy.
MODULE_BUDGET = 115
FLOOR = "import pathlib, urllib.parse, ipaddress, fnmatch"

#: Never needed to decrypt an age-wrapped JSON file.
FORBIDDEN = (
    "boto3", "botocore", "gnupg", "ruamel", "random", "traceback", "decimal", "shlex", "textwrap",
    "secretsctl.keysources.kms", "secretsctl.keysources.kms_client", "secretsctl.keysources.pgp",
    "secretsctl.shamir", "secretsctl.stores.yaml", "secretsctl.stores.yaml_load",
    "secretsctl.stores.yaml_guard", "secretsctl.stores.dotenv",
    "secretsctl.editing", "secretsctl.keyops", "secretsctl.batch",
)


def _imported(argv: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    res = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, cwd=cwd,
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    names = set()
    for line in res.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


@pytest.fixture
def small_age_json(sops, tmp_path: Path) -> Path:
    plain = "{" + ", ".join(f'"k{i}": "value-{i}"' for i in range(14)) + "}\n"
    return sops_encrypted(sops, tmp_path, "small.json", plain)


def test_small_age_decrypt_imports_within_budget(small_age_json: Path, base_env, tmp_path) -> None:
    env = {**base_env, "PYTHONDONTWRITEBYTECODE": "1"}
    floor = _imported(["-c", FLOOR], env, tmp_path)
    used = _imported(["-m", "secretsctl", "decrypt", str(small_age_json)], env, tmp_path) - floor
    assert "secretsctl.cipher" in used and "pyrage" in used  # it did decrypt
    assert not {m for m in used for f in FORBIDDEN if m == f or m.startswith(f + ".")}
    assert len(used) <= MODULE_BUDGET, sorted(used)


def test_sops_style_decrypt_imports_the_same(small_age_json: Path, base_env, tmp_path) -> None:
    """``sops -d FILE`` goes through sops's parser and then the same command."""
    used = _imported(["-m", "secretsctl", "-d", str(small_age_json)], base_env, tmp_path)
    assert not {m for m in used for f in FORBIDDEN if m == f or m.startswith(f + ".")}


def test_kms_timeout_variable_name_matches_the_key_source() -> None:
    """options.py spells the variable out instead of importing the KMS module."""
    from secretsctl.cli import options
    from secretsctl.keysources import kms_client
    assert options.KMS_TIMEOUT_VAR == kms_client.TIMEOUT_VAR
