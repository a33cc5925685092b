"""Shamir secret sharing over GF(2^8), byte-compatible with sops.

sops uses a modified copy of HashiCorp Vault's scheme (docs/format.md §8.2):

* the field is GF(2^8) with the AES reduction polynomial 0x11B;
* every secret byte gets its own random polynomial of degree ``t - 1`` whose
  constant term is that byte;
* share ``i`` (0-based) is evaluated at ``x = i + 1`` — sops replaced
  Vault's random x permutation with this fixed assignment, so shares are
  reproducible from the coefficients alone;
* a share is the evaluations followed by **one trailing byte holding x**.

Randomness is injectable (``randbytes``) so known-answer vectors can be
rebuilt: ``split`` asks for ``len(secret) * (t - 1)`` bytes in a single call
and uses them as the coefficients of degree 1..t-1 for byte 0, then byte 1,
and so on.  With ``t = 2`` that is one coefficient per secret byte, which is
how vector v7 was made (coefficients = SHA-256(b"secretsctl-shamir-coefficients")).
"""
from __future__ import annotations

from os import urandom
from typing import Callable

__all__ = ["split", "combine", "gf_mul", "gf_inv", "ShamirError"]

_POLY = 0x11B  # x^8 + x^4 + x^3 + x + 1, the AES field (same as Vault/sops)


class ShamirError(ValueError):
    """Invalid parameters or shares."""


def _build_tables() -> tuple[list[int], list[int]]:
    """Log/antilog tables with generator 0x03 (a primitive element of the AES field)."""
    exp = [0] * 512
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        # multiply by 3 = x*2 ^ x, reducing modulo the field polynomial
        x2 = x << 1
        if x2 & 0x100:
            x2 ^= _POLY
        x = x2 ^ x
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _build_tables()


def gf_mul(a: int, b: int) -> int:
    """Multiply two field elements (``gf_mul(0x57, 0x83) == 0xC1``)."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_inv(a: int) -> int:
    """Multiplicative inverse of a non-zero field element."""
    if a == 0:
        raise ShamirError("zero has no inverse in GF(2^8)")
    return _EXP[255 - _LOG[a]]


def _evaluate(coeffs: list[int], x: int) -> int:
    """Horner evaluation; ``coeffs[0]`` is the constant term."""
    acc = 0
    for c in reversed(coeffs):
        acc = gf_mul(acc, x) ^ c
    return acc


def split(secret: bytes, parts: int, threshold: int,
          randbytes: Callable[[int], bytes] = urandom) -> list[bytes]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which recover it.

    Share ``i`` is ``len(secret)`` evaluations at ``x = i + 1`` plus the
    trailing x byte, exactly as sops stores them in each key group.
    Requires ``2 <= threshold <= parts <= 255`` and a non-empty secret.
    """
    if parts < threshold:
        raise ShamirError("parts cannot be less than threshold")
    if parts > 255:
        raise ShamirError("parts cannot exceed 255")
    if threshold < 2:
        raise ShamirError("threshold must be at least 2")
    if threshold > 255:
        raise ShamirError("threshold cannot exceed 255")
    if not secret:
        raise ShamirError("cannot split an empty secret")
    degree = threshold - 1
    rand = randbytes(len(secret) * degree)
    if len(rand) != len(secret) * degree:
        raise ShamirError("random source returned the wrong number of bytes")
    shares = [bytearray() for _ in range(parts)]
    for idx, byte in enumerate(secret):
        coeffs = [byte, *rand[idx * degree:(idx + 1) * degree]]
        for i in range(parts):
            shares[i].append(_evaluate(coeffs, i + 1))
    for i in range(parts):
        shares[i].append(i + 1)  # x is stored as the last byte (sops layout)
    return [bytes(s) for s in shares]


def _interpolate_at_zero(xs: list[int], ys: list[int]) -> int:
    """Lagrange interpolation of the points (xs, ys) evaluated at 0."""
    result = 0
    for i, (xi, yi) in enumerate(zip(xs, ys)):
        basis = 1
        for j, xj in enumerate(xs):
            if i == j:
                continue
            # l_i(0) = prod x_j / (x_j - x_i); subtraction is XOR in GF(2^8)
            basis = gf_mul(basis, gf_mul(xj, gf_inv(xj ^ xi)))
        result ^= gf_mul(yi, basis)
    return result


def combine(shares: list[bytes]) -> bytes:
    """Recover the secret from shares produced by :func:`split` (or by sops).

    Needs at least two shares of equal length (>= 2 bytes) with distinct x
    bytes; with fewer than ``threshold`` shares the result is garbage, as
    with any Shamir scheme (the caller knows the threshold).
    """
    if len(shares) < 2:
        raise ShamirError("less than two parts cannot be used to reconstruct the secret")
    length = len(shares[0])
    if length < 2:
        raise ShamirError("parts must be at least two bytes")
    if any(len(s) != length for s in shares):
        raise ShamirError("all parts must be the same length")
    xs = [s[-1] for s in shares]
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate part detected")
    if 0 in xs:
        raise ShamirError("invalid part: x coordinate 0")
    return bytes(_interpolate_at_zero(xs, [s[b] for s in shares]) for b in range(length - 1))
