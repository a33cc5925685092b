"""Bad input: one line on stderr naming the file, sops's exit code, no traceback."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import age_recipient

AGE = ["--age", "age140gnp3k7588v8lhfrf7cd0l3pnmqxexh7p0l27w9n6jcr6ur7axs7f4qr5"]


def _check_one_line(proc, code: int, *needles: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert err.startswith("secretsctl: error: ") and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    assert proc.stdout == b""


def _encrypted(tmp_path: Path, cli, body: bytes = b"a: 1\nb: secret\n", name: str = "e.yaml") -> Path:
    src = tmp_path / name
    src.write_bytes(body)
    proc = cli(["encrypt", *AGE, "-i", str(src)])
    assert proc.returncode == 0, proc.stderr
    return src


CASES = [
    ("missing-file", ["decrypt", "{d}/nope.yaml"], None, 100),
    ("empty-yaml", ["encrypt", *AGE, "{f}"], b"", 92),
    ("invalid-yaml", ["encrypt", *AGE, "{f}"], b"a: [1, 2\nb: c\n", 2),
    ("duplicate-key", ["encrypt", *AGE, "{f}"], b"a: 1\na: 2\n", 2),
    ("comment-only", ["encrypt", *AGE, "{f}"], b"# only a comment\n", 2),
    ("sequence-doc", ["encrypt", *AGE, "{f}"], b"- a\n- b\n", 2),
    ("not-encrypted", ["decrypt", "{f}"], b"a: 1\n", 1),
    ("in-place-and-output", ["decrypt", "-i", "--output", "{d}/o", "{f}"], b"a: 1\n", 8),
    ("two-rules", ["encrypt", *AGE, "--encrypted-regex", "a", "--unencrypted-suffix", "_u", "{f}"], b"a: 1\n", 8),
    ("no-keys", ["encrypt", "{f}"], b"a: 1\n", 1),
    ("bad-age-recipient", ["encrypt", "--age", "age1notakey", "{f}"], b"a: 1\n", 1),
]


@pytest.mark.parametrize("name,args,content,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line(name, args, content, code, tmp_path, cli):
    f = tmp_path / "in.yaml"
    if content is not None:
        f.write_bytes(content)
    argv = [a.format(f=f, d=tmp_path) for a in args]
    _check_one_line(cli(argv, cwd=tmp_path), code)


def test_already_encrypted_203(tmp_path, cli):
    f = _encrypted(tmp_path, cli)
    _check_one_line(cli(["encrypt", *AGE, str(f)]), 203, str(f))


def test_stdin_encrypt_needs_a_type(cli):
    _check_one_line(cli(["encrypt", *AGE], input=b"a: 1\n"), 8)
    ok = cli(["encrypt", *AGE, "--filename-override", "x.yaml"], input=b"a: 1\n")
    assert ok.returncode == 0 and b"sops:" in ok.stdout


def test_in_place_on_stdin_is_a_conflict(cli):
    _check_one_line(cli(["decrypt", "-i"], input=b"a: 1\n"), 8)


@pytest.mark.parametrize("path,code,needle", [
    ('["a"', 91, "extract"),
    ('["missing"]', 1, '["missing"]'),
    ("[7]", 1, "[7]"),
])
def test_extract_errors(path, code, needle, tmp_path, cli):
    f = _encrypted(tmp_path, cli)
    _check_one_line(cli(["decrypt", "--extract", path, str(f)]), code, needle, str(f))


def test_extract_values(tmp_path, cli, sops):
    f = _encrypted(tmp_path, cli, b"a: 1\nb: secret\nc:\n    - x\n    - {y: 2}\n")
    for path in ('["b"]', '["a"]', '["c"]', '["c"][1]', '["c"][0]'):
        ours, theirs = cli(["decrypt", "--extract", path, str(f)]), sops(["decrypt", "--extract", path, str(f)])
        assert ours.returncode == 0 and ours.stdout == theirs.stdout, path


def test_wrong_key_128_lists_keys_without_secrets(tmp_path, cli, base_env):
    f = _encrypted(tmp_path, cli)
    env = dict(base_env, SOPS_AGE_KEY_FILE=str(Path(base_env["SOPS_AGE_KEY_FILE"]).parent / "age-test-2.txt"))
    proc = cli(["decrypt", str(f)], env=env)
    assert proc.returncode == 128 and proc.stdout == b""
    err = proc.stderr.decode()
    assert age_recipient(1) in err and "Traceback" not in err and "AGE-SECRET-KEY" not in err


def test_duplicate_decryption_order_112(tmp_path, cli):
    f = _encrypted(tmp_path, cli)
    _check_one_line(cli(["decrypt", "--decryption-order", "age,pgp,age", str(f)]), 112)


def test_bad_metadata_version(tmp_path, cli):
    f = _encrypted(tmp_path, cli)
    f.write_bytes(f.read_bytes().replace(b"version: 3.11.0", b"version: [1]"))
    _check_one_line(cli(["decrypt", str(f)]), 1, str(f))


def test_plaintext_outputs_are_0600_and_in_place_encrypt_keeps_mode(tmp_path, cli):
    f = _encrypted(tmp_path, cli)
    out = tmp_path / "plain.yaml"
    assert cli(["decrypt", "--output", str(out), str(f)]).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    f.chmod(0o644)
    assert cli(["decrypt", "-i", str(f)]).returncode == 0
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    f.chmod(0o640)
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    assert stat.S_IMODE(f.stat().st_mode) == 0o640 and b"sops:" in f.read_bytes()


def test_filestatus(tmp_path, cli, sops):
    f = _encrypted(tmp_path, cli)
    plain = tmp_path / "p.yaml"
    plain.write_bytes(b"a: 1\n")
    for target, expected in ((f, b'{"encrypted":true}\n'), (plain, b'{"encrypted":false}\n')):
        ours = cli(["filestatus", str(target)])
        assert ours.stdout == expected == sops(["filestatus", str(target)]).stdout
