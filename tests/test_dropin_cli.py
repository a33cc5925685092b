"""sops's command line, run against the sops 3.11 binary and secretsctl side by side.

Every legacy form (``-d``, ``-e``, ``-r``, ``-i``, ``--set``, ``sops FILE``),
every flag sops takes before a subcommand, and the usage errors: the same
exit code, and the same output (byte for byte where the output is
deterministic; the same decrypted data and the same encrypted shape where
it holds fresh randomness).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import age_recipient

R1, R2 = age_recipient(1), age_recipient(2)
PLAIN = "a: 1\nb:\n    c: x\n    d: [1, two]\nsecret_unencrypted: visible\n"

# Each row: (id, argv, how to compare).  {E}: a copy of an encrypted YAML file,
# {P}: a plaintext YAML file, {C}: a .sops.yaml with an age rule, {D}: the dir.
SAME = [
    ("d", ["-d", "{E}"]),
    ("decrypt-long", ["--decrypt", "{E}"]),
    ("decrypt-one-dash", ["-decrypt", "{E}"]),
    ("decrypt-two-dash-short", ["--d", "{E}"]),
    ("d-eq-true", ["-d=true", "{E}"]),
    ("d-output-type", ["-d", "--output-type", "json", "{E}"]),
    ("output-type-before-d", ["--output-type", "json", "-d", "{E}"]),
    ("output-type-eq", ["-d", "--output-type=json", "{E}"]),
    ("input-type-then-decrypt", ["--input-type", "yaml", "--decrypt", "{E}"]),
    ("extract-leaf", ["-d", "--extract", '["b"]["c"]', "{E}"]),
    ("extract-branch", ["-d", "--extract", '["b"]', "{E}"]),
    ("flags-after-file-ignored", ["-d", "{E}", "--output-type", "json"]),
    ("double-dash", ["-d", "--", "{E}"]),
    ("e-then-d-last-wins", ["-e", "-d", "{E}"]),
    ("ignore-mac", ["-d", "--ignore-mac", "{E}"]),
    ("decryption-order", ["-d", "--decryption-order", "age", "{E}"]),
    ("indent-json", ["--indent", "2", "-d", "--output-type", "json", "{E}"]),
    ("indent-zero-json", ["--indent=0", "-d", "--output-type", "json", "{E}"]),
    ("indent-one-yaml", ["--indent", "1", "-d", "{E}"]),
    ("verbose", ["--verbose", "-d", "{E}"]),
    ("disable-version-check", ["--disable-version-check", "-d", "{E}"]),
    ("global-config-decrypt", ["--config", "{C}", "decrypt", "{E}"]),
    ("global-flags-before-subcommand", ["--input-type", "json", "--indent", "2", "decrypt", "{E}"]),
    ("global-keyservice-ignored", ["--keyservice", "tcp://127.0.0.1:1", "decrypt", "{E}"]),
    ("global-no-local-ignored", ["--enable-local-keyservice=false", "decrypt", "{E}"]),
    ("subcommand-one-dash-flag", ["decrypt", "-output-type", "json", "{E}"]),
    ("subcommand-bool-eq", ["decrypt", "--ignore-mac=true", "{E}"]),
    ("subcommand-flags-after-file", ["decrypt", "{E}", "--output-type", "json"]),
    ("subcommand-keyservice-local-too", ["decrypt", "--keyservice", "tcp://127.0.0.1:1", "{E}"]),
    ("filestatus", ["filestatus", "{E}"]),
]

# The command encrypts or rewrites: compare decrypted data and encrypted shape.
CHANGED = [
    ("e-age", ["-e", "--age", R1, "{P}"], "stdout"),
    ("e-short-a", ["-e", "-a", R1, "{P}"], "stdout"),
    ("encrypt-long-json-out", ["--encrypt", "--output-type", "json", "--age", R1, "{P}"], "stdout"),
    ("e-encrypted-regex", ["-e", "--age", R1, "--encrypted-regex", "^c$", "{P}"], "stdout"),
    ("e-unencrypted-suffix", ["-e", "--age", R1, "--unencrypted-suffix", "_unencrypted", "{P}"], "stdout"),
    ("e-mac-only", ["-e", "--age", R1, "--mac-only-encrypted", "--encrypted-regex", "^c$", "{P}"], "stdout"),
    ("e-i", ["-e", "-i", "--age", R1, "{P}"], "file"),
    ("i-e", ["-i", "-e", "--age", R1, "{P}"], "file"),
    ("encrypt-in-place-long", ["--encrypt", "--in-place", "--age", R1, "{P}"], "file"),
    ("e-output", ["-e", "--age", R1, "--output", "{D}/out.yaml", "{P}"], "out.yaml"),
    ("e-global-config", ["--config", "{C}", "-e", "{P}"], "stdout"),
    ("encrypt-global-config", ["--config", "{C}", "encrypt", "{P}"], "stdout"),
    ("e-discovered-config", ["-e", "{P}"], "stdout"),
    ("encrypt-stdin-input-type", ["encrypt", "--input-type", "yaml", "--age", R1, "/dev/stdin"], "stdout"),
    ("e-stdin-input-type", ["-e", "--input-type", "yaml", "--age", R1, "/dev/stdin"], "stdout"),
    ("d-i", ["-d", "-i", "{E}"], "file"),
    ("i-d", ["-i", "-d", "{E}"], "file"),
    ("d-output", ["-d", "--output", "{D}/plain.yaml", "{E}"], "plain.yaml"),
    ("r-i", ["-r", "-i", "{E}"], "file"),
    ("rotate-long", ["--rotate", "--in-place", "{E}"], "file"),
    ("r-add-age", ["-r", "-i", "--add-age", R2, "{E}"], "file"),
    ("r-stdout", ["-r", "{E}"], "stdout"),
    ("set-string", ["--set", '["b"]["c"] "new"', "{E}"], "file"),
    ("set-number", ["--set", '["n"] -1', "{E}"], "file"),
    ("set-object", ["--set", '["o"] {"k": [true, null]}', "{E}"], "file"),
]

ERRORS = [
    ("no-file", ["-d"], 100),
    ("no-args", [], 100),
    ("missing-file-d", ["-d", "{D}/missing.yaml"], 100),
    ("missing-file-e", ["-e", "--age", R1, "{D}/missing.yaml"], 100),
    ("missing-file-add", ["-r", "--add-age", R1, "{D}/missing.yaml"], 49),
    ("in-place-and-output", ["-d", "-i", "--output", "{D}/o", "{E}"], 8),
    ("unknown-global-flag", ["--bogus", "-d", "{E}"], 1),
    ("unknown-subcommand-flag", ["decrypt", "--bogus", "{E}"], 1),
    ("int-flag-not-int", ["--indent", "x", "-d", "{E}"], 1),
    ("flag-needs-argument", ["-d", "--output-type"], 1),
    ("bool-flag-bad-value", ["-d=maybe", "{E}"], 1),
    ("bad-set-format", ["--set", "nospace", "{E}"], 7),
    ("no-local-keyservice", ["-d", "--enable-local-keyservice=false", "{E}"], 128),
    ("no-local-keyservice-sub", ["decrypt", "--enable-local-keyservice=false", "{E}"], 128),
    ("no-local-keyservice-encrypt", ["encrypt", "--enable-local-keyservice=false", "--age", R1, "{P}"], 1),
    ("stdin-encrypt-needs-name", ["-e", "--input-type", "yaml", "--age", R1], 100),
    ("already-encrypted", ["-e", "--age", R1, "{E}"], 203),
]


@pytest.fixture
def world(tmp_path, sops, base_env):
    """Plain and encrypted files and a config; ``run(tool, argv)`` runs in a fresh copy."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "p.yaml").write_text(PLAIN)
    (src / ".sops.yaml").write_text(f"creation_rules:\n  - age: {R1}\n")
    (src / "c.yaml").write_text(f"creation_rules:\n  - age: {R1}\n    encrypted_regex: ^c$\n")
    res = sops(["encrypt", "--age", R1, str(src / "p.yaml")])
    assert res.returncode == 0, res.stderr
    (src / "e.yaml").write_bytes(res.stdout)

    def run(runner, argv, name, env=None):
        d = tmp_path / name
        shutil.copytree(src, d)
        subst = {"{E}": str(d / "e.yaml"), "{P}": str(d / "p.yaml"), "{C}": str(d / "c.yaml")}
        args = [subst.get(a, a.replace("{D}", str(d))) for a in argv]
        stdin = PLAIN.encode() if "/dev/stdin" in args or not any(a in args for a in subst.values()) else b""
        return d, runner(args, input=stdin, env=env or base_env, cwd=d)
    return run


