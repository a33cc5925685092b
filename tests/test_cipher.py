"""Known-answer tests of the ENC[...] value format against the known-answer vectors."""
from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl import cipher
from secretsctl.errors import DecryptError
from secretsctl.tree import Comment, Timestamp
from secretsctl import treecrypt

from vectors import DATA_KEY, MAC_IV, manifest, names


def _values():
    for name in names():
        for v in manifest()["vectors"][name]["values"]:
            yield pytest.param(v, id=f"{name}#{v['n']}")


@pytest.mark.parametrize("v", list(_values()))
def test_decrypt_matches_manifest_plaintext(v: dict) -> None:
    value, iv = cipher.decrypt(v["enc"], DATA_KEY, v["aad"])
    assert iv.hex() == v["iv_hex"]
    assert cipher.type_of(value) == v["type"]
    assert cipher.encode_plaintext(value).hex() == v["plaintext_hex"]


@pytest.mark.parametrize("v", list(_values()))
def test_encrypt_reproduces_manifest_ciphertext(v: dict) -> None:
    value, _ = cipher.decrypt(v["enc"], DATA_KEY, v["aad"])
    assert cipher.encrypt(value, DATA_KEY, v["aad"], iv=bytes.fromhex(v["iv_hex"])) == v["enc"]


@pytest.mark.parametrize("name", names())
def test_mac_ciphertext(name: str) -> None:
    vec = manifest()["vectors"][name]
    assert treecrypt.mac_aad(vec["lastmodified"]) == vec["mac_aad"]
    assert treecrypt.encrypt_mac(vec["mac_plaintext"], DATA_KEY, vec["lastmodified"],
                                 randbytes=lambda n: MAC_IV) == vec["mac_enc"]


def test_primitive_kat() -> None:
    enc = cipher.encrypt("Alice", DATA_KEY, "name:", iv=b"\x02" * 32)
    assert "data:LheQJi8=" in enc and "tag:JUM671qaxijoJHHcppksxg==" in enc


def test_empty_values_are_never_encrypted() -> None:
    assert cipher.encrypt("", DATA_KEY, "a:") == ""
    assert cipher.encrypt(Comment(""), DATA_KEY, "a:") == ""
    assert cipher.decrypt("", DATA_KEY, "a:") == ("", None)


@pytest.mark.parametrize("value", [
    "héllo ☃", 0, -1, 2**63 - 1, 2**200, -(2**100), 1.5, -0.0, float("inf"), True, False,
    Timestamp("2024-01-02T03:04:05.123456789+02:00"), Comment(" c"), b"\x00\xff",
    "\udcff raw byte",
])
def test_round_trip_every_type(value) -> None:
    enc = cipher.encrypt(value, DATA_KEY, "k:")
    back, iv = cipher.decrypt(enc, DATA_KEY, "k:")
    assert len(iv) == 32
    assert back == value and type(back) is type(value)


def test_bool_plaintext_is_title_case() -> None:
    assert cipher.encode_plaintext(True) == b"True"
    assert cipher.encode_plaintext(False) == b"False"


def test_trailing_garbage_is_ignored_like_sops() -> None:
    enc = cipher.encrypt("x", DATA_KEY, "a:")
    assert cipher.decrypt(enc + "trailing-garbage", DATA_KEY, "a:")[0] == "x"


@pytest.mark.parametrize("mutate", [
    lambda e: e.replace("type:str", "type:nope"),
    lambda e: e.replace("data:", "data:AA"),
    lambda e: "ENC[AES256_GCM,data:xx]",
    lambda e: "plain text",
])
def test_bad_values_raise_decrypt_error(mutate) -> None:
    enc = cipher.encrypt("secret-value", DATA_KEY, "a:")
    with pytest.raises(DecryptError) as info:
        cipher.decrypt(mutate(enc), DATA_KEY, "a:")
    assert "secret-value" not in str(info.value)
    assert info.value.exit_code == 25


def test_wrong_aad_fails() -> None:
    enc = cipher.encrypt("x", DATA_KEY, "a:")
    with pytest.raises(DecryptError):
        cipher.decrypt(enc, DATA_KEY, "b:")


_B64_ALPHABET = "AQZaz09+/=\n -_\u00e9"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_B64_ALPHABET, max_size=12))
def test_fast_base64_refuses_exactly_what_validate_true_refuses(text: str) -> None:
    """The strict a2b_base64 path accepts and refuses the same strings as b64decode(validate=True)."""
    def outcome(fn):
        try:
            return fn(text)
        except (binascii.Error, ValueError):
            return "refused"
    assert outcome(cipher._b64decode) == outcome(lambda t: base64.b64decode(t, validate=True))


@pytest.mark.parametrize("bad", ["QQ=", "Q===", "QQ==QQ==", "Q Q==", "QQ\n==", "QQ-_", "é"])
def test_malformed_base64_in_a_value_is_refused(bad: str) -> None:
    good = cipher.encrypt("secret", DATA_KEY, "a:")
    data, iv, tag, typ = good[len("ENC[AES256_GCM,"):-1].split(",")
    with pytest.raises(DecryptError):
        cipher.decrypt(f"ENC[AES256_GCM,data:{bad},{iv},{tag},{typ}]", DATA_KEY, "a:")
    with pytest.raises(DecryptError):
        cipher.decrypt(f"ENC[AES256_GCM,{data},iv:{bad},{tag},{typ}]", DATA_KEY, "a:")
