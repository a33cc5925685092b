"""dotenv, INI and binary stores and metadata flattening, with sops as oracle."""
from __future__ import annotations



import pytest

from conftest import VECTORS, age_recipient
from secretsctl.errors import EmitError, InputError, MetadataError
from secretsctl.stores.binary import BinaryStore
from secretsctl.stores.dotenv import DotenvStore
from secretsctl.stores.flatten import flatten, unflatten
from secretsctl.stores.ini import IniStore
from secretsctl.stores.json import JsonStore
from secretsctl.tree import Branch, Comment, Item, Timestamp
from store_oracle import assert_all_equal, roundtrip, roundtrip_many

D, I, B = DotenvStore(), IniStore(), BinaryStore()
SECRET = "hunter2-secret"


def _sops_section(data: bytes) -> tuple[bytes, set[bytes]]:
    """Split an encrypted INI file into its data part and its [sops] lines."""
    head, _, meta = data.partition(b"[sops]\n")
    return head, set(meta.splitlines())


# ------------------------------------------------------------ dotenv

DOTENV_CORPUS = [
    b"# dotenv comment\nFOO=bar\nNUM=42\nEMPTY=\nMULTI=line1\\nline2\nQUOTED=\"kept quotes\"\n",
    # Spaces, export, CR, "=" in value, empty key, empty comment (duplicate
    # keys: sops keeps them, we refuse them; see test_duplicate_keys.py).
    b"A=1\r\n B = 2 \nexport C=x\n#c\n\n\n=v\nD=a=b\nA2=x\n#\n",
    # Backslashes are not escapes; only \n is special, and only on read.
    b"E=x\\\\ny\\\\\\\\n\nF=\\t\\r\nG='single'\nH=\"a#b\" # not a comment\n",
    # Unicode and HTML-ish characters.
    "UNI=héllo ☃ 😀\nHTML=<b>&amp;</b>\nKÉY=v\n".encode(),
    # No final newline, leading blank lines.
    b"\n\nX=1\nY=2",
    # Comment-only and empty files.
    b"# just a comment\n",
    b"",
]


def test_dotenv_plain_matches_sops(sops):
    oracles = roundtrip_many(sops, DOTENV_CORPUS, "env")
    ours = [D.emit_plain(D.load_plain(c)) for c in DOTENV_CORPUS]
    assert_all_equal(DOTENV_CORPUS, ours, [o.decrypted for o in oracles])
    for o in oracles:
        docs, meta = D.load_encrypted(o.encrypted)
        assert D.emit_encrypted(docs, meta) == o.encrypted


def test_dotenv_parse_is_verbatim():
    doc = D.load_plain(b"# c\n export K = \"v\" \nM=a\\nb\nN==\n")[0]
    assert list(doc) == [Comment(" c"), Item(" export K ", ' "v" '), Item("M", "a\nb"),
                         Item("N", "=")]


def test_dotenv_vector_v3():
    raw = (VECTORS / "v3_dotenv.env").read_bytes()
    docs, meta = D.load_encrypted(raw)
    assert not any(k.startswith("sops_") for k in docs[0].keys())
    assert meta.get("unencrypted_suffix") == "_unencrypted"
    assert D.emit_encrypted(docs, meta) == raw
    expected = (VECTORS / "expected" / "v3_dotenv.env.decrypted").read_bytes()
    assert D.emit_plain(D.load_plain(expected)) == expected


def test_dotenv_errors():
    with pytest.raises(InputError) as exc:
        D.load_plain(b"A=1\n" + SECRET.encode() + b"\n")
    assert "line 2" in str(exc.value) and SECRET not in str(exc.value)
    with pytest.raises(EmitError, match="offending key nested") as exc:
        D.emit_plain([Branch([Item("nested", Branch([Item("a", SECRET)]))])])
    assert SECRET not in str(exc.value) and exc.value.exit_code == 4
    with pytest.raises(EmitError, match="offending key l"):
        D.emit_plain([Branch([Item("l", [SECRET])])])
    with pytest.raises(MetadataError, match="sops metadata not found"):
        D.load_encrypted(b"A=" + SECRET.encode() + b"\n")
    with pytest.raises(EmitError):
        D.emit_value(42)


def test_dotenv_has_metadata():
    assert D.has_metadata(D.load_plain(b"sops_version=1\n"))
    assert not D.has_metadata(D.load_plain(b"SOPS=1\nx_sops_y=2\n"))


# ------------------------------------------------------------ INI

