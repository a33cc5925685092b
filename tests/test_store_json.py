"""JSON store against the real sops binary (oracle) and the known-answer vectors."""
from __future__ import annotations

import pytest

from conftest import VECTORS, age_recipient
from secretsctl.errors import EmitError, InputError, MetadataError
from secretsctl.stores.json import JsonStore, go_json_string
from secretsctl.tree import Branch, Comment, Item, Timestamp, bytes_to_str, get_path, parse_path
from store_oracle import assert_all_equal, decrypt_many, roundtrip, roundtrip_many

J = JsonStore()

# Inputs whose canonical sops plaintext emission we must reproduce exactly.
CORPUS: list[bytes] = [
    # Go string escaping: HTML chars, JS line terminators, C0 controls, DEL.
    b'{"s": "<b>&amp;</b> \\u2028\\u2029 \\u0001\\u001f\\u007f / \\\\ \\" \\n\\r\\t\\b\\f",'
    b' "k<&>": "v", "\\u0000": "nul"}',
    # Unicode: raw, escaped, astral, combining; empty key and empty string.
    '{"uni": "héllo ☃ 😀 e\u0301", "esc": "\\u00e9\\ud83d\\ude00", "": "", "ключ": "значение"}'.encode(),
    # Numbers: every JSON number is a float64 re-printed by Go's rule.
    b'{"i": 42, "neg": -3, "z": 0, "nz": -0, "f": 0.5, "e20": 1e20, "e21": 1e21,'
    b' "e6": 1e-6, "e7": 1e-7, "f2": 123456789.123, "max": 1.7976931348623157e308,'
    b' "min": 5e-324, "p53": 9007199254740992, "E": 1E2, "one": 1.0, "h": 100000.0,'
    b' "tiny": 1e-400, "frac": 0.1e1, "long": 0.30000000000000004}',
    # Structure: nesting, empties, null, bools, arrays of arrays.
    b'{"a": {"b": {"c": [1, [2, [3, []]], {}, {"d": null}]}}, "t": true, "f": false,'
    b' "n": null, "eo": {}, "ea": [], "mixed": [null, true, "x", 1.5, {"k": [{}]}]}',
    # (Duplicate keys: sops keeps them, we refuse them; see test_duplicate_keys.py.)
    # Whitespace variants, CRLF, no final newline, trailing whitespace.
    b'{"a":1,"b":[1,2],"c":{"d":"e"}}',
    b'{\r\n  "a" : 1 ,\r\n  "b" : [ ]\r\n}\r\n\r\n',
    b'  \n\t{"only": "one"}   \n',
    # Strings that look like other things stay strings.
    b'{"num": "42", "bool": "true", "null": "null", "date": "2024-01-02", "sp": "  x  "}',
    # Empty object.
    b'{}',
    # Lone surrogate escape becomes U+FFFD, like Go.
    b'{"lone": "\\ud800x", "low": "\\udc80"}',
]


def test_plain_emission_matches_sops(sops):
    oracles = roundtrip_many(sops, CORPUS, "json")
    ours = [J.emit_plain(J.load_plain(c)) for c in CORPUS]
    assert_all_equal(CORPUS, ours, [o.decrypted for o in oracles])
    # Our emission of sops's canonical output is a fixed point too.
    for o in oracles:
        assert J.emit_plain(J.load_plain(o.decrypted)) == o.decrypted
    # And sops's encrypted files re-emit byte for byte.
    for o in oracles:
        docs, meta = J.load_encrypted(o.encrypted)
        assert J.emit_encrypted(docs, meta) == o.encrypted


def test_invalid_utf8_in_strings_matches_sops(sops):
    cases = [b'{"bad": "\xff\xfe ok"}', b'{"trunc": "a\xe2\x82b", "k\xff": 1}']
    oracles = roundtrip_many(sops, cases, "json")
    ours = [J.emit_plain(J.load_plain(c)) for c in cases]
    assert_all_equal(cases, ours, [o.decrypted for o in oracles])


@pytest.mark.parametrize("indent", [0, 2, 4, -1])
def test_indent_from_sops_yaml(sops, tmp_path, indent):
    (tmp_path / ".sops.yaml").write_text(
        f"stores:\n  json:\n    indent: {indent}\n  json_binary:\n    indent: {indent}\n")
    cases = [CORPUS[3], CORPUS[4], CORPUS[9]]
    store = JsonStore(indent)
    oracles = roundtrip_many(sops, cases, "json", cwd=tmp_path)
    assert_all_equal(cases, [store.emit_plain(store.load_plain(c)) for c in cases],
                     [o.decrypted for o in oracles])
    for o in oracles:
        assert store.emit_encrypted(*store.load_encrypted(o.encrypted)) == o.encrypted


def test_indent_below_minus_one_is_emit_error():
    with pytest.raises(EmitError, match="smaller than -1"):
        JsonStore(-2).emit_plain([Branch([Item("a", "b")])])


def test_big_integers_round_trip_exactly():
    # Deliberate improvement over sops (which prints 12345678901234567000):
    # an integer a float64 cannot hold stays an exact int.
    doc = J.load_plain(b'{"big": 12345678901234567890, "ok": 9007199254740992, "huge": 1' +
                       b"0" * 400 + b"}")[0]
    assert doc.get("big") == 12345678901234567890 and isinstance(doc.get("big"), int)
    assert isinstance(doc.get("ok"), float)
    assert J.emit_plain([doc]) == (b'{\n\t"big": 12345678901234567890,\n\t"ok": 9007199254740992,'
                                   b'\n\t"huge": 1' + b"0" * 400 + b"\n}\n")


