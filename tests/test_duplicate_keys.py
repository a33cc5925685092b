"""Duplicate keys are refused on every read path, in every store that can spell them.

The attack (issue 14): one line ``database:`` inserted between two values
of the ``database`` map of an encrypted YAML file splits it in two; every
value still authenticates and the MAC still verifies, but a JSON consumer
keeps only the second map.  go-yaml refuses that for sops (exit 1 on an
encrypted file, 2 on a plaintext one).  sops's JSON and dotenv stores keep
duplicates and print them; go-ini lets a repeated INI key overwrite and
keeps repeated sections.  We refuse all of them, with the exit code sops
gives a file that does not parse, and nothing on stdout.
"""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import age_recipient, sops_encrypted

YAML_PLAIN = "database:\n    host: db.internal\n    port: 5432\n    password: pw-1\nother: x\n"

# (extension, plaintext with a duplicate, the repeated key, what sops does with it)
PLAIN_DUPLICATES = [
    ("json", '{"a": 1, "b": 2, "a": 3}\n', "a", "keeps"),
    ("json", '{"n": {"x": 1, "x": 2}}\n', "x", "keeps"),
    ("env", "A=1\nB=2\nA=3\n", "A", "keeps"),
    ("ini", "[s]\na = 1\nb = 2\na = 3\n", "a", "overwrites"),
    ("ini", "[s]\na = 1\n[t]\nb = 2\n[s]\nc = 3\n", "s", "keeps"),
    ("ini", "a = 1\n[DEFAULT]\nb = 2\n", "DEFAULT", "keeps"),
]


def _split_database(enc: bytes) -> bytes:
    """Insert ``database:`` after the first value of the ``database`` map."""
    lines = enc.split(b"\n")
    at = lines.index(b"database:") + 2
    return b"\n".join(lines[:at] + [b"database:"] + lines[at:])


def test_split_yaml_map_is_refused_like_sops(sops, cli, tmp_path: Path):
    target = sops_encrypted(sops, tmp_path, "db.yaml", YAML_PLAIN)
    target.write_bytes(_split_database(target.read_bytes()))
    theirs = sops(["decrypt", str(target)])
    assert theirs.returncode == 1
    assert b'mapping key "database" already defined' in theirs.stderr
    before = target.read_bytes()
    for args in (["decrypt"], ["decrypt", "--output-type", "json"],
                 ["decrypt", "--extract", '["other"]'], ["set", str(target), '["other"]', '"y"'],
                 ["rotate", "-i"], ["exec-env", str(target), "true"], ["filestatus"]):
        argv = args if str(target) in args else [*args, str(target)]
        ours = cli(argv)
        assert ours.returncode == 1, (args, ours.stderr)
        assert ours.stdout == b"", args
        assert b'mapping key "database" already defined at line' in ours.stderr, args
        assert b"pw-1" not in ours.stderr and b"Traceback" not in ours.stderr
    assert target.read_bytes() == before


def test_duplicate_yaml_key_in_plaintext_is_exit_2_like_sops(sops, cli, tmp_path: Path):
    src = tmp_path / "p.yaml"
    src.write_text("a: 1\nb: 2\na: 3\n")
    assert sops(["encrypt", "--age", age_recipient(1), str(src)]).returncode == 2
    ours = cli(["encrypt", "--age", age_recipient(1), str(src)])
    assert ours.returncode == 2 and ours.stdout == b""
    assert b'line 3: mapping key "a" already defined at line 1' in ours.stderr


@pytest.mark.parametrize("ext,plain,key,theirs", PLAIN_DUPLICATES)
def test_plaintext_duplicates_refused(sops, cli, tmp_path: Path, ext: str, plain: str, key: str,
                                      theirs: str):
    src = tmp_path / f"p.{ext}"
    src.write_text(plain)
    res = sops(["encrypt", "--age", age_recipient(1), str(src)])
    assert res.returncode == 0  # sops accepts it: the deliberate difference
    kind = {"env": "dotenv"}.get(ext, ext)
    back = sops(["decrypt", "--input-type", kind, "--output-type", "json", "/dev/stdin"],
                input=res.stdout)
    assert back.returncode == 0
    # sops either silently drops one value or prints the key twice
    assert back.stdout.count(f'"{key}"'.encode()) == (1 if theirs == "overwrites" else 2)
    ours = cli(["encrypt", "--age", age_recipient(1), str(src)])
    assert ours.returncode == 2, ours.stderr
    assert ours.stdout == b""
    assert b"duplicate key" in ours.stderr or b"defined twice" in ours.stderr
    assert ours.stderr.count(b"\n") == 1 and b"Traceback" not in ours.stderr


@pytest.mark.parametrize("ext,plain,key,theirs", [c for c in PLAIN_DUPLICATES if c[3] == "keeps"])
def test_encrypted_duplicates_sops_wrote_are_refused(sops, cli, tmp_path: Path, ext: str,
                                                     plain: str, key: str, theirs: str):
    """Files sops wrote with duplicates (it decrypts them with exit 0): exit 1, nothing printed."""
    target = sops_encrypted(sops, tmp_path, f"e.{ext}", plain)
    assert sops(["decrypt", str(target)]).returncode == 0
    for args in (["decrypt"], ["exec-env", str(target), "true"]):
        argv = args if str(target) in args else [*args, str(target)]
        ours = cli(argv)
        assert ours.returncode == 1, (args, ours.stderr)
        assert ours.stdout == b""
        assert str(target).encode() in ours.stderr


def test_inserted_ini_key_line_is_refused(sops, cli, tmp_path: Path):
    """go-ini lets a repeated key overwrite, so sops reads an inserted line silently."""
    target = sops_encrypted(sops, tmp_path, "e.ini", "[s]\na = 1\nb = 2\n")
    lines = target.read_bytes().split(b"\n")
    a_line = next(line for line in lines if line.startswith(b"a = "))
    target.write_bytes(b"\n".join(lines[:3] + [a_line] + lines[3:]))
    assert sops(["decrypt", str(target)]).returncode == 0
    ours = cli(["decrypt", str(target)])
    assert ours.returncode == 1 and ours.stdout == b""
    assert b"line 4: duplicate key 'a' in section [s]" in ours.stderr


def test_set_value_with_duplicate_keys_is_refused(cli, tmp_path: Path):
    src = tmp_path / "s.yaml"
    src.write_text("a: 1\n")
    enc = cli(["encrypt", "--age", age_recipient(1), str(src)])
    src.write_bytes(enc.stdout)
    ours = cli(["set", str(src), '["b"]', '{"x": 1, "x": 2}'])
    assert ours.returncode == 7 and src.read_bytes() == enc.stdout


def test_editor_text_with_duplicates_is_not_written(cli, base_env, tmp_path: Path):
    """Without a terminal the editor cannot re-open: fail, nothing written."""
    src = tmp_path / "s.yaml"
    src.write_text("a: 1\n")
    enc = cli(["encrypt", "--age", age_recipient(1), str(src)])
    src.write_bytes(enc.stdout)
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nprintf "a: 1\\nb: 2\\na: 3\\n" > "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    ours = cli(["edit", str(src)], env={**base_env, "EDITOR": str(editor)})
    assert ours.returncode != 0
    assert b'mapping key "a" already defined' in ours.stderr
    assert src.read_bytes() == enc.stdout
