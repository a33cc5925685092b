"""User-supplied regexes: Go's syntax and semantics, in linear time (issue 14).

``^(a+)+$`` against a 30-character key backtracks for about a minute in
Python's ``re``; Go's regexp (and RE2, which we use) answers at once.  The
timeouts below are generous upper bounds for a loaded machine, not
benchmarks: with a backtracking engine each of these runs for minutes.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import age_recipient, run
from secretsctl.goregex import NEVER, RegexError, compile_go

EVIL = "^(a+)+$"
LONG_KEY = "a" * 34 + "!"          # no match, after 2^34 backtracking paths
PLAIN = f"{LONG_KEY}: secret-one\nb: secret-two\n"
LIMIT = 10                          # seconds; sops needs 0.03 s


def _cli(base_env: dict, args: list[str], cwd: Path | None = None):
    import sys
    return run([sys.executable, "-m", "secretsctl", *args], base_env, cwd=cwd, timeout=LIMIT)


def test_evil_regex_in_metadata_decrypts_fast(sops, base_env, tmp_path: Path):
    """The metadata regex is read before the MAC is checked: anyone can plant it."""
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    enc = sops(["encrypt", "--age", age_recipient(1), "--unencrypted-regex", EVIL, str(src)])
    assert enc.returncode == 0 and b"unencrypted_regex: ^(a+)+$" in enc.stdout
    src.write_bytes(enc.stdout)
    ours = _cli(base_env, ["decrypt", str(src)])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.decode() == PLAIN


def test_evil_regex_as_flag_encrypts_fast(sops, base_env, tmp_path: Path):
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    ours = _cli(base_env, ["encrypt", "--age", age_recipient(1), "--unencrypted-regex", EVIL, str(src)])
    assert ours.returncode == 0, ours.stderr
    assert b"secret-one" not in ours.stdout    # the long key does not match: encrypted
    src.write_bytes(ours.stdout)
    assert sops(["decrypt", str(src)]).stdout.decode() == PLAIN


def test_evil_path_regex_is_fast(sops, base_env, tmp_path: Path):
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: '{EVIL}'\n    age: []\n"
        f"  - path_regex: '.*'\n    age: {age_recipient(1)}\n")
    src = tmp_path / (LONG_KEY + ".yaml")
    src.write_text("k: v\n")
    ours = _cli(base_env, ["encrypt", src.name], cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    assert age_recipient(1).encode() in ours.stdout


# Python's `re` accepts all of these; Go's regexp refuses them.
GO_REFUSES = ["(?=a)", "(?<!a)b", r"(a)\1", "a++", r"\Z", r"\C", "(?x) a", "(?P=n)", r"\e"]
# Go accepts these (Python refuses some), with the meaning Go gives them.
GO_ACCEPTS = ["(?P<n>p)", "(?<n>p)", r"\Qa.b\E|p", r"\pL", "[[:alpha:]]", r"\x{70}", "(?U)p+"]


def _path_rule(tmp_path: Path, pattern: str) -> None:
    quoted = pattern.replace("'", "''")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: '{quoted}'\n    age: {age_recipient(1)}\n")


@pytest.mark.parametrize("pattern", GO_REFUSES)
def test_path_regex_go_refuses_we_refuse(pattern: str, sops, base_env, tmp_path: Path):
    _path_rule(tmp_path, pattern)
    (tmp_path / "p.yaml").write_text("k: v\n")
    theirs = sops(["encrypt", "p.yaml"], cwd=tmp_path)
    assert theirs.returncode == 1 and b"can not compile regexp" in theirs.stderr
    ours = _cli(base_env, ["encrypt", "p.yaml"], cwd=tmp_path)
    assert ours.returncode == 1 and ours.stdout == b""
    assert b"path_regex is invalid" in ours.stderr


@pytest.mark.parametrize("pattern", GO_ACCEPTS)
def test_path_regex_go_accepts_we_accept(pattern: str, sops, base_env, tmp_path: Path):
    _path_rule(tmp_path, pattern)
    (tmp_path / "p.yaml").write_text("k: v\n")
    assert sops(["encrypt", "p.yaml"], cwd=tmp_path).returncode == 0
    ours = _cli(base_env, ["encrypt", "p.yaml"], cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr


@pytest.mark.parametrize("pattern", [r"\Z", "(?=a)", r"\C"])
def test_flag_go_refuses_is_a_usage_error(pattern: str, base_env, tmp_path: Path):
    """sops encrypts nothing with an --encrypted-regex it cannot compile; we refuse (exit 8)."""
    src = tmp_path / "p.yaml"
    src.write_text("a: 1\n")
    ours = _cli(base_env, ["encrypt", "--age", age_recipient(1), "--encrypted-regex", pattern, str(src)])
    assert ours.returncode == 8 and ours.stdout == b""
    assert b"invalid encrypted_regex" in ours.stderr


def test_sops_file_with_a_python_only_regex_reads_back(sops, cli, tmp_path: Path):
    """sops wrote ``(?=a)`` and so encrypted nothing; Python's ``re`` would try to
    decrypt the plaintext keys that contain ``a`` and fail."""
    src = tmp_path / "p.yaml"
    src.write_text("alpha: 1\nbeta: 2\n")
    enc = sops(["encrypt", "--age", age_recipient(1), "--encrypted-regex", "(?=a)", str(src)])
    assert enc.returncode == 0 and b"alpha: 1" in enc.stdout
    src.write_bytes(enc.stdout)
    ours = cli(["decrypt", str(src)])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == sops(["decrypt", str(src)]).stdout


def test_go_semantics_of_digits_and_dollar(sops, cli, tmp_path: Path):
    """``\\d`` is ASCII-only in Go (Python: any Unicode digit); ``$`` does not match
    before a final newline (Python: it does).  The file must read the same to both."""
    plain = '"n\u0663": 1\n"n3": 2\n"t\\n": 3\nt: 4\n'
    for pattern in (r"\d", "t$"):
        target = tmp_path / "p.yaml"
        target.write_text(plain)
        ours = cli(["encrypt", "--age", age_recipient(1), "--encrypted-regex", pattern, str(target)])
        theirs = sops(["encrypt", "--age", age_recipient(1), "--encrypted-regex", pattern, str(target)])
        assert ours.returncode == theirs.returncode == 0
        lines = [line.split(b":", 1)[0] for line in ours.stdout.splitlines() if b"ENC[" in line
                 and not line.startswith((b" ", b"sops"))]
        theirs_lines = [line.split(b":", 1)[0] for line in theirs.stdout.splitlines() if b"ENC[" in line
                        and not line.startswith((b" ", b"sops"))]
        assert lines == theirs_lines, pattern
        assert len(lines) == 1, pattern


def test_compile_go_unit():
    assert compile_go("(?<n>a)b").search("xab")
    assert not compile_go(r"\d").search("\u0663")
    assert not compile_go("a$").search("a\n")
    assert compile_go(r"\Q\C\E").search("\\C")      # literal text: not the \C escape
    assert compile_go(r"\\C").search("\\C")
    assert compile_go("x").search("\udcffx")          # invalid UTF-8 kept as surrogates
    assert not NEVER.search("anything")
    with pytest.raises(RegexError, match="invalid escape sequence"):
        compile_go(r"\C")
    with pytest.raises(RegexError, match="missing \\)"):
        compile_go("(")