def test_numbers_are_floats_and_order_kept():
    doc = J.load_plain(b'{"b": 1, "a": 2.5, "c": -0}')[0]
    assert [(i.key, i.value) for i in doc] == [("b", 1.0), ("a", 2.5), ("c", -0.0)]
    assert all(type(i.value) is float for i in doc)
    assert str(doc[2].value) == "-0.0"


def test_go_string_escaping_unit():
    assert go_json_string("<>&") == '"\\u003c\\u003e\\u0026"'
    assert go_json_string("\x00\x1f\x7f") == '"\\u0000\\u001f\x7f"'
    assert go_json_string("\u2028\u2029") == '"\\u2028\\u2029"'
    assert go_json_string(bytes_to_str(b"a\xffb")) == '"a\\ufffdb"'


# ------------------------------------------------------------ cross-format

YAML_TYPED = (b"s: text\ni: 42\nneg: -7\nf: 1.5e20\nf1: 1.0\nfs: 1.0e-7\nb: true\nbf: false\n"
              b"n: null\nt: 2024-01-02\nts: 2024-01-02T03:04:05.5+02:00\nhtml: \"<&>\"\n"
              b"l: [1, 2.5, x, null, {k: v}]\nm: {a: {b: 1}}\nempty: {}\n")


def typed_tree() -> Branch:
    """The tree sops builds from YAML_TYPED, by hand."""
    return Branch([
        Item("s", "text"), Item("i", 42), Item("neg", -7), Item("f", 1.5e20), Item("f1", 1.0),
        Item("fs", 1e-7), Item("b", True), Item("bf", False), Item("n", None),
        Item("t", Timestamp("2024-01-02T00:00:00Z")),
        Item("ts", Timestamp("2024-01-02T03:04:05.5+02:00")), Item("html", "<&>"),
        Item("l", [1, 2.5, "x", None, Branch([Item("k", "v")])]),
        Item("m", Branch([Item("a", Branch([Item("b", 1)]))])), Item("empty", Branch()),
    ])


def test_yaml_to_json_output_types(sops):
    o = roundtrip(sops, YAML_TYPED, "yaml", output_type="json")
    assert J.emit_plain([typed_tree()]) == o.decrypted


def test_comments_are_dropped(sops):
    o = roundtrip(sops, b"# top\na: 1\nl:\n  # in list\n  - x\nm:\n  # in map\n  k: v\n", "yaml",
                  output_type="json")
    tree = Branch([Comment(" top"), Item("a", 1), Item("l", ["x"]),
                   Item("m", Branch([Comment(" in map"), Item("k", "v")]))])
    assert J.emit_plain([tree]) == o.decrypted


def test_emit_value_matches_sops_extract(sops, base_env):
    enc = (VECTORS / "v2_types.json").read_bytes()
    env = dict(base_env, SOPS_AGE_KEY_FILE=str(VECTORS / "age-identity.txt"))
    paths = ['["arr"]', '["int"]', '["bool"]', '["arr"][3]', '["empty_obj"]',
             '["empty_arr"]', '["arr"][3]["k"]', '["uni"]', '["str"]', '["big"]']
    results = decrypt_many(sops, enc, "x.json", [["--extract", p] for p in paths], env=env)
    doc = J.load_plain((VECTORS / "expected" / "v2_types.json.decrypted").read_bytes())[0]
    for path, res in zip(paths, results):
        assert res.returncode == 0, res.stderr
        assert J.emit_value(get_path(doc, parse_path(path))) == res.stdout, path


# ------------------------------------------------------------ vectors + metadata

def test_vector_v2_reemits_byte_exact():
    raw = (VECTORS / "v2_types.json").read_bytes()
    docs, meta = J.load_encrypted(raw)
    assert "sops" not in docs[0]
    assert meta.get("version") == "3.11.0"
    assert J.emit_encrypted(docs, meta) == raw
    expected = (VECTORS / "expected" / "v2_types.json.decrypted").read_bytes()
    assert J.emit_plain(J.load_plain(expected)) == expected


def test_key_groups_null_quirk(sops, tmp_path):
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{age_recipient(1)}]\n      - age: [{age_recipient(2)}]\n")
    enc = sops(["encrypt", "--filename-override", "x.json"], input=b'{"a": "b"}',
               cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    assert b'"hc_vault": null' in enc.stdout
    docs, meta = J.load_encrypted(enc.stdout)
    assert meta.get("shamir_threshold") == 2 and type(meta.get("shamir_threshold")) is int
    groups = meta.get("key_groups")
    assert len(groups) == 2 and all(g.get("hc_vault") == [] for g in groups)
    assert J.emit_encrypted(docs, meta) == enc.stdout


def test_has_metadata():
    assert J.has_metadata(J.load_plain(b'{"sops": {}}'))
    assert not J.has_metadata(J.load_plain(b'{"x": {"sops": 1}}'))


# ------------------------------------------------------------ errors

SECRET = "hunter2-secret"


@pytest.mark.parametrize("data", [
    b'["hunter2-secret"]', b'"hunter2-secret"', b"", b"   ", b'{"a": "hunter2-secret"',
    b'{"a": hunter2-secret}', b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1E400}',
    b'{"a": "hunter2-secret"} {"b": 1}', b'{"a": "\x01hunter2-secret"}',
])
def test_invalid_input(data):
    with pytest.raises(InputError) as exc:
        J.load_plain(data)
    assert SECRET not in str(exc.value) and exc.value.exit_code == 2


def test_metadata_missing():
    with pytest.raises(MetadataError, match="sops metadata not found"):
        J.load_encrypted(b'{"a": "hunter2-secret"}')


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_unsupported_float_is_emit_error(value):
    with pytest.raises(EmitError) as exc:
        J.emit_plain([Branch([Item("x", value)])])
    assert exc.value.exit_code == 4 and "unsupported value" in str(exc.value)
