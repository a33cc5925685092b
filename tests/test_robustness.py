"""Hostile or odd input: a one-line error with sops's exit code, never a crash or a leak.

Each case here crashed (``internal error``/traceback), leaked input text into
an error message, or wrote a file we could not read back, before it was
fixed.  All run the real CLI in a subprocess.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from conftest import age_recipient

AGE = ["--age", age_recipient(1)]


def _one_line(proc, code: int) -> str:
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    # One error line; at most a hint after it (how to quote a JSON value).
    assert err.startswith("secretsctl: error: ") and len(lines) in (1, 2), err
    assert len(lines) == 1 or lines[1].startswith("secretsctl: hint: "), err
    assert proc.stdout == b""
    return err


def _encrypted_json(tmp_path: Path, cli, body: dict | None = None) -> dict:
    src = tmp_path / "plain.json"
    src.write_text(json.dumps(body or {"a": "secret"}))
    proc = cli(["encrypt", *AGE, str(src)])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_infinite_or_boolean_shamir_threshold_is_malformed_metadata(tmp_path, cli):
    enc = _encrypted_json(tmp_path, cli)
    f = tmp_path / "e.yaml"
    # JSON cannot carry .inf; YAML can (OverflowError before the fix).
    for value in (".inf", "true"):
        text = json.dumps(enc).replace('"sops": {', f'"sops": {{"shamir_threshold": {value}, ')
        f.write_text(text)  # JSON is YAML
        err = _one_line(cli(["decrypt", str(f)]), 1)
        assert "shamir_threshold" in err


def test_negative_shamir_threshold_written_by_sops_is_readable(tmp_path, cli, sops):
    src = tmp_path / "p.yaml"
    src.write_bytes(b"a: secret\n")
    proc = sops(["encrypt", *AGE, "--shamir-secret-sharing-threshold", "-1", str(src)])
    assert proc.returncode == 0 and b"shamir_threshold: -1" in proc.stdout, proc.stderr
    enc = tmp_path / "e.yaml"
    enc.write_bytes(proc.stdout)
    out = cli(["decrypt", str(enc)])
    assert out.returncode == 0 and out.stdout == b"a: secret\n", out.stderr


def test_negative_shamir_threshold_flag_is_refused(tmp_path, cli):
    src = tmp_path / "p.yaml"
    src.write_bytes(b"a: secret\n")
    err = _one_line(cli(["encrypt", *AGE, "--shamir-secret-sharing-threshold", "-1", str(src)]), 1)
    assert "non-negative" in err


def test_short_data_key_is_refused_not_a_crash(tmp_path, cli):
    # Anyone can wrap any bytes for a public recipient: a 5-byte "data key".
    enc = _encrypted_json(tmp_path, cli, {"x_unencrypted": "plain"})
    recipient = x25519.Recipient.from_str(age_recipient(1))
    enc["sops"]["age"][0]["enc"] = pyrage.encrypt(b"12345", [recipient], armored=True).decode()
    f = tmp_path / "e.json"
    f.write_text(json.dumps(enc))
    before = f.read_bytes()
    err = _one_line(cli(["set", "--ignore-mac", str(f), '["a"]', '"v"']), 128)
    assert "5 bytes" in err
    assert f.read_bytes() == before


@pytest.mark.parametrize("name,content", [
    ("deep.yaml", b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n"),
    ("deep.json", b'{"a": ' + b"[" * 700 + b"]" * 700 + b"}"),
    ("bigint.yaml", b"a: 1" + b"0" * 5000 + b"\n"),
    ("bigint.json", b'{"a": 1' + b"0" * 5000 + b"}"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_parse_failures_are_one_line(name, content, tmp_path, cli):
    f = tmp_path / name
    f.write_bytes(content)
    _one_line(cli(["encrypt", *AGE, str(f)]), 2)


@pytest.mark.parametrize("line", [b"password: *Pa55word\n", b"password: !Pa55!word\n"])
def test_yaml_errors_do_not_quote_unquoted_passwords(line, tmp_path, cli):
    f = tmp_path / "p.yaml"
    f.write_bytes(line)
    err = _one_line(cli(["encrypt", *AGE, str(f)]), 2)
    assert "Pa55" not in err


def test_set_lone_surrogate_and_non_json_numbers(tmp_path, cli):
    enc = tmp_path / "e.json"
    enc.write_text(json.dumps(_encrypted_json(tmp_path, cli)))
    for value in ("NaN", "Infinity", "1e400"):
        _one_line(cli(["set", str(enc), '["b"]', value]), 7)
    # Go's decoder turns a lone surrogate into U+FFFD; Python kept it and
    # crashed with UnicodeEncodeError when encrypting.
    proc = cli(["set", str(enc), '["b"]', '"x\\ud800y"'])
    assert proc.returncode == 0, proc.stderr
    out = cli(["decrypt", "--extract", '["b"]', str(enc)])
    assert out.returncode == 0 and out.stdout == "x\ufffdy".encode(), out.stderr


def test_set_through_a_symlink_keeps_the_link(tmp_path, cli):
    real = tmp_path / "real.json"
    real.write_text(json.dumps(_encrypted_json(tmp_path, cli)))
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    proc = cli(["set", str(link), '["b"]', '"v"'])
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == real.name
    out = cli(["decrypt", "--extract", '["b"]', str(real)])
    assert out.stdout == b"v", out.stderr


def test_null_into_dotenv_is_refused_and_file_kept(tmp_path, cli):
    # dotenv/INI store null as the text "<nil>", which neither sops nor
    # secretsctl can decrypt again: refuse instead of corrupting the file.
    src = tmp_path / "p.env"
    src.write_bytes(b"a=secret\n")
    assert cli(["encrypt", *AGE, "-i", str(src)]).returncode == 0
    before = src.read_bytes()
    err = _one_line(cli(["set", str(src), '["k"]', "null"]), 4)
    assert '["k"]' in err
    assert src.read_bytes() == before
    assert cli(["decrypt", str(src)]).stdout == b"a=secret\n"


def test_tag_directive_is_accepted_like_sops(tmp_path, cli, sops):
    """A %TAG directive is valid YAML; sops (go-yaml) and libyaml accept it."""
    f = tmp_path / "tag.yaml"
    f.write_bytes(b"%TAG !x! tag:example.com,2000:\n---\na: 1\n")
    enc = cli(["encrypt", "--age", age_recipient(1), str(f)])
    assert enc.returncode == 0, enc.stderr
    f.write_bytes(enc.stdout)
    assert cli(["decrypt", str(f)]).stdout == sops(["decrypt", str(f)]).stdout == b"a: 1\n"
