"""Stores are a registry: adding a format is one module and one registry entry.

The format here is a toy ("jsonc" files read as JSON) registered from this
test module; nothing outside the registry learns its name.
"""
from __future__ import annotations

import pytest

from secretsctl import api, formats
from secretsctl.config import KeySpec
from secretsctl.stores.json import JsonStore

from conftest import age_recipient


class JsoncStore(JsonStore):
    """A "new" format: JSON under another suffix."""

    name = "jsonc"


@pytest.fixture
def jsonc():
    formats.register_store(formats.StoreEntry("jsonc", f"{__name__}:JsoncStore", (".jsonc",),
                                              rb'"sops"\s*:\s*\{'))
    yield
    formats.STORES.pop("jsonc")
    formats.FORMATS = tuple(formats.STORES)


def test_a_registered_format_round_trips(jsonc, base_env):
    assert formats.detect_format("x.jsonc") == "jsonc" and list(formats.STORES)[-1] == "binary"
    rt = api.Runtime(environ=base_env)
    opts = api.EncryptOptions(key_groups=[[KeySpec("age", age_recipient(1))]])
    blob = api.encrypt_data(b'{"a": "secret"}', filename="x.jsonc", options=opts, runtime=rt)
    dec = api.decrypt_data(blob, filename="x.jsonc", runtime=rt)
    assert dec.fmt == "jsonc" and dec.data() == {"a": "secret"}
    assert api.emit_plain(dec) == b'{\n\t"a": "secret"\n}\n'


@pytest.mark.parametrize("name", ["yaml", "json", "dotenv", "ini", "binary"])
def test_every_store_declares_its_capabilities(name):
    store = formats.make_store(name)
    assert store.name == name
    assert isinstance(store.single_value, bool) and isinstance(store.holds_null, bool)
    assert store.example and store.load_plain(store.example)
    assert store.reserved_key(store.load_plain(store.example)[0]) is None
