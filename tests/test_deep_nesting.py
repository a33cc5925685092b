"""Deeply nested input is refused at a fixed depth, in bounded time (issue 14).

A 100 KB line of ``[`` took secretsctl 20-53 s to refuse (libyaml's scanner
does work per open flow level for every token); sops refuses it in 0.02 s.
The parser's events are now counted and parsing stops at
``MAX_DEPTH``.  The timeout is a generous bound for a loaded machine.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import age_recipient, run, sops_encrypted
from secretsctl.stores.yaml_load import MAX_DEPTH

LIMIT = 10  # seconds


def _block(depth: int) -> bytes:
    return "".join(" " * i + "k:\n" for i in range(depth)).encode() + b" " * depth + b"v\n"


BOMBS = {
    "flow-seq.yaml": b"a: " + b"[" * 50_000 + b"\n",
    "flow-map.yaml": b"a: " + b"{" * 50_000 + b"\n",
    "flow-closed.yaml": b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "bare.yaml": b"[" * 100_000 + b"\n",
    "mixed.yaml": b"a: " + b"[{a: " * 25_000 + b"\n",
    "block.yaml": _block(3_000),
    "deep.json": b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "open.json": b'{"a": ' + b"[" * 100_000,
}


def _cli(env: dict, args: list[str]):
    return run([sys.executable, "-m", "secretsctl", *args], env, timeout=LIMIT)


@pytest.mark.parametrize("name", BOMBS)
def test_deep_input_is_refused_fast(name: str, base_env, tmp_path: Path):
    src = tmp_path / name
    src.write_bytes(BOMBS[name])
    ours = _cli(base_env, ["encrypt", "--age", age_recipient(1), str(src)])
    assert ours.returncode == 2 and ours.stdout == b""
    assert ours.stderr.count(b"\n") == 1 and b"Traceback" not in ours.stderr
    if name.endswith(".yaml"):
        assert f"exceeded max depth of {MAX_DEPTH}".encode() in ours.stderr


def test_sops_refuses_the_flow_bomb_too(sops, tmp_path: Path):
    src = tmp_path / "b.yaml"
    src.write_bytes(BOMBS["flow-seq.yaml"])
    theirs = sops(["encrypt", "--age", age_recipient(1), str(src)])
    assert theirs.returncode == 2 and b"exceeded max depth" in theirs.stderr


def test_deep_encrypted_file_is_refused_fast(sops, base_env, tmp_path: Path):
    """An encrypted file sops wrote (go-yaml allows 10,000 levels): exit 1, as a parse error."""
    target = sops_encrypted(sops, tmp_path, "d.yaml", "a: " + "[" * 2_000 + "x" + "]" * 2_000 + "\n")
    ours = _cli(base_env, ["decrypt", str(target)])
    assert ours.returncode == 1 and ours.stdout == b""
    assert f"exceeded max depth of {MAX_DEPTH}".encode() in ours.stderr


@pytest.mark.parametrize("plain", [
    "a: " + "[" * (MAX_DEPTH - 1) + "x" + "]" * (MAX_DEPTH - 1) + "\n",
    _block(MAX_DEPTH).decode(),
], ids=["flow", "block"])
def test_documents_at_the_limit_round_trip_with_sops(plain: str, sops, base_env, tmp_path: Path):
    src = tmp_path / "p.yaml"
    src.write_text(plain)
    ours = _cli(base_env, ["encrypt", "--age", age_recipient(1), str(src)])
    assert ours.returncode == 0, ours.stderr
    src.write_bytes(ours.stdout)
    theirs = sops(["decrypt", "--output-type", "json", str(src)])
    assert theirs.returncode == 0, theirs.stderr
    back = _cli(base_env, ["decrypt", "--output-type", "json", str(src)])
    assert back.returncode == 0 and back.stdout == theirs.stdout


def test_deep_sops_yaml_is_refused_fast(base_env, tmp_path: Path):
    """A planted .sops.yaml: ruamel's pure loader took 14 s, and named no file."""
    (tmp_path / ".sops.yaml").write_bytes(b"creation_rules: " + b"[" * 50_000 + b"\n")
    src = tmp_path / "p.yaml"
    src.write_text("a: 1\n")
    ours = _cli(base_env, ["encrypt", "--age", age_recipient(1), str(src)])
    assert ours.returncode == 1 and ours.stdout == b""
    assert b".sops.yaml: invalid YAML in config: " in ours.stderr
    assert f"exceeded max depth of {MAX_DEPTH}".encode() in ours.stderr