INI_CORPUS = [
    b"top = level\n\n; section comment\n[database]\nuser = admin\n; password comment\n"
    b"password = hunter2\nport_unencrypted = 5432\n",
    # Quotes, backticks, triple quotes, inline comments (also without spaces).
    b"[s]\na = \"x\" ; c\nb = `y`\nc = \"\"\"m\nl\"\"\"\n# kc\nd =  sp ace  \ne=a#b\nf = a #b\n"
    b"g = 'q'\nh = \"a\"b\"\ni = \"\ne1 =\ne2 = \"\"\ne5 = `x` ; c\ne6 = \"\"\"a\nb\"\"\" ; c\n",
    # Multi-line comments, comment after header, comments at end dropped.
    b"# c1\n; c2\n[a]\n# k1\n#k2 \nk = v ; inl\n[b] ; sc\nz = 1\n# trailing\n",
    # DEFAULT keys with a comment, colon delimiter, quoted keys, alignment.
    b"; top\nx = 1\nk: v\nk2 : v2 ; c\n\"q k\" = 1\n`b k` = 2\nlongerkey = 3\n[a]\nk = v\n",
    # Sections in any order (duplicate sections and keys: go-ini keeps and
    # overwrites, we refuse them; see test_duplicate_keys.py).
    b"[b]\nk = v\n[a]\nz = 1\n[c]\nk = 1\nj = 2\nl = 3 ; c\n",
    # Section names are not trimmed; empty sections; unicode padding by bytes.
    "[ sp ]\nk = v\n[empty]\n[é]\nkéy = v\nlongkey = v\n".encode(),
    # Continuation lines, CRLF, BOM, indented lines, empty comments.
    b"\xef\xbb\xbf[a]\r\n  k = foo\\\r\n  bar\\\nbaz\r\n;\n m = 1\n#   \nn = 2\n",
    b"",
]


def test_ini_plain_matches_sops(sops):
    oracles = roundtrip_many(sops, INI_CORPUS, "ini")
    ours = [I.emit_plain(I.load_plain(c)) for c in INI_CORPUS]
    assert_all_equal(INI_CORPUS, ours, [o.decrypted for o in oracles])
    for c, o in zip(INI_CORPUS, oracles):
        docs, meta = I.load_encrypted(o.encrypted)
        ours_enc = I.emit_encrypted(docs, meta)
        assert _sops_section(ours_enc) == _sops_section(o.encrypted), c


def test_ini_tree_shape():
    doc = I.load_plain(b"[s]\n; sc\n[t]\n# kc\nk = \"v\" ; inl\nj = 1\n")[0]
    assert doc.keys() == ["DEFAULT", "s", "t"]  # DEFAULT always first
    assert doc.get("DEFAULT") == Branch()
    assert list(doc.get("t")) == [Comment("sc"), Item("k", "v"), Comment("kc\n; inl"),
                                  Item("j", "1")]


def test_ini_auto_increment_keys_round_trip():
    # sops writes go-ini's "#1" keys bare and then reads them as comments
    # (MAC mismatch); we quote them so they survive.
    doc = I.load_plain(b"[list]\n- = a\n- = b\n[x]\n- = c\n")[0]
    assert doc.get("list").keys() == ["#1", "#2"] and doc.get("x").keys() == ["#1"]
    out = I.emit_plain([doc])
    assert out == b"[list]\n`#1` = a\n`#2` = b\n\n[x]\n`#1` = c\n"
    assert I.load_plain(out) == [doc]


def test_ini_vector_v4():
    raw = (VECTORS / "v4_sections.ini").read_bytes()
    docs, meta = I.load_encrypted(raw)
    assert "sops" not in docs[0]
    ours = I.emit_encrypted(docs, meta)
    assert _sops_section(ours) == _sops_section(raw)
    expected = (VECTORS / "expected" / "v4_sections.ini.decrypted").read_bytes()
    assert I.emit_plain(I.load_plain(expected)) == expected


@pytest.mark.parametrize("data,what", [
    (b"[s]\n" + SECRET.encode() + b"\n", "delimiter"),
    (b"[" + SECRET.encode() + b"\nk=v\n", "unclosed"),
    (b"=" + SECRET.encode() + b"\n", "empty key"),
    (b"[s]\nk = \"\"\"" + SECRET.encode() + b"\n", "quote"),
    (b"[]\n", "empty section"),
])
def test_ini_errors(data, what):
    with pytest.raises(InputError, match=what) as exc:
        I.load_plain(data)
    assert SECRET not in str(exc.value)


def test_ini_emit_errors():
    with pytest.raises(EmitError, match="Section values should always be TreeBranches"):
        I.emit_plain([Branch([Item("k", SECRET)])])
    with pytest.raises(EmitError, match="complex value") as exc:
        I.emit_plain([Branch([Item("s", Branch([Item("k", [SECRET])]))])])
    assert SECRET not in str(exc.value)
    with pytest.raises(MetadataError, match="sops metadata not found"):
        I.load_encrypted(b"[s]\nk = v\n")


