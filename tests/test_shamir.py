"""Shamir secret sharing: sops byte layout (vector v7), field KAT, properties."""
from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl import shamir
from conftest import VECTORS

DATA_KEY = bytes(range(32))
V7_COEFFS = hashlib.sha256(b"secretsctl-shamir-coefficients").digest()


def v7_shares() -> list[bytes]:
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    return [bytes.fromhex(h) for h in manifest["vectors"]["v7_shamir.yaml"]["shamir_shares_hex"]]


def test_gf_mul_kat():
    assert shamir.gf_mul(0x57, 0x83) == 0xC1
    assert shamir.gf_mul(0x83, 0x57) == 0xC1
    assert shamir.gf_mul(0, 0x57) == 0 and shamir.gf_mul(1, 0x57) == 0x57


def test_gf_inverse_all_elements():
    for a in range(1, 256):
        assert shamir.gf_mul(a, shamir.gf_inv(a)) == 1


def test_v7_shares_reproduced_from_coefficients():
    # t=2: one degree-1 coefficient per secret byte, taken in order.
    shares = shamir.split(DATA_KEY, 2, 2, randbytes=lambda n: V7_COEFFS[:n])
    assert shares == v7_shares()


def test_v7_shares_combine_to_data_key():
    shares = v7_shares()
    assert shamir.combine(shares) == DATA_KEY
    assert shamir.combine(list(reversed(shares))) == DATA_KEY


def test_share_layout_x_is_last_byte():
    shares = shamir.split(DATA_KEY, 5, 3)
    assert [s[-1] for s in shares] == [1, 2, 3, 4, 5]
    assert all(len(s) == 33 for s in shares)


@pytest.mark.parametrize("parts,threshold", [(1, 2), (3, 1), (2, 3), (256, 2), (300, 300)])
def test_split_rejects_bad_parameters(parts, threshold):
    with pytest.raises(shamir.ShamirError):
        shamir.split(DATA_KEY, parts, threshold)


def test_split_rejects_empty_secret():
    with pytest.raises(shamir.ShamirError):
        shamir.split(b"", 2, 2)


def test_combine_errors():
    a, b = shamir.split(DATA_KEY, 2, 2)
    with pytest.raises(shamir.ShamirError):
        shamir.combine([a])
    with pytest.raises(shamir.ShamirError):
        shamir.combine([a, a])  # duplicate x
    with pytest.raises(shamir.ShamirError):
        shamir.combine([a, b[:-2] + b[-1:]])  # length mismatch


@settings(max_examples=60, deadline=None)
@given(secret=st.binary(min_size=1, max_size=40), data=st.data())
def test_split_combine_roundtrip(secret, data):
    n = data.draw(st.integers(2, 12), label="parts")
    t = data.draw(st.integers(2, n), label="threshold")
    shares = shamir.split(secret, n, t)
    subset = data.draw(st.permutations(shares), label="order")[:t]
    assert shamir.combine(subset) == secret
    # more than t shares also works
    assert shamir.combine(shares) == secret


@settings(max_examples=30, deadline=None)
@given(secret=st.binary(min_size=8, max_size=32), n=st.integers(3, 8))
def test_fewer_than_threshold_does_not_reveal(secret, n):
    # With all-zero randomness shares reveal the secret; with real randomness
    # t-1 shares must (overwhelmingly likely) give a different value.
    shares = shamir.split(secret, n, n)
    assert shamir.combine(shares[: n - 1]) != secret or len(set(secret)) == 1
