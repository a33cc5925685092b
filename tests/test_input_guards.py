"""Input sops rejects (or writes into unreadable files) is refused in one line, nothing written.

1. ``set`` (and format conversions) must not write the key the metadata
   lives under, nor a flat-format key that reads back differently.
2. A ``.sops.yaml`` of the wrong shape is a one-line config error (exit 1).
3. YAML merge keys with a scalar value and alias bombs: exit 2, as sops.
4. A directory given as FILE: one line, sops's exit code 2.
5. A corrupt *encrypted* file: exit 1 for every command, as sops.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import age_recipient

from secretsctl.config import parse_config
from secretsctl.errors import ConfigError, ExitCode, InputError
from secretsctl.stores.yaml_load import load_documents

AGE = ["--age", age_recipient(1)]


def _one_line(proc, code: int, *needles: str, stdout: bool = False) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("secretsctl: error: ") and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    if not stdout:
        assert proc.stdout == b""
    return err


def _encrypted(tmp_path: Path, cli, name: str, body: bytes) -> Path:
    src = tmp_path / name
    src.write_bytes(body)
    proc = cli(["encrypt", *AGE, "-i", str(src)])
    assert proc.returncode == 0, proc.stderr
    return src


# ------------------------------------------------------------------ 1. set

PLAIN = {"yaml": b"a: 1\n", "json": b'{"a": 1}', "ini": b"[s]\na = 1\n", "env": b"a=1\n"}


@pytest.mark.parametrize("ext,path,value,needle", [
    # sops writes each of these with exit 0, and then neither tool reads the file.
    ("yaml", '["sops"]', '"x"', "reserved"),
    ("yaml", '["sops"]["mac"]', '"x"', "reserved"),
    ("json", '["sops"]', '"x"', "reserved"),
    ("ini", '["sops"]["x"]', '"v"', "reserved"),
    ("env", '["sops_mac"]', '"v"', "reserved"),
    ("env", '["sops_version"]', '"v"', "reserved"),
    ("env", '["A=B"]', '"v"', "contains '='"),
    ("env", '["#C"]', '"v"', "starts with '#'"),
    ("env", '["a\nb"]', '"v"', "line break"),
    ("ini", '["s"]["-"]', '"v"', "key '-'"),         # go-ini reads "-" back as "#1"
    ("ini", '["s"][" k"]', '"v"', "key ' k'"),       # trimmed on the way back
    ("ini", '["s\nx"]["k"]', '"v"', "section name"),
    ("yaml", '["<<"]', '"x"', "merge key"),          # written as `!!merge <<: ENC[…]`
])
def test_set_refuses_trees_that_would_not_read_back(ext, path, value, needle, tmp_path, cli):
    f = _encrypted(tmp_path, cli, f"f.{ext}", PLAIN[ext])
    before = f.read_bytes()
    err = _one_line(cli(["set", str(f), path, value]), ExitCode.ERROR_DUMPING_TREE, str(f), needle)
    assert '"x"' not in err and '"v"' not in err
    assert f.read_bytes() == before
    assert cli(["decrypt", str(f)]).returncode == 0


def test_names_that_do_read_back_are_still_written(tmp_path, cli, sops):
    f = _encrypted(tmp_path, cli, "f.ini", PLAIN["ini"])
    for path in ('["#x"]["k"]', '["DEFAULT"]["k"]', '["s"]["a=b"]'):
        assert cli(["set", str(f), path, '"v"']).returncode == 0
    theirs = sops(["decrypt", str(f)])
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout == cli(["decrypt", str(f)]).stdout
    y = _encrypted(tmp_path, cli, "f.yaml", PLAIN["yaml"])
    assert cli(["set", str(y), '["k"]["sops"]', '"v"']).returncode == 0   # only the top level is reserved
    assert cli(["set", str(y), '["<<"]', '{"m": 1}']).returncode == 0      # a mapping merges fine
    assert sops(["decrypt", str(y)]).returncode == 0


@pytest.mark.parametrize("name,body,args", [
    ("c.yaml", b"sops_x: 1\n", ["--output-type", "dotenv"]),
    ("c.json", b'{"k": {"-": 1}}', ["--output-type", "ini"]),
    ("c.json", b'{"<<": "x"}', ["--output-type", "yaml"]),
    ("c.yaml", b'"<<": x\n', []),   # sops writes `!!merge <<: ENC[…]` and cannot decrypt it
])
def test_encrypt_conversions_refuse_unreadable_output(name, body, args, tmp_path, cli):
    f = tmp_path / name
    f.write_bytes(body)
    _one_line(cli(["encrypt", *AGE, *args, str(f)]), ExitCode.ERROR_DUMPING_TREE, name)


# ------------------------------------------------------------------ 2. .sops.yaml shapes

R1 = age_recipient(1)


@pytest.mark.parametrize("text,needle", [
    ("creation_rules: [{key_groups: 5}]", "creation_rules[0].key_groups must be a list"),
    ("creation_rules: [{key_groups: [{age: 5}]}]", "key_groups[0].age must be a list"),
    (f"creation_rules: [{{key_groups: [{{age: {R1}}}]}}]", "key_groups[0].age must be a list"),
    ("creation_rules: [{key_groups: [{merge: 5}]}]", "merge must be a list"),
    ("creation_rules: [{key_groups: [{kms: 5}]}]", "kms must be a list"),
    ("creation_rules: [{key_groups: [{kms: ['arn:aws:kms:us-east-1:1:key/a']}]}]", "kms[0] must be a mapping"),
    ("creation_rules: [{key_groups: [{gcp_kms: [projects/p]}]}]", "gcp_kms[0] must be a mapping"),
    ("creation_rules: [{key_groups: [{kms: [{arn: [x]}]}]}]", "kms[0].arn must be a string"),
    ("creation_rules: [{key_groups: [{age: [[x]]}]}]", "age[0] must be a string"),
    ("creation_rules: [{key_groups: [&g {merge: [*g]}]}]", "`merge` too much"),
    ("g0: &g0 {age: [x]}\n" + "".join(f"g{i}: &g{i} {{merge: [{', '.join([f'*g{i - 1}'] * 10)}]}}\n"
                                     for i in range(1, 9)) + "creation_rules: [{key_groups: [*g8]}]",
     "`merge` too much"),
    ("creation_rules: [{path_regex: [a]}]", "path_regex must be a string"),
    ("creation_rules: [{encrypted_regex: {a: 1}}]", "encrypted_regex must be a string"),
    ("creation_rules: [{aws_profile: [x]}]", "aws_profile must be a string"),
    ("creation_rules: [{age: {a: 1}}]", "age must be a string or a list of strings"),
    ("creation_rules: [{age: [5]}]", "age[0] must be a string"),
    ("creation_rules: [{shamir_threshold: true}]", "shamir_threshold"),
    ("creation_rules: [{mac_only_encrypted: x}]", "mac_only_encrypted"),
    ("creation_rules: [5]", "creation_rules[0] must be a mapping"),
    ("stores: {yaml: 5}", "stores.yaml must be a mapping"),
    ("stores: {json: [1]}", "stores.json must be a mapping"),
])
def test_config_shapes_are_checked_when_loaded(text, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(text.encode(), "/x/.sops.yaml")
    msg = info.value.user_message()
    assert msg.startswith("/x/.sops.yaml: error loading config: ") and needle in msg, msg
    assert info.value.exit_code == ExitCode.GENERIC


def test_scalar_string_fields_are_taken_as_text_like_go_yaml():
    # go-yaml decodes any scalar into a Go string field: `path_regex: 5` is "5".
    cfg = parse_config(f"creation_rules: [{{path_regex: 5, age: {R1}, encrypted_regex: 7}}]".encode())
    # Absolute names: without a config path the regex sees the absolute path,
    # and a relative name would pick up the digits of the working directory.
    assert cfg.creation_for("/x/a5.yaml").rule.value == "7"
    with pytest.raises(ConfigError, match="no matching creation rules"):
        cfg.creation_for("/x/a.yaml")


@pytest.mark.parametrize("text", [
    "creation_rules: [{key_groups: 5}]\n",
    "creation_rules: [{key_groups: [{age: 5}]}]\n",
    "creation_rules: [{path_regex: [a], age: x}]\n",
    "creation_rules: [{key_groups: [{kms: ['arn:aws:kms:us-east-1:1:key/a']}]}]\n",
])
def test_bad_config_exit_1_like_sops(text, tmp_path, cli, sops):
    cfg, plain = tmp_path / "cfg.yaml", tmp_path / "plain.yaml"
    cfg.write_text(text)
    plain.write_bytes(b"a: 1\n")
    theirs = sops(["--config", str(cfg), "encrypt", str(plain)])
    assert theirs.returncode == 1 and b"error loading config" in theirs.stderr
    _one_line(cli(["encrypt", "--config", str(cfg), str(plain)]), 1, "cfg.yaml", "error loading config")


# ------------------------------------------------------------------ 3. YAML merge keys, alias bombs

@pytest.mark.parametrize("body", [
    b"<<: S3CRETX\n", b"a: &x S3CRETX\n<<: *x\n", b"<<: [S3CRETX]\n", b"<<: [{a: 1}, S3CRETX]\n",
    b"k:\n  <<: S3CRETX\n", b"<<:\n", b"l: [{<<: S3CRETX}]\n", b"? !!merge <<\n: S3CRETX\n",
])
def test_merge_key_needs_a_mapping_like_sops(body, tmp_path, cli, sops):
    f = tmp_path / "m.yaml"
    f.write_bytes(body)
    theirs = sops(["encrypt", *AGE, str(f)])
    assert theirs.returncode == 2 and b"map merge requires map" in theirs.stderr
    err = _one_line(cli(["encrypt", *AGE, str(f)]), 2, "m.yaml", "map merge requires map")
    assert "S3CRETX" not in err


@pytest.mark.parametrize("body", [b"<<: {a: 1}\n", b"<<: []\n", b'"<<": {a: 1}\n',
                                  b"b: &b {x: 1}\nc: {<<: [*b, {y: 2}]}\n"])
def test_merge_key_with_mappings_is_accepted(body, tmp_path, cli, sops):
    f = tmp_path / "m.yaml"
    f.write_bytes(body)
    assert sops(["encrypt", *AGE, str(f)]).returncode == 0
    assert cli(["encrypt", *AGE, str(f)]).returncode == 0


def _laughs(width: int, levels: int, uses: int) -> bytes:
    """a0 holds `width` scalars, each next level `width` aliases of the previous one."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    lines.append("z: [" + ",".join([f"*a{levels - 1}"] * uses) + "]")
    return ("\n".join(lines) + "\n").encode()


