"""The only AES-256-GCM module: sops's ``ENC[...]`` value format.

Byte-level rules (docs/format.md §3), each pinned by the vectors in fixtures/vectors:

* ``ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]``, standard
  base64 with padding; ``data`` is the ciphertext without the 16-byte tag.
* The IV is **32 bytes** (sops's ``nonceSize``), not GCM's usual 12; GCM
  derives J0 through GHASH for such nonces and ``AESGCM`` accepts them.
* AAD is the tree path joined with ``:`` plus a trailing ``:`` (built by
  :mod:`secretsctl.treecrypt`).
* Plaintext encodings: ``str`` raw bytes, ``int`` decimal, ``float`` Go
  ``FormatFloat(x,'f',-1,64)``, ``bool`` ``True``/``False`` (the Python
  sops 1.x heritage), ``time`` RFC 3339 with nanoseconds, ``comment`` the
  comment text.
* Empty plaintext is never encrypted: ``""`` stays ``""`` both ways.
* Parsing uses sops's regex, anchored at the start only: trailing bytes
  after ``]`` are ignored, as sops ignores them.
"""
from __future__ import annotations

import base64
import binascii
import functools
import re
import sys
from os import urandom
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import gofmt
from .errors import DecryptError, EncryptError
from .tree import Comment, Timestamp, bytes_to_str, str_to_bytes

IV_SIZE = 32
_ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]", re.S)

__all__ = ["IV_SIZE", "is_encrypted", "encoded", "encode_plaintext", "encrypt", "encrypt_encoded",
           "decrypt", "parse_enc", "type_of"]


def is_encrypted(value: Any) -> bool:
    """True for a string in sops's ``ENC[AES256_GCM,...]`` form."""
    return isinstance(value, str) and _ENC_RE.match(value) is not None


def encoded(value: Any) -> tuple[str, bytes]:
    """``(type tag, plaintext bytes)`` of a scalar: what is encrypted, stashed and hashed.

    One call per leaf: the tree walk needs both for the MAC, the IV stash
    and the cipher, and the float/time encodings are not free.  bool is
    tested before int (True is an int in Python).
    """
    if isinstance(value, Comment):
        return "comment", str_to_bytes(value.text)
    if isinstance(value, bool):
        return "bool", b"True" if value else b"False"
    if isinstance(value, int):
        return "int", str(value).encode()
    if isinstance(value, float):
        return "float", gofmt.float_plain(value).encode()
    if isinstance(value, Timestamp):
        return "time", value.text.encode()
    if isinstance(value, bytes):
        return "bytes", value
    if isinstance(value, str):
        return "str", str_to_bytes(value)
    raise EncryptError(f"cannot encrypt a value of type {type(value).__name__}")


def type_of(value: Any) -> str:
    """The ``type:`` tag of a plaintext value."""
    return encoded(value)[0]


def encode_plaintext(value: Any) -> bytes:
    """The bytes sops encrypts and feeds to the MAC for a scalar value."""
    return encoded(value)[1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


if sys.version_info >= (3, 11):
    def _b64decode(text: str) -> bytes:
        """Strict standard base64: what ``b64decode(validate=True)`` accepts, 3x faster.

        ``strict_mode`` refuses the same inputs (non-alphabet bytes, bad or
        misplaced padding, data after the padding) without the regex pass
        ``validate=True`` adds; tests/test_cipher.py pins the equivalence.
        """
        return binascii.a2b_base64(text, strict_mode=True)
else:  # pragma: no cover - Python 3.10
    def _b64decode(text: str) -> bytes:
        return base64.b64decode(text, validate=True)


@functools.lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    """One AESGCM object per data key: a file's leaves share it (key setup is ~1 us a value)."""
    return AESGCM(key)


def encrypt(value: Any, key: bytes, aad: str, iv: bytes | None = None,
            randbytes: Callable[[int], bytes] = urandom) -> Any:
    """Encrypt one scalar (or :class:`Comment`) into its ``ENC[...]`` string.

    Returns ``""`` for an empty string/comment, as sops does.  ``iv`` reuses
    a stashed IV (minimal diffs); otherwise a fresh random 32-byte IV.
    """
    typ, plaintext = encoded(value)
    return encrypt_encoded(typ, plaintext, key, aad, iv, randbytes)


def encrypt_encoded(typ: str, plaintext: bytes, key: bytes, aad: str, iv: bytes | None = None,
                    randbytes: Callable[[int], bytes] = urandom) -> str:
    """:func:`encrypt` for a value already split by :func:`encoded`."""
    if plaintext == b"" and typ in ("str", "comment"):
        return ""
    iv = iv if iv is not None else randbytes(IV_SIZE)
    try:
        sealed = _aead(key).encrypt(iv, plaintext, aad.encode("utf-8", "surrogateescape"))
    except ValueError:  # wrong key or IV size; the message is generic, never the value
        raise EncryptError("could not encrypt value: invalid key or IV size") from None
    data, tag = sealed[:-16], sealed[-16:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:{typ}]"


def parse_enc(text: str) -> tuple[bytes, bytes, bytes, str]:
    """Split an ``ENC[...]`` string into (data, iv, tag, type).  ``DecryptError`` if malformed."""
    m = _ENC_RE.match(text)
    if not m:
        raise DecryptError("value does not match sops' data format")
    try:
        data, iv, tag = _b64decode(m[1]), _b64decode(m[2]), _b64decode(m[3])
    except (binascii.Error, ValueError):
        raise DecryptError("value has invalid base64 in its ENC[...] form") from None
    if not iv:
        raise DecryptError("value has an empty IV")
    return data, iv, tag, m.group(4)


def decrypt(text: Any, key: bytes, aad: str) -> tuple[Any, bytes | None]:
    """Decrypt an ``ENC[...]`` string; returns (value, iv).

    ``""`` decrypts to ``""`` without the cipher (sops never encrypts empty
    values).  Authentication failure, a malformed value or an unknown type
    raise :class:`DecryptError` without saying which part was wrong.
    """
    if text == "":
        return "", None
    if not isinstance(text, str):
        # sops panics here (docs/format.md §3.1); we report it.
        raise DecryptError("expected an encrypted value, found a plain non-string value")
    data, iv, tag, typ = parse_enc(text)
    try:
        plaintext = _aead(key).decrypt(iv, data + tag, aad.encode("utf-8", "surrogateescape"))
    except (InvalidTag, ValueError):
        raise DecryptError("could not decrypt value: authentication failed") from None
    return _decode(plaintext, typ), iv


_INT_RE = re.compile(rb"[+-]?[0-9]+")


def _decode(plaintext: bytes, typ: str) -> Any:
    """Parse decrypted bytes back into a typed value, as sops does per ``type:``."""
    try:
        if typ == "str":
            return bytes_to_str(plaintext)
        if typ == "comment":
            return Comment(bytes_to_str(plaintext))
        if typ == "bytes":
            return plaintext
        text = plaintext.decode("ascii")
        if typ == "int":
            # Unlike Go's Atoi we accept any size: secretsctl keeps big ints exact.
            if not _INT_RE.fullmatch(plaintext):
                raise ValueError
            return int(text)
        if typ == "float":
            return gofmt.parse_go_float(text)
        if typ == "bool":
            return gofmt.parse_go_bool(text)
        if typ == "time":
            return Timestamp(gofmt.normalize_time_text(text))
    except (ValueError, UnicodeDecodeError):
        raise DecryptError(f"decrypted value is not a valid {typ}") from None
    raise DecryptError(f"Unknown datatype: {typ}")