def test_ini_has_metadata():
    assert I.has_metadata(I.load_plain(b"[sops]\nx = 1\n"))
    assert not I.has_metadata(I.load_plain(b"[s]\nsops = 1\n"))


# ------------------------------------------------------------ cross-format emission

YAML_TYPED = (b"i: 42\nneg: -7\nf: 1.5e20\nf1: 1.0\nfs: 1.0e-7\nfl: 0.1\nbig: 1.0e21\nb: true\n"
              b"bf: false\nn: null\nt: 2024-01-02\nts: 2024-01-02T03:04:05.5+02:00\n"
              b"t2: 2024-01-02 03:04:05.123\n"
              b"s: \"a b\"\nnl: \"x\\ny\"\nsp: \" pad \"\nhash: \"a#b\"\nbt: \"a`b\"\n")


def typed_items() -> list[Item]:
    """The items sops builds from YAML_TYPED, by hand."""
    return [Item("i", 42), Item("neg", -7), Item("f", 1.5e20), Item("f1", 1.0),
            Item("fs", 1e-7), Item("fl", 0.1), Item("big", 1e21), Item("b", True),
            Item("bf", False), Item("n", None), Item("t", Timestamp("2024-01-02T00:00:00Z")),
            Item("ts", Timestamp("2024-01-02T03:04:05.5+02:00")),
            Item("t2", Timestamp("2024-01-02T03:04:05.123Z")), Item("s", "a b"),
            Item("nl", "x\ny"), Item("sp", " pad "), Item("hash", "a#b"), Item("bt", "a`b")]


def test_yaml_to_dotenv_and_ini(sops):
    section = b"sec:\n" + b"".join(b"  " + line + b"\n" for line in YAML_TYPED.splitlines())
    yaml_doc = YAML_TYPED + b"# comment\n" + b"zz: last\n"
    oracles = [roundtrip(sops, yaml_doc, "yaml", output_type="dotenv"),
               roundtrip(sops, section + b"DEFAULT:\n  d: 1\n", "yaml", output_type="ini")]
    flat = Branch(typed_items() + [Comment(" comment"), Item("zz", "last")])
    assert D.emit_plain([flat]) == oracles[0].decrypted
    ini_tree = Branch([Item("sec", Branch(typed_items())),
                       Item("DEFAULT", Branch([Item("d", 1)]))])
    assert I.emit_plain([ini_tree]) == oracles[1].decrypted


def test_json_to_dotenv_and_ini(sops):
    data = b'{"s": {"n": 42, "f": 0.5, "b": true, "z": null, "e": 1e21, "str": "x;y"}}'
    dot = roundtrip(sops, b'{"n": 42, "f": 0.5, "b": false, "z": null}', "json",
                    output_type="dotenv")
    ini = roundtrip(sops, data, "json", output_type="ini")
    J = JsonStore()
    assert D.emit_plain(J.load_plain(b'{"n": 42, "f": 0.5, "b": false, "z": null}')) == dot.decrypted
    assert I.emit_plain(J.load_plain(data)) == ini.decrypted


def test_ini_and_dotenv_to_json(sops):
    J = JsonStore()
    ini_in, env_in = INI_CORPUS[1], DOTENV_CORPUS[1]
    o1 = roundtrip(sops, ini_in, "ini", output_type="json")
    o2 = roundtrip(sops, env_in, "env", output_type="json")
    assert J.emit_plain(I.load_plain(ini_in)) == o1.decrypted
    assert J.emit_plain(D.load_plain(env_in)) == o2.decrypted


# ------------------------------------------------------------ binary

BINARY_CORPUS = [
    b"binary\x00\xff\xfe payload\n",
    bytes(range(256)) * 3,
    b"",
    "plain text ☃\n".encode(),
    b'{"looks": "like json"}',
    b"\xed\xa0\x80 surrogate bytes \xc0\xaf overlong",
]


def test_binary_matches_sops(sops, tmp_path):
    (tmp_path / ".sops.yaml").write_text("stores:\n  json_binary:\n    indent: 2\n")
    oracles = roundtrip_many(sops, BINARY_CORPUS, "bin")
    assert_all_equal(BINARY_CORPUS, [B.emit_plain(B.load_plain(c)) for c in BINARY_CORPUS],
                     [o.decrypted for o in oracles])
    for o in oracles:
        assert B.emit_encrypted(*B.load_encrypted(o.encrypted)) == o.encrypted
    indented = roundtrip(sops, BINARY_CORPUS[0], "bin", cwd=tmp_path)
    store = BinaryStore(indent=2)
    assert store.emit_encrypted(*store.load_encrypted(indented.encrypted)) == indented.encrypted


def test_binary_vector_v5():
    raw = (VECTORS / "v5_blob.bin").read_bytes()
    docs, meta = B.load_encrypted(raw)
    assert docs[0].keys() == ["data"]
    assert B.emit_encrypted(docs, meta) == raw
    expected = (VECTORS / "expected" / "v5_blob.bin.decrypted").read_bytes()
    assert B.emit_plain(B.load_plain(expected)) == expected