def test_alias_bomb_is_refused_fast_like_sops(tmp_path, cli, sops):
    f = tmp_path / "bomb.yaml"
    # ~230 bytes expanding to 9**6 scalars: small enough that the old node
    # budget let it through (slowly, ~60 MB of tree), far past go-yaml's ratio.
    f.write_bytes(_laughs(9, 5, 9))
    theirs = sops(["encrypt", *AGE, str(f)])
    assert theirs.returncode == 2 and b"excessive aliasing" in theirs.stderr
    start = time.monotonic()
    _one_line(cli(["encrypt", *AGE, str(f)]), 2, "bomb.yaml", "excessive aliasing")
    assert time.monotonic() - start < 10


# (width, levels, uses) just inside / just past go-yaml's limit, found with the sops binary.
@pytest.mark.parametrize("shape,ok", [
    ((10, 3, 2), True), ((10, 3, 3), False),
    ((4, 3, 343), True), ((4, 3, 344), False),
    ((10, 2, 121), True), ((10, 2, 122), False),
])
def test_alias_limit_matches_go_yaml(shape, ok):
    data = _laughs(*shape)
    if ok:
        assert load_documents(data, plain=True)
    else:
        with pytest.raises(InputError, match="excessive aliasing"):
            load_documents(data, plain=True)


