"""``secretsctl set`` / ``unset``: sops semantics, minimal diffs, sops as the oracle."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import VECTORS, sops_encrypted

from secretsctl import editing
from secretsctl.errors import SetFormatError
from secretsctl.tree import Branch


def changed_lines(a: bytes, b: bytes) -> set[str]:
    """Keys of the lines that differ between two files (compared as sets of lines)."""
    la, lb = a.decode().splitlines(), b.decode().splitlines()
    return {l.strip().split(":")[0].split("=")[0].strip('" ') for l in set(la) ^ set(lb)}


def first_string(value: object, path: str = "") -> tuple[str, str] | None:
    """(sops path, JSON text) of the first string leaf of decrypted JSON data."""
    if isinstance(value, dict):
        for k, v in value.items():
            found = first_string(v, f'{path}["{k}"]')
            if found:
                return found
    elif isinstance(value, str) and path:
        return path, json.dumps(value)
    return None


@pytest.fixture
def vec_env(base_env):
    return dict(base_env, SOPS_AGE_KEY_FILE=str(VECTORS / "age-identity.txt"))


# v1 is left out: it holds an encrypted comment that sops turned into a list
# item; we write it back as a comment (docs/format.md §16), one more line.
@pytest.mark.parametrize("name", ["v2_types.json", "v3_dotenv.env", "v4_sections.ini",
                                  "v6_regex_maconly.yaml", "v9_lastmodified.yaml", "v10_multidoc.yaml"])
def test_noop_set_changes_only_mac_and_lastmodified_like_sops(cli, sops, vec_env, tmp_path, name):
    ours, theirs = tmp_path / name, tmp_path / ("sops-" + name)
    shutil.copy(VECTORS / name, ours)
    shutil.copy(VECTORS / name, theirs)
    plain = sops(["decrypt", "--output-type", "json", str(ours)], env=vec_env)
    assert plain.returncode == 0, plain.stderr
    found = first_string(json.loads(plain.stdout))
    assert found is not None
    path, value = found
    original = ours.read_bytes()
    res = cli(["set", str(ours), path, value], env=vec_env)
    assert res.returncode == 0, res.stderr
    res2 = sops(["set", str(theirs), path, value], env=vec_env)
    assert res2.returncode == 0, res2.stderr
    # The same lines change as with sops: only the MAC and lastmodified.
    assert changed_lines(original, ours.read_bytes()) == changed_lines(original, theirs.read_bytes())
    assert changed_lines(original, ours.read_bytes()) <= {"mac", "lastmodified", "sops_mac",
                                                         "sops_lastmodified"}
    a = sops(["decrypt", str(ours)], env=vec_env)
    b = sops(["decrypt", str(theirs)], env=vec_env)
    assert a.returncode == 0 and a.stdout == b.stdout


def make_file(sops, tmp_path: Path, plain: str, name: str = "s.yaml") -> Path:
    return sops_encrypted(sops, tmp_path, name, plain)


def test_set_values_decrypt_with_sops_like_sops_set(cli, sops, tmp_path):
    ours = make_file(sops, tmp_path, "a: 1\nlist:\n    - x\n")
    theirs = tmp_path / "t.yaml"
    shutil.copy(ours, theirs)
    for path, value in [('["a"]', "5"), ('["new"]["deep"]', '{"z": 1, "a": [true, null, "s"]}'),
                        ('["list"][7]', '"appended"'), ('["list"][0]', '"first"')]:
        assert cli(["set", str(ours), path, value]).returncode == 0
        assert sops(["set", str(theirs), path, value]).returncode == 0
    a, b = sops(["decrypt", str(ours)]), sops(["decrypt", str(theirs)])
    assert a.returncode == 0 and a.stdout == b.stdout
    assert b"type:float" in ours.read_bytes()  # JSON numbers are floats, as in sops


def test_set_big_integer_stays_an_integer(cli, tmp_path, sops):
    target = make_file(sops, tmp_path, "a: 1\n")
    assert cli(["set", str(target), '["big"]', "123456789012345678901"]).returncode == 0
    out = cli(["decrypt", str(target)])
    assert out.stdout == b"a: 1\nbig: 123456789012345678901\n"


def test_idempotent_set(cli, sops, tmp_path):
    target = make_file(sops, tmp_path, "a: hello\n")
    st, data = os.stat(target), target.read_bytes()
    res = cli(["set", "--idempotent", str(target), '["a"]', '"hello"'])
    assert res.returncode == 0
    assert target.read_bytes() == data and os.stat(target).st_mtime_ns == st.st_mtime_ns
    assert os.stat(target).st_ino == st.st_ino
    assert cli(["set", str(target), '["a"]', '"hello"']).returncode == 0
    # Without --idempotent the file is rewritten (atomically: a new inode);
    # within the same second even the MAC keeps its IV, as in sops.
    assert os.stat(target).st_ino != st.st_ino
    assert cli(["set", "--idempotent", str(target), '["a"]', '"bye"']).returncode == 0
    assert sops(["decrypt", str(target)]).stdout == b"a: bye\n"


def test_unset(cli, sops, tmp_path):
    target = make_file(sops, tmp_path, "a: 1\nb: two\nl:\n    - p\n    - q\n")
    assert cli(["unset", str(target), '["a"]']).returncode == 0
    assert cli(["unset", str(target), '["l"][0]']).returncode == 0
    assert sops(["decrypt", str(target)]).stdout == b"b: two\nl:\n    - q\n"
    st, data = os.stat(target), target.read_bytes()
    res = cli(["unset", str(target), '["nope"]'])
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [
        f'secretsctl: error: {target}: ["nope"]: Key not found: nope']
    res = cli(["unset", str(target), '["l"][5]'])
    assert res.returncode == 1 and b"Index 5 out of bounds" in res.stderr
    res = cli(["unset", "--idempotent", str(target), '["nope"]'])
    assert res.returncode == 0
    assert target.read_bytes() == data and os.stat(target).st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("args,code,msg", [
    (['["a"]', "{not json"], 7, "the value is not valid JSON"),
    (['["a"', '"x"'], 7, "Invalid set index format"),
    (["a", '"x"'], 7, "Invalid set index format"),
    (['["a"]'], 100, "missing VALUE"),
])
def test_set_errors_are_one_line(cli, sops, tmp_path, args, code, msg):
    target = make_file(sops, tmp_path, "a: 1\n")
    data = target.read_bytes()
    res = cli(["set", str(target), *args])
    assert res.returncode == code
    lines = res.stderr.decode().splitlines()
    assert msg in lines[0] and str(target) in lines[0]
    # One error line, and at most a hint (how to quote a JSON value).
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("secretsctl: hint: "))
    assert target.read_bytes() == data


def test_value_file_and_stdin(cli, sops, tmp_path):
    target = make_file(sops, tmp_path, "a: 1\n")
    vf = tmp_path / "v.json"
    vf.write_text('{"k": "from-file"}')
    assert cli(["set", "--value-file", str(target), '["f"]', str(vf)]).returncode == 0
    assert cli(["set", "--value-stdin", str(target), '["s"]'], input=b'"from-stdin"').returncode == 0
    assert sops(["decrypt", str(target)]).stdout == b"a: 1\nf:\n    k: from-file\ns: from-stdin\n"
    res = cli(["set", "--value-file", "--value-stdin", str(target), '["s"]', str(vf)])
    assert res.returncode == 1


def test_parse_json_value_keeps_order_and_sops_number_types():
    v = editing.parse_json_value('{"b": 1, "a": [2.5, 3, true], "c": null}')
    assert isinstance(v, Branch) and v.keys() == ["b", "a", "c"]
    assert v.get("b") == 1.0 and isinstance(v.get("b"), float)
    assert isinstance(v.get("a")[1], float) and v.get("a")[2] is True
    assert isinstance(editing.parse_json_value(str(2**70 + 1)), int)
    with pytest.raises(SetFormatError):
        editing.parse_json_value("nope")


def test_strict_equality_for_idempotent():
    assert not editing._strict_equal(1, 1.0)  # noqa: SLF001
    assert not editing._strict_equal(True, 1)  # noqa: SLF001
    assert editing._strict_equal(editing.parse_json_value('{"a": [1]}'),  # noqa: SLF001
                                 editing.parse_json_value('{"a": [1]}'))