def test_binary_errors():
    assert not B.has_metadata(B.load_plain(b'{"sops": {}}'))
    with pytest.raises(EmitError, match="no binary data found") as exc:
        B.emit_plain([Branch([Item("other", "x")])])
    assert "--output-type" in exc.value.hint and exc.value.exit_code == 4
    with pytest.raises(EmitError, match="exactly one"):
        B.emit_plain([Branch([Item("data", "x")])] * 2)
    with pytest.raises(EmitError, match="not structured"):
        B.emit_value(Branch())
    assert B.emit_value("raw") == b"raw"


# ------------------------------------------------------------ flatten

def _meta() -> Branch:
    entry = lambda r: Branch([Item("recipient", r), Item("enc", "line1\nline2\n")])  # noqa: E731
    return Branch([
        Item("shamir_threshold", 2),
        Item("key_groups", [
            Branch([Item("hc_vault", []), Item("age", [entry("r1")])]),
            Branch([Item("kms", [Branch([Item("arn", "a"), Item("context", Branch(
                [Item("app", "x"), Item("dbl__under", "y")])), Item("aws_profile", "")])]),
                Item("hc_vault", []), Item("age", [])]),
        ]),
        Item("lastmodified", "2024-01-01T00:00:00Z"),
        Item("mac", "ENC[...]"),
        Item("pgp", []),
        Item("mac_only_encrypted", True),
        Item("version", "3.11.0"),
    ])


def test_flatten_shape():
    flat = flatten(_meta())
    assert flat == [
        ("shamir_threshold", "2"),
        ("key_groups__list_0__map_age__list_0__map_recipient", "r1"),
        ("key_groups__list_0__map_age__list_0__map_enc", "line1\nline2\n"),
        ("key_groups__list_1__map_kms__list_0__map_arn", "a"),
        ("key_groups__list_1__map_kms__list_0__map_context__map_app", "x"),
        ("key_groups__list_1__map_kms__list_0__map_context__map_dbl__under", "y"),
        ("key_groups__list_1__map_kms__list_0__map_aws_profile", ""),
        ("lastmodified", "2024-01-01T00:00:00Z"),
        ("mac", "ENC[...]"),
        ("mac_only_encrypted", "true"),
        ("version", "3.11.0"),
    ]


def test_unflatten_restores_shape_and_types():
    flat = flatten(_meta())
    back = unflatten(reversed(flat))  # order of the flat keys must not matter
    assert back.get("shamir_threshold") == 2 and back.get("mac_only_encrypted") is True
    groups = back.get("key_groups")
    assert [g.get("hc_vault") for g in groups] == [[], []]
    assert groups[1].get("age") == []
    assert groups[0].get("age")[0].get("enc") == "line1\nline2\n"
    assert groups[1].get("kms")[0].get("context").get("dbl__under") == "y"
    assert sorted(flatten(back)) == sorted(flat)


def test_unflatten_value_rules():
    assert unflatten([("shamir_threshold", "2.0")]).get("shamir_threshold") == 2
    assert unflatten([("mac_only_encrypted", "True")]).get("mac_only_encrypted") is False
    lst = unflatten([("pgp__list_10__map_fp", "b"), ("pgp__list_2__map_fp", "a")]).get("pgp")
    assert [e.get("fp") for e in lst] == ["a", "b"]
    with pytest.raises(MetadataError):
        unflatten([("shamir_threshold", "two")])
    with pytest.raises(MetadataError):
        unflatten([("a", "x"), ("a__map_b", "y")])


def test_key_groups_through_flat_stores(sops, tmp_path):
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{age_recipient(1)}]\n      - age: [{age_recipient(2)}]\n")
    results = {}
    for ext, data in (("env", b"A=1\n"), ("ini", b"[s]\nk = v\n")):
        enc = sops(["encrypt", "--filename-override", f"x.{ext}"], input=data, cwd=tmp_path)
        assert enc.returncode == 0, enc.stderr
        results[ext] = enc.stdout
    docs, meta = D.load_encrypted(results["env"])
    assert D.emit_encrypted(docs, meta) == results["env"]
    assert meta.get("shamir_threshold") == 2
    assert [len(g.get("age")) for g in meta.get("key_groups")] == [1, 1]
    docs, meta2 = I.load_encrypted(results["ini"])
    assert _sops_section(I.emit_encrypted(docs, meta2)) == _sops_section(results["ini"])
    assert meta2.get("key_groups")[1].get("hc_vault") == []
    # The JSON-shaped metadata from a flat store emits like sops's JSON store.
    assert b'"hc_vault": null' in JsonStore().emit_encrypted([Branch()], meta)