def test_alias_limit_boundary_against_sops(tmp_path, sops):
    for shape, code in (((10, 2, 121), 0), ((10, 2, 122), 2)):
        f = tmp_path / "g.yaml"
        f.write_bytes(_laughs(*shape))
        assert sops(["encrypt", *AGE, str(f)]).returncode == code


def test_alias_bomb_in_an_encrypted_file_is_refused(tmp_path, cli):
    f = _encrypted(tmp_path, cli, "e.yaml", b"a: 1\n")
    f.write_bytes(_laughs(9, 6, 9) + f.read_bytes())
    _one_line(cli(["decrypt", str(f)]), 1, "excessive aliasing")


# ------------------------------------------------------------------ 4. a directory as FILE

DIR_COMMANDS = [
    ["edit", "{d}"], ["set", "{d}", '["a"]', "1"], ["unset", "{d}", '["a"]'],
    ["exec-env", "{d}", "true"], ["exec-file", "{d}", "true"],
    ["groups", "add", "-f", "{d}", "--age", age_recipient(1)],
]


@pytest.mark.parametrize("args", DIR_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_directory_is_one_line_exit_2_like_sops(args, tmp_path, cli, sops, base_env):
    d = tmp_path / "d.yaml"
    d.mkdir()
    argv = [a.replace("{d}", str(d)) for a in args]
    env = dict(base_env, EDITOR="true")
    assert sops(argv, env=env).returncode == 2
    _one_line(cli(argv, env=env), 2, "d.yaml", "directory")


def test_export_directory_and_github_env_directory(tmp_path, cli, base_env):
    d = tmp_path / "d.yaml"
    d.mkdir()
    _one_line(cli(["export", str(d)]), 2, "d.yaml", "directory")
    f = _encrypted(tmp_path, cli, "e.yaml", b"a: 1\n")
    # The mask line goes out first by design; the failure is still one line.
    _one_line(cli(["export", "--format", "github", "--github-env", str(d), str(f)]), 3, "d.yaml",
              stdout=True)


# ------------------------------------------------------------------ 5. corrupt encrypted files

CORRUPT_COMMANDS = [
    ["set", "{f}", '["a"]', "2"], ["unset", "{f}", '["a"]'], ["rotate", "{f}"],
    ["exec-env", "{f}", "true"], ["exec-file", "{f}", "true"], ["updatekeys", "-y", "{f}"],
    ["edit", "{f}"], ["groups", "add", "-f", "{f}", "--age", age_recipient(1)],
]


@pytest.mark.parametrize("kind", ["yaml-appended", "json-truncated"])
@pytest.mark.parametrize("args", CORRUPT_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_corrupt_encrypted_file_exits_1_like_sops(args, kind, tmp_path, cli, sops, base_env):
    if kind == "yaml-appended":
        f = _encrypted(tmp_path, cli, "c.yaml", b"a: 1\n")
        f.write_bytes(f.read_bytes() + b"x: [\n")
    else:
        f = _encrypted(tmp_path, cli, "c.json", b'{"a": 1}')
        f.write_bytes(f.read_bytes()[:100])
    before = f.read_bytes()
    argv = [a.replace("{f}", str(f)) for a in args]
    env = dict(base_env, EDITOR="true")
    assert sops(argv, env=env).returncode == 1
    ours = cli(argv, env=env)
    assert ours.returncode == 1, ours.stderr
    assert b"Traceback" not in ours.stderr and f.read_bytes() == before
