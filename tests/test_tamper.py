"""Tampered files are refused with sops's exit code, nothing on stdout, no output file,
one line on stderr naming the file (and the tree path), no secret, no traceback."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import age_recipient

PLAIN = b"user: alice\npassword: s3cr3t-value\ntoken: another-secret\nport_unencrypted: 5432\n"
SECRETS = [b"s3cr3t-value", b"another-secret"]


@pytest.fixture
def encrypted(tmp_path: Path, cli, base_env):
    def make(extra: list[str] | None = None) -> Path:
        src = tmp_path / "s.yaml"
        src.write_bytes(PLAIN)
        proc = cli(["encrypt", "--age", age_recipient(1), *(extra or []), str(src)])
        assert proc.returncode == 0, proc.stderr
        src.write_bytes(proc.stdout)
        return src
    return make


def _value(data: bytes, key: str) -> bytes:
    return re.search(rb"^" + key.encode() + rb": (.*)$", data, re.M).group(1)


def _flip_ciphertext(enc: bytes) -> bytes:
    m = re.search(rb"data:([A-Za-z0-9+/=]+)", enc)
    b64 = bytearray(m.group(1))
    b64[0] = ord("A") if b64[0] != ord("A") else ord("B")
    return enc[:m.start(1)] + bytes(b64) + enc[m.end(1):]


TAMPERS = {
    "unencrypted-value-changed": lambda d: d.replace(b"port_unencrypted: 5432", b"port_unencrypted: 5433"),
    "ciphertext-byte-flipped": lambda d: d.replace(_value(d, "password"), _flip_ciphertext(_value(d, "password"))),
    "ciphertexts-swapped": lambda d: d.replace(_value(d, "password"), b"@@P").replace(
        _value(d, "token"), _value(d, "password")).replace(b"@@P", _value(d, "token")),
    "mac-removed": lambda d: re.sub(rb"mac: ENC\[[^\]]*\]", b"mac: \"\"", d),
    "lastmodified-changed": lambda d: re.sub(rb'lastmodified: "[^"]*"', b'lastmodified: "2020-01-01T00:00:00Z"', d),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_is_refused_like_sops(tamper, encrypted, tmp_path, cli, sops):
    f = encrypted()
    f.write_bytes(TAMPERS[tamper](f.read_bytes()))
    theirs = sops(["decrypt", str(f)])
    out = tmp_path / "out.yaml"
    ours = cli(["decrypt", "--output", str(out), str(f)])
    assert theirs.returncode != 0
    assert ours.returncode == theirs.returncode, ours.stderr
    assert ours.stdout == b"" and not out.exists()
    err = ours.stderr.decode()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(f) in err
    assert not any(s.decode() in err for s in SECRETS)
    if tamper in ("ciphertext-byte-flipped", "ciphertexts-swapped"):
        assert '["password"]' in err or '["token"]' in err


def test_mac_only_encrypted_accepts_edited_plain_value(encrypted, cli, sops):
    f = encrypted(["--encrypted-regex", "^(password|token)$", "--mac-only-encrypted"])
    f.write_bytes(f.read_bytes().replace(b"user: alice", b"user: mallory"))
    ours = cli(["decrypt", str(f)])
    assert ours.returncode == 0 and b"user: mallory" in ours.stdout
    assert sops(["decrypt", str(f)]).stdout == ours.stdout


def test_ignore_mac_recovers(encrypted, cli):
    f = encrypted()
    f.write_bytes(TAMPERS["unencrypted-value-changed"](f.read_bytes()))
    assert cli(["decrypt", str(f)]).returncode == 51
    ours = cli(["decrypt", "--ignore-mac", str(f)])
    assert ours.returncode == 0 and b"5433" in ours.stdout


def test_decrypt_in_place_failure_leaves_file_untouched(encrypted, cli):
    f = encrypted()
    tampered = TAMPERS["ciphertext-byte-flipped"](f.read_bytes())
    f.write_bytes(tampered)
    assert cli(["decrypt", "-i", str(f)]).returncode != 0
    assert f.read_bytes() == tampered
    assert sorted(p.name for p in f.parent.iterdir()) == ["home", f.name]  # no temp file left


def _with_comment_changed(tmp_path: Path, cli, change) -> Path:
    """A file with one encrypted comment, that comment's ENC text passed through ``change``."""
    src = tmp_path / "c.yaml"
    src.write_bytes(b"# a comment\nk: v\n")
    enc = cli(["encrypt", "--age", age_recipient(1), str(src)]).stdout
    line = re.search(rb"^#(ENC\[.*\])$", enc, re.M).group(1)
    src.write_bytes(enc.replace(line, change(line)))
    return src


def test_tampered_encrypted_comment_fails_closed(tmp_path, cli, sops):
    src = _with_comment_changed(tmp_path, cli, _flip_ciphertext)
    ours = cli(["decrypt", str(src)])
    # sops passes such a comment through with a warning; we refuse it (docs/format.md §16).
    assert ours.returncode == 25 and ours.stdout == b""


MANGLED_COMMENTS = [
    lambda line: line.replace(b",data:", b",dta:"),          # a mangled field name
    lambda line: line.replace(b"AES256_GCM", b"AES128_GCM"),
    lambda line: line[:-1],                                  # the closing bracket cut
    lambda line: b" " + line,                                # no longer at the start
    lambda line: b"ENC[not an encrypted value]",
]


@pytest.mark.parametrize("mangle", MANGLED_COMMENTS)
def test_comment_in_enc_form_that_does_not_parse_fails_closed(mangle, tmp_path, cli, sops):
    """Refused like one that fails authentication; sops warns and prints it as a comment."""
    src = _with_comment_changed(tmp_path, cli, mangle)
    theirs = sops(["decrypt", str(src)])
    assert theirs.returncode == 0 and b"possibly unencrypted comment" in theirs.stderr
    ours = cli(["decrypt", str(src)])
    assert ours.returncode == 25 and ours.stdout == b"", ours.stderr
    assert ours.stderr.count(b"\n") == 1 and str(src).encode() in ours.stderr


def test_plain_comment_in_encrypted_file_is_kept(tmp_path, cli, sops):
    src = tmp_path / "c.yaml"
    src.write_bytes(b"k: v\n")
    enc = cli(["encrypt", "--age", age_recipient(1), str(src)]).stdout
    src.write_bytes(b"# added by hand, mentions ENC[ later\n" + enc)
    ours = cli(["decrypt", str(src)])
    assert ours.returncode == 0 and ours.stdout == b"# added by hand, mentions ENC[ later\nk: v\n"
