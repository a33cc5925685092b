"""Property tests: encrypt -> decrypt is the identity for arbitrary trees, and the
real sops binary decrypts what we encrypt to exactly the same plaintext."""
from __future__ import annotations

import math
import os
import subprocess
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from secretsctl import api, treecrypt
from secretsctl.config import KeySpec
from secretsctl.metadata import Metadata
from secretsctl.rules import DEFAULT_RULE
from secretsctl.stores.yaml import YamlStore
from secretsctl.tree import Branch, Comment, Item, Timestamp

from conftest import KEYS, age_recipient, sops_binary

KEY = bytes(range(32))
INT64 = (-(2**63), 2**63 - 1)


def _sops_can_read(s: str) -> bool:
    """False for strings whose YAML form (go-yaml's, which we reproduce) sops
    itself cannot parse back, so no YAML tool can round-trip them:

    * multi-line text starting with a space or a line break gets a literal
      block with indentation indicator ``|4``, which go-yaml writes relative
      to the wrong column inside sequences (``- |4-`` then content at dash+2);
    * multi-line text starting with a tab gets a literal block whose first
      line starts with a tab: go-yaml's auto-detection rejects it ("found a
      tab character where an indentation space is expected").
    """
    return not ("\n" in s and s[:1] in " \t\r\n\x85\u2028\u2029")


# `<<` is excluded from keys: go-yaml writes it as the merge key `!!merge <<`
# and then refuses to read it back unless its value is a mapping.
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=12).filter(lambda k: k != "<<" and _sops_can_read(k))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).filter(_sops_can_read)
timestamps = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1),
                          timezones=st.just(timezone.utc)).map(
    lambda d: Timestamp(f"{d.year:04d}-" + d.strftime("%m-%dT%H:%M:%S") + (f".{d.microsecond:06d}".rstrip("0") if d.microsecond else "") + "Z"))  # noqa: E501


def scalars(big_ints: bool, inf: bool):
    ints = st.integers() if big_ints else st.integers(*INT64)
    return st.one_of(st.none(), st.booleans(), ints, texts, timestamps,
                     st.floats(allow_nan=False, allow_infinity=inf))


def trees(big_ints: bool = True, inf: bool = True, comments: bool = True):
    leaf = scalars(big_ints, inf)

    def extend(children):
        items = st.lists(st.tuples(keys, children), max_size=5, unique_by=lambda kv: kv[0])
        branch = items.map(lambda kvs: Branch(Item(k, v) for k, v in kvs))
        lst = st.lists(children, max_size=4)
        if comments:
            with_c = st.lists(st.one_of(children, texts.map(Comment)), max_size=4)
            return st.one_of(branch, lst, with_c)
        return st.one_of(branch, lst)
    # A top-level `sops` key is the metadata's place: encrypting it is refused (203).
    top = st.lists(st.tuples(keys.filter(lambda k: k != "sops"), st.recursive(leaf, extend, max_leaves=12)), min_size=1,
                   max_size=6, unique_by=lambda kv: kv[0])
    return top.map(lambda kvs: Branch(Item(k, v) for k, v in kvs))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Item) and isinstance(b, Item):
        return a.key == b.key and _same(a.value, b.value)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(trees())
def test_treecrypt_round_trip_is_identity(tree):
    meta = Metadata(rule=DEFAULT_RULE)
    enc, mac1 = treecrypt.encrypt_docs([tree], meta, KEY)
    dec, mac2 = treecrypt.decrypt_docs(enc, meta, KEY)
    assert mac1 == mac2
    assert _same(dec[0], tree)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(trees(big_ints=False, inf=False, comments=False))
def test_sops_decrypts_what_we_encrypt(tree):
    plain = YamlStore().emit_plain([tree])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent",
           "SOPS_AGE_KEY_FILE": str(KEYS / "age-test-1.txt")}
    rt = api.Runtime(environ=env, config_path=os.devnull)
    opts = api.EncryptOptions(key_groups=[[KeySpec("age", age_recipient(1))]])
    enc = api.encrypt_data(plain, filename="p.yaml", options=opts, runtime=rt)
    ours = api.emit_plain(api.decrypt_data(enc, filename="p.yaml", runtime=rt))
    assert ours == YamlStore().emit_plain(YamlStore().load_plain(plain))
    proc = subprocess.run([sops_binary(), "decrypt", "--input-type", "yaml", "--output-type", "yaml"],
                          input=enc, env=env, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == ours
