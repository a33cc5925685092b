"""The import table of docs/architecture.md §3, enforced by reading every module's imports.

The table is the ``toml`` block in that document (the single source: the doc
shows what this test checks).  Every module must belong to exactly one layer,
every pattern must match a module, and every import must be allowed.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "secretsctl"
DOC = ROOT / "docs" / "architecture.md"
_MARKER = "<!-- layering-table:"


@lru_cache(maxsize=None)
def table() -> dict[str, Any]:
    """The parsed toml block that follows the marker in docs/architecture.md."""
    text = DOC.read_text()
    start = text.index(_MARKER)
    block = re.search(r"```toml\n(.*?)```", text[start:], re.S)
    assert block, "docs/architecture.md: no ```toml block after the layering-table marker"
    return tomllib.loads(block.group(1))


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_file(name: str) -> str | None:
    """``secretsctl.a.b`` -> its file (relative), or None when it is not a module."""
    base = name.replace(".", "/")
    for cand in (f"{base}.py", f"{base}/__init__.py"):
        if (ROOT / cand).is_file():
            return cand
    return None


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(files of secretsctl modules imported, top-level third-party or stdlib names)."""
    rel = _rel(path)
    here = _module_name(rel).split(".")
    package = here if rel.endswith("__init__.py") else here[:-1]
    internal: set[str] = set()
    external: set[str] = set()

    def add_internal(name: str, attrs: list[str]) -> None:
        targets = [f"{name}.{a}" for a in attrs] or [name]
        for target in targets:
            found = _module_file(target) or _module_file(target.rpartition(".")[0])
            assert found, f"{rel}: cannot resolve import of {target}"
            internal.add(found)

    for node in ast.walk(ast.parse(path.read_text(), rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "secretsctl":
                    add_internal(alias.name, [])
                else:
                    external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            attrs = [a.name for a in node.names]
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                add_internal(".".join(base + ([node.module] if node.module else [])), attrs)
            elif node.module and node.module.split(".")[0] == "secretsctl":
                add_internal(node.module, attrs)
            elif node.module and node.module != "__future__":
                external.add(node.module.split(".")[0])
    return internal, external


def _matches(rel: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(rel, pat) for pat in patterns)


def layer_of(rel: str) -> str:
    """The one layer whose patterns match ``rel``."""
    found = [name for name, layer in table()["layers"].items() if _matches(rel, layer["modules"])]
    assert len(found) == 1, (f"{rel} must belong to exactly one layer of docs/architecture.md §3, "
                             f"found {found or 'none'}")
    return found[0]


def test_table_is_consistent() -> None:
    """Every layer named in ``uses`` exists, and every pattern matches some module."""
    layers = table()["layers"]
    rels = [_rel(p) for p in _modules()]
    for name, layer in layers.items():
        assert set(layer) <= {"modules", "uses", "may_print_or_exit"}, f"layer {name}: unknown key"
        for used in layer["uses"]:
            assert used in layers and used != name, f"layer {name} uses unknown layer {used!r}"
        for pat in layer["modules"]:
            assert any(fnmatchcase(r, pat) for r in rels), f"layer {name}: {pat!r} matches no module"
    for package, patterns in table()["third_party"].items():
        for pat in patterns:
            assert any(fnmatchcase(r, pat) for r in rels), f"third_party {package}: {pat!r} matches nothing"
    assert isinstance(table()["max_lines"], int)


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_import_rules(path: Path) -> None:
    rel = _rel(path)
    layers = table()["layers"]
    mine = layer_of(rel)
    allowed = {mine, *layers[mine]["uses"]}
    internal, external = _imports(path)
    for target in sorted(internal):
        used = layer_of(target)
        assert used in allowed, f"{rel} ({mine}) may not import {target} ({used})"
    third_party = table()["third_party"]
    for name in sorted(external - set(sys.stdlib_module_names)):
        assert name in third_party, f"{rel}: {name} is not in the [third_party] table"
        assert _matches(rel, third_party[name]), f"{rel} may not import {name}"
    if not layers[mine].get("may_print_or_exit", False):
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
    limit = table()["max_lines"]
    assert len(path.read_text().splitlines()) <= limit, "keep modules small (docs/architecture.md §4.10)"