@pytest.mark.parametrize("argv", [c[1] for c in SAME], ids=[c[0] for c in SAME])
def test_same_output_and_exit(argv, world, sops, cli):
    _, theirs = world(sops, argv, "sops")
    _, ours = world(cli, argv, "ours")
    assert theirs.returncode == 0, theirs.stderr
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), ours.stderr


def _shape(text: bytes) -> object:
    """An encrypted document with every ENC value reduced to its type and volatile metadata dropped."""
    from ruamel.yaml import YAML
    data = YAML(typ="safe").load(text)
    meta = data.pop("sops", None) or {}
    kept = {k: v for k, v in meta.items() if k not in ("lastmodified", "mac", "age", "version")}
    kept["recipients"] = sorted(e["recipient"] for e in meta.get("age") or [])

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and v.startswith("ENC["):
            return re.search(r"type:(\w+)", v).group(1)
        return v
    return walk(data), kept


def _result(d: Path, proc, where: str, argv: list[str]) -> bytes:
    if where == "stdout":
        return proc.stdout
    if where == "file":   # the file the command rewrote in place
        where = "p.yaml" if "{P}" in argv else "e.yaml"
    return (d / where).read_bytes()


@pytest.mark.parametrize("argv,where", [c[1:] for c in CHANGED], ids=[c[0] for c in CHANGED])
def test_same_result(argv, where, world, sops, cli, tmp_path):
    dt, theirs = world(sops, argv, "sops")
    do, ours = world(cli, argv, "ours")
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    a, b = _result(dt, theirs, where, argv), _result(do, ours, where, argv)
    if b"ENC[" in a:
        assert a[:1] == b[:1]   # the same store: a JSON object or a YAML mapping
        assert _shape(b) == _shape(a)
        for blob, d in ((a, dt), (b, do)):   # and each decrypts, with sops, to the same data
            f = d / "check.json" if a[:1] == b"{" else d / "check.yaml"
            f.write_bytes(blob)
        plain_t = sops(["decrypt", "--output-type", "json", str(dt / f.name)])
        plain_o = sops(["decrypt", "--output-type", "json", str(do / f.name)])
        assert plain_t.returncode == plain_o.returncode == 0, plain_o.stderr
        assert json.loads(plain_o.stdout) == json.loads(plain_t.stdout)
    else:
        assert b == a


