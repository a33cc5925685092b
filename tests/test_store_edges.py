"""Store edges found in review, each checked against the real sops 3.11.

* Tabs at the start of a multi-line string, literal-block indentation
  indicators inside sequences, indents outside 2..9 (YAML output must read
  back in both tools; where sops's own output does, ours is identical).
* File type by suffix is case-sensitive (``x.YAML`` is binary for sops).
* Exit codes for unparsable *encrypted* files and for ``filestatus``.
* A directory given as FILE: one error line, sops's exit code.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from secretsctl.formats import detect_format
from secretsctl.stores.yaml import YamlStore
from secretsctl.tree import Branch, Item, to_python

from conftest import age_recipient, sops_encrypted
from keyops_helpers import ok

AGE = ["--age", age_recipient(1)]

# -- 1. tabs at the start of multi-line strings ------------------------------

# go-yaml writes a literal block for every multi-line string, with an
# indentation indicator only when the text starts with a space or a break.
# A block whose first line starts with a TAB is unreadable for go-yaml (and
# for us): "found a tab character where an indentation space is expected".
# sops itself round-trips such a value through its own parser while building
# the output node and writes `null` (data loss); we write double quotes.
LEADING_TAB = ["\tx\ny\n", "\tx\ny", "\tx\ny\n\n", "\t\n", "\t\n\tx", "\tx\u2028y\n"]
# Tabs elsewhere: go-yaml's output (under a mapping key) is valid and ours
# must be identical.
OTHER_TABS = ["x\n\ty\n", "\tx", "\t", " \tx\ny\n", "\n\tx\n", "x\ty\n", "a\n\t", "x\t\ny\n",
              "\n\n\tx", "x\n\n\ty\n"]


def _yaml_values_via_sops(sops, tmp_path: Path, text: bytes) -> dict:
    """What sops reads from YAML ``text`` (encrypt as YAML, decrypt to JSON)."""
    src = tmp_path / "rt.yaml"
    src.write_bytes(text)
    enc = sops(["encrypt", *AGE, str(src)])
    assert enc.returncode == 0, (text, enc.stderr)
    src.write_bytes(enc.stdout)
    dec = sops(["decrypt", "--output-type", "json", str(src)])
    assert dec.returncode == 0, dec.stderr
    return json.loads(dec.stdout)


def _plain_doc(values: list[str]) -> dict:
    return {"v": {f"k{i}": s for i, s in enumerate(values)},
            "l": list(values), "m": [{"k": s} for s in values]}


def test_leading_tab_yaml_reads_back_in_both_tools(sops, cli, tmp_path):
    doc = _plain_doc(LEADING_TAB)
    src = tmp_path / "t.json"
    src.write_text(json.dumps(doc))
    enc = cli(["encrypt", *AGE, str(src)])
    assert enc.returncode == 0, enc.stderr
    src.write_bytes(enc.stdout)
    out = cli(["decrypt", "--output-type", "yaml", str(src)])
    assert out.returncode == 0, out.stderr
    assert b'k0: "\\tx\\ny\\n"\n' in out.stdout
    assert _yaml_values_via_sops(sops, tmp_path, out.stdout) == doc
    assert to_python(YamlStore().load_plain(out.stdout)[0]) == doc


def test_sops_writes_null_for_leading_tab(sops, tmp_path):
    # The quirk behind the difference (README "Deliberate differences").
    enc = sops_encrypted(sops, tmp_path, "n.json", json.dumps({"a": "\tx\ny\n"}))
    assert sops(["decrypt", "--output-type", "yaml", str(enc)]).stdout == b"a: null\n"


def test_leading_tab_yaml_to_yaml(sops, cli, tmp_path):
    # The reviewer's case: YAML in, YAML out, then encrypt the output again.
    src = tmp_path / "r2.yaml"
    src.write_bytes(b'a: "\\tx\\ny\\n"\nb: "\\t|\\n"\n')
    enc = cli(["encrypt", *AGE, str(src)])
    assert enc.returncode == 0, enc.stderr
    src.write_bytes(enc.stdout)
    dec = cli(["decrypt", str(src)])
    assert dec.stdout == b'a: "\\tx\\ny\\n"\nb: "\\t|\\n"\n'
    plain = tmp_path / "again.yaml"
    plain.write_bytes(dec.stdout)
    for tool in (cli, sops):
        assert tool(["encrypt", *AGE, str(plain)]).returncode == 0


def test_other_tabs_match_sops(sops, cli, tmp_path):
    doc = {"v": {f"k{i}": s for i, s in enumerate(OTHER_TABS)}}
    enc = sops_encrypted(sops, tmp_path, "o.json", json.dumps(doc))
    ours = cli(["decrypt", "--output-type", "yaml", str(enc)])
    theirs = sops(["decrypt", "--output-type", "yaml", str(enc)])
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout.decode() == theirs.stdout.decode()
    assert _yaml_values_via_sops(sops, tmp_path, ours.stdout) == doc


# go-yaml writes the indentation indicator `|4` (its best indent) for text
# that starts with a space or a break, but a reader adds the indicator to
# the column of the parent node: inside a sequence (content at dash + 2) and
# in a mapping inside a sequence sops cannot read its own output back.
INDICATED = [" a\n b", "\n a", "\nx", "\n\tx\n", " \tx\ny\n", "\n\n\tx", "  two\n"]


@pytest.mark.parametrize("indent", [2, 4])
def test_indentation_indicator_in_sequences(indent, sops, tmp_path):
    values = INDICATED
    doc = Branch([Item("l", list(values)), Item("m", [Branch([Item("k", v)]) for v in values]),
                  Item("n", [[v] for v in values]), Item("t", Branch([Item("k", values[0])]))])
    text = YamlStore(indent=indent).emit_plain([doc])
    if indent == 4:
        assert b"    - |2-\n       a\n       b\n" in text
        assert b"t:\n    k: |4-\n         a\n" in text   # as go-yaml writes it
    assert to_python(YamlStore().load_plain(text)[0]) == to_python(doc)
    assert _yaml_values_via_sops(sops, tmp_path, text) == to_python(doc)


def test_extracted_list(sops, cli, tmp_path):
    # `--extract` of a list writes it as a document of its own (dash at 0).
    enc = sops_encrypted(sops, tmp_path, "x.json", json.dumps({"l": ["\tx\ny\n", " a\nb"]}))
    ours = cli(["decrypt", "--output-type", "yaml", "--extract", '["l"]', str(enc)])
    assert ours.stdout == b'- "\\tx\\ny\\n"\n- |2-\n   a\n  b\n'
    assert _yaml_values_via_sops(sops, tmp_path, b"l:\n" + ours.stdout) == {"l": ["\tx\ny\n", " a\nb"]}


def test_leading_tab_complex_key(sops, tmp_path):
    # A multi-line key is written in the explicit `? ` form with the same
    # scalar rules as a value.  sops parses it, but its own output turns
    # such a key into `null` (the same go-yaml round trip), so only our
    # reading is compared.
    text = YamlStore().emit_plain([Branch([Item("\tk\nx", "v")])])
    assert text == b'? "\\tk\\nx"\n: v\n'
    assert to_python(YamlStore().load_plain(text)[0]) == {"\tk\nx": "v"}
    src = tmp_path / "k.yaml"
    src.write_bytes(text)
    assert sops(["encrypt", *AGE, str(src)]).returncode == 0


def test_edit_keeps_leading_tab_value(cli, base_env, tmp_path):
    f = tmp_path / "e.yaml"
    f.write_bytes(b'a: "\\tx\\ny\\n"\n')
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    editor = tmp_path / "ed.py"
    editor.write_text("import sys\nopen(sys.argv[-1], 'a').write('z: 1\\n')\n")
    res = cli(["edit", str(f)], env=dict(base_env, EDITOR=f"{sys.executable} {editor}"))
    assert res.returncode == 0, res.stderr
    dec = cli(["decrypt", str(f)])
    assert dec.stdout == b'a: "\\tx\\ny\\n"\nz: 1\n'


@pytest.mark.parametrize("indent", [1, 9, 10])
def test_indent_outside_go_yaml_range(indent, sops, cli, tmp_path):
    # go-yaml's emitter replaces an indent below 2 or above 9 by 2.
    (tmp_path / ".sops.yaml").write_text(f"stores:\n  yaml:\n    indent: {indent}\n")
    doc = {"a": {"b": " x\ny"}, "l": [1, {"k": "\n v"}]}
    enc = sops_encrypted(sops, tmp_path, "e.json", json.dumps(doc))
    args = ["decrypt", "--output-type", "yaml", str(enc)]
    ours, theirs = cli(args, cwd=tmp_path), sops(args, cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 0
    top = b"a:\n" + b" " * (2 if indent != 9 else 9) + b"b: |"
    assert ours.stdout.startswith(top) and theirs.stdout.startswith(top)
    assert ours.stdout.split(b"l:")[0] == theirs.stdout.split(b"l:")[0]
    assert to_python(YamlStore().load_plain(ours.stdout)[0]) == doc


def test_collection_after_raw_break_in_sequence(sops, cli, tmp_path):
    # A value ending in U+2028 leaves go-yaml at column 0 without a newline
    # (docs/format.md §14); a collection after it in a list crashed our emitter.
    doc = {"m": [{"k": "\ny\u2028"}, {"k": "v"}], "l": ["\ny\u2028", ["a"]]}
    enc = sops_encrypted(sops, tmp_path, "u.json", json.dumps(doc))
    args = ["decrypt", "--output-type", "yaml", str(enc)]
    ours, theirs = cli(args), sops(args)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert b"y\xe2\x80\xa8    - k: v\n" in ours.stdout
    assert b"y\xe2\x80\xa8    - - a\n" in ours.stdout
    assert ours.stdout.replace(b"|2", b"|4") == theirs.stdout


# -- 2. case-sensitive file type detection ---------------------------------

@pytest.mark.parametrize("name,fmt", [
    ("a.yaml", "yaml"), ("a.yml", "yaml"), ("a.json", "json"), ("a.env", "dotenv"),
    (".env", "dotenv"), ("a.ini", "ini"), ("a.YAML", "binary"), ("a.Yml", "binary"),
    ("a.JSON", "binary"), ("a.ENV", "binary"), (".ENV", "binary"), ("a.Ini", "binary"),
    ("dir.YAML/a.yaml", "yaml"), ("a.yaml.txt", "binary"), ("a", "binary"), ("", "binary")])
def test_detect_format_is_case_sensitive(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["s.YAML", "s.JSON", "s.ENV", "s.INI"])
def test_upper_case_suffix_is_binary_both_ways(name, sops, cli, tmp_path):
    plain = b"a: 1\n" if name != "s.JSON" else b'{"a": 1}\n'
    enc = sops_encrypted(sops, tmp_path, name, plain.decode())
    assert b'"data": "ENC[' in enc.read_bytes()   # sops used the binary store
    ours = cli(["decrypt", str(enc)])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == plain
    src = tmp_path / ("x-" + name)
    src.write_bytes(plain)
    mine = cli(["encrypt", *AGE, str(src)])
    assert mine.returncode == 0, mine.stderr
    assert b'"data": "ENC[' in mine.stdout
    src.write_bytes(mine.stdout)
    back = sops(["decrypt", str(src)])
    assert back.returncode == 0, back.stderr
    assert back.stdout == plain


def test_filename_override_is_case_sensitive(sops, cli, tmp_path):
    plain = b"a: 1\n"
    for tool in (cli, sops):
        enc = tool(["encrypt", *AGE, "--filename-override", "x.YAML"], input=plain)
        assert enc.returncode == 0, enc.stderr
        assert b'"data": "ENC[' in enc.stdout
        for reader in (cli, sops):
            f = tmp_path / "blob.yaml"
            f.write_bytes(enc.stdout)
            dec = reader(["decrypt", "--filename-override", "x.YAML", str(f)])
            assert (dec.returncode, dec.stdout) == (0, plain), dec.stderr


# -- 3. exit codes for unparsable encrypted files --------------------------

def _one_line(proc) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("secretsctl: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def _corrupt(sops, tmp_path: Path, kind: str) -> Path:
    if kind == "yaml":
        f = sops_encrypted(sops, tmp_path, "c.yaml", "a: 1\n")
        f.write_bytes(f.read_bytes() + b"x: [\n")
    else:
        f = sops_encrypted(sops, tmp_path, "c.json", '{"a": 1}')
        f.write_bytes(f.read_bytes()[:100])
    return f


@pytest.mark.parametrize("kind", ["yaml", "json"])
@pytest.mark.parametrize("cmd", [["decrypt"], ["filestatus"]])
def test_unparsable_encrypted_file_exit_1(kind, cmd, sops, cli, tmp_path):
    f = _corrupt(sops, tmp_path, kind)
    theirs = sops([*cmd, str(f)])
    ours = cli([*cmd, str(f)])
    assert theirs.returncode == ours.returncode == 1
    assert str(f) in _one_line(ours)


@pytest.mark.parametrize("name,body", [("bad.yaml", b"x: [\n"), ("bad.json", b"[1,")])
def test_filestatus_invalid_plain_exit_1(name, body, sops, cli, tmp_path):
    f = tmp_path / name
    f.write_bytes(body)
    assert sops(["filestatus", str(f)]).returncode == 1
    ours = cli(["filestatus", str(f)])
    assert ours.returncode == 1
    _one_line(ours)


def test_encrypt_invalid_plain_yaml_stays_2(sops, cli, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_bytes(b"x: [\n")
    assert sops(["encrypt", *AGE, str(f)]).returncode == 2
    assert cli(["encrypt", *AGE, str(f)]).returncode == 2


def test_empty_yaml_decrypt_and_filestatus(sops, cli, tmp_path):
    f = tmp_path / "empty.yaml"
    f.write_bytes(b"")
    assert sops(["decrypt", str(f)]).returncode == 1
    ours = cli(["decrypt", str(f)])
    assert ours.returncode == 1
    _one_line(ours)
    theirs, ours = sops(["filestatus", str(f)]), cli(["filestatus", str(f)])
    expected = (0, b'{"encrypted":false}\n')
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == expected


def test_filestatus_missing_file_exit_1(sops, cli, tmp_path):
    f = tmp_path / "nope.yaml"
    assert sops(["filestatus", str(f)]).returncode == 1
    ours = cli(["filestatus", str(f)])
    assert ours.returncode == 1
    assert str(f) in _one_line(ours)


# -- 4. a directory where a file is expected -------------------------------

@pytest.mark.parametrize("args,code", [
    (["decrypt", "{d}"], 2),
    (["encrypt", *AGE, "{d}"], 2),
    (["filestatus", "{d}"], 1),
    (["decrypt", "--filename-override", "x.yaml", "{d}"], 2),
    (["decrypt", "--output", "{d}", "{f}"], 3),
    (["encrypt", *AGE, "--output", "{d}", "{p}"], 3),
])
@pytest.mark.parametrize("dirname", ["dir", "dir.yaml"])
def test_directory_one_line(args, code, dirname, sops, cli, tmp_path):
    d = tmp_path / dirname
    d.mkdir()
    p = tmp_path / "p.yaml"
    p.write_bytes(b"a: 1\n")
    f = sops_encrypted(sops, tmp_path, "f.yaml", "a: 1\n")
    argv = [a.format(d=d, f=f, p=p) for a in args]
    assert sops(argv).returncode == code
    ours = cli(argv)
    assert ours.returncode == code
    assert str(d) in _one_line(ours)
    assert ours.stdout == b""


def test_config_directory_one_line(sops, cli, tmp_path):
    # sops 3.11 takes --config before the command only.
    f = sops_encrypted(sops, tmp_path, "f.yaml", "a: 1\n")
    assert sops(["--config", str(tmp_path), "decrypt", str(f)]).returncode == 1
    ours = cli(["decrypt", "--config", str(tmp_path), str(f)])
    assert ours.returncode == 1
    assert str(tmp_path) in _one_line(ours)


# go-yaml names the line where the broken construct *began* (0-based for
# parser errors, 1-based for scanner errors, nothing on the first line);
# our messages name the same line as sops's.
BROKEN_YAML = ["a: [1, 2\n", "a: 1\nb: [1,\n  2\n", "a:\n  b: 1\n c: 2\n", 'a: "x\n', "a: 1\n\tb: 2\n",
               "x\ny: 1\n", "a: 1\n---\n- [\n", "a: {b: 1\n", "a: b: c\n", "@a: 1\n",
               "a: |\n  x\n y\n"]


@pytest.mark.parametrize("text", BROKEN_YAML)
def test_yaml_error_line_matches_sops(text, sops, cli, tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    theirs = sops(["encrypt", "--age", age_recipient(1), str(f)])
    ours = cli(["encrypt", "--age", age_recipient(1), str(f)])
    assert theirs.returncode == ours.returncode == 2

    def where(stderr: bytes) -> tuple[str, str]:
        *_, last = re.findall(r"yaml: (line \d+: )?((?!yaml:)[a-z][^\n]*)", stderr.decode())
        return last

    assert where(ours.stderr) == where(theirs.stderr)


@pytest.mark.parametrize("kind", ["encrypted-regex", "unencrypted-regex"])
def test_sops_file_with_an_invalid_regex_reads_back(kind, sops, cli, tmp_path):
    # sops stores `--encrypted-regex '('` without a word and then matches no
    # key with it; such a file must read back here as it does in sops.
    f = tmp_path / "plain.yaml"
    f.write_text("a: 1\nb: x\n")
    enc = tmp_path / "enc.yaml"
    enc.write_bytes(ok(sops(["encrypt", "--age", age_recipient(1), f"--{kind}", "(", str(f)])))
    assert ok(cli(["decrypt", str(enc)])) == ok(sops(["decrypt", str(enc)])) == f.read_bytes()
    # Writing one is still refused (sops's silent no-op is a trap).
    assert cli(["encrypt", "--age", age_recipient(1), f"--{kind}", "(", str(f)]).returncode == 8
