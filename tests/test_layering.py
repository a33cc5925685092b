"""The import table of STYLE.md §6, enforced by reading every module's imports."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "secretsctl"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" if node.module else f"{base}{a.name}" for a in node.names)
    return names


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _rel(p: Path) -> str:
    return str(p.relative_to(PKG.parent))


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_import_rules(path: Path) -> None:
    rel = _rel(path)
    imports = _imports(path)
    crypto = {i for i in imports if i.startswith("cryptography")}
    if crypto:
        # Only the AES-GCM module; key sources may use their own scheme's primitives.
        assert rel == "secretsctl/cipher.py" or rel.startswith("secretsctl/keysources/"), crypto
    if any(i.startswith("click") for i in imports):
        assert rel.startswith("secretsctl/cli/"), "only the CLI may import click"
    if any(i.split(".")[0] in ("boto3", "botocore") for i in imports):
        assert rel in ("secretsctl/keysources/kms.py", "secretsctl/keysources/kms_client.py"), \
            "boto3 only in the KMS key source"
    if rel == "secretsctl/tree.py":
        assert all(not i.startswith(".") for i in imports), "tree.py is stdlib only"
    if rel.startswith("secretsctl/stores/"):
        banned = ("..cipher", "..treecrypt", "..keysources", "..api", "..datakey", "..fileio")
        assert not any(i.startswith(banned) for i in imports), "stores are bytes <-> tree only"
    if not rel.startswith("secretsctl/cli/") and rel != "secretsctl/__main__.py":
        assert not any(i.startswith((".cli", "..cli")) for i in imports), "the library never imports the CLI"
        source = path.read_text()
        assert "sys.exit(" not in source and "print(" not in source, "the library never prints or exits"


def test_no_cloud_sdk_or_click_on_library_import() -> None:
    code = ("import sys, secretsctl.api; "
            "bad = [m for m in ('boto3', 'botocore', 'click', 're2') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_module_size(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 450, "keep modules small (STYLE.md §6.10)"