@pytest.mark.parametrize("argv,code", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_same_exit_code(argv, code, world, sops, cli):
    _, theirs = world(sops, argv, "sops")
    _, ours = world(cli, argv, "ours")
    if code is not None:
        assert theirs.returncode == code, theirs.stderr
    assert ours.returncode == theirs.returncode, ours.stderr
    err = ours.stderr.decode()
    assert "Traceback" not in err and "Usage:" not in err, err
    assert err.count("secretsctl: error: ") == 1 and len(err.strip().splitlines()) <= 2, err


@pytest.mark.parametrize("argv", [["--version"], ["--version", "--disable-version-check"], ["-v"],
                                  ["--disable-version-check", "--version"]])
def test_version_reads_as_sops(argv, sops, cli):
    theirs, ours = sops(argv), cli(argv)
    assert theirs.returncode == ours.returncode == 0
    pattern = re.compile(rb"^sops (\d+)\.(\d+)\.(\d+)")   # community.sops's own pattern
    assert pattern.match(theirs.stdout).groups() == pattern.match(ours.stdout).groups()
    assert b"secretsctl" in ours.stdout.splitlines()[0]


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"], ["help", "decrypt"], ["decrypt", "--help"]])
def test_help_forms(argv, sops, cli):
    assert sops(argv).returncode == cli(argv).returncode == 0


def test_bare_file_is_edit_in_both(world, sops, cli, tmp_path, base_env):
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/c: x/c: edited/" "$1"\n')
    editor.chmod(0o755)
    env = dict(base_env, EDITOR=str(editor))
    for runner, name in ((sops, "sops"), (cli, "ours")):
        d, res = world(runner, ["{E}"], name, env=env)
        assert res.returncode == 0, res.stderr
        out = sops(["decrypt", "--extract", '["b"]["c"]', str(d / "e.yaml")])
        assert out.stdout == b"edited"
    # Unchanged: exit 200 from both, in the legacy form and with -s.
    env = dict(base_env, EDITOR="true")
    for argv in (["{E}"], ["-s", "{E}"]):
        codes = {world(r, argv, f"{n}-{len(argv)}", env=env)[1].returncode for r, n in ((sops, "s"), (cli, "o"))}
        assert codes == {200}


def test_typo_is_not_a_new_file(cli, tmp_path):
    res = cli(["decryt"], cwd=tmp_path)
    err = res.stderr.decode()
    assert res.returncode == 1 and "No such command 'decryt'" in err and "did you mean 'decrypt'" in err
    assert not (tmp_path / "decryt").exists()
