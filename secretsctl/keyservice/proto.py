"""The protobuf messages of sops's key service, encoded and decoded by hand.

sops's ``keyservice/keyservice.proto`` (proto3, no package) has nine small
messages: strings, bytes, one ``map<string, string>`` and one ``oneof``.
A codec for exactly that is shorter than the generated code it replaces,
needs no ``protobuf`` runtime and no code generation at build time, and
costs nothing to import.  Messages are plain dicts::

    {"age_key": {"recipient": "age1…"}}                       # a Key
    {"key": KEY, "plaintext": b"…"}                           # EncryptRequest

Decoding follows proto3: unknown fields are skipped, absent fields read as
their zero value, and the last value of a repeated scalar field wins.
"""
from __future__ import annotations

from typing import Any

__all__ = ["encode", "decode", "ProtoError", "KEY_TYPES", "MESSAGES"]


class ProtoError(ValueError):
    """Bytes that are not a valid message of the expected type."""


# Field tables: message -> {field number: (name, kind)}; kind is "string",
# "bytes", "map" (string -> string) or the name of a nested message.
MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "PgpKey": {1: ("fingerprint", "string")},
    "KmsKey": {1: ("arn", "string"), 2: ("role", "string"), 3: ("context", "map"),
               4: ("aws_profile", "string")},
    "GcpKmsKey": {1: ("resource_id", "string")},
    "VaultKey": {1: ("vault_address", "string"), 2: ("engine_path", "string"), 3: ("key_name", "string")},
    "AzureKeyVaultKey": {1: ("vault_url", "string"), 2: ("name", "string"), 3: ("version", "string")},
    "AgeKey": {1: ("recipient", "string")},
    # Key's fields form the oneof ``key_type``: exactly one is set.
    "Key": {1: ("kms_key", "KmsKey"), 2: ("pgp_key", "PgpKey"), 3: ("gcp_kms_key", "GcpKmsKey"),
            4: ("azure_keyvault_key", "AzureKeyVaultKey"), 5: ("vault_key", "VaultKey"),
            6: ("age_key", "AgeKey")},
    "EncryptRequest": {1: ("key", "Key"), 2: ("plaintext", "bytes")},
    "EncryptResponse": {1: ("ciphertext", "bytes")},
    "DecryptRequest": {1: ("key", "Key"), 2: ("ciphertext", "bytes")},
    "DecryptResponse": {1: ("plaintext", "bytes")},
}
KEY_TYPES = tuple(name for name, _ in MESSAGES["Key"].values())

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def encode(message: str, value: dict[str, Any]) -> bytes:
    """Serialise ``value`` (a dict) as protobuf message ``message``."""
    out = bytearray()
    for number, (name, kind) in MESSAGES[message].items():
        item = value.get(name)
        if item is None:
            continue
        if kind == "string":
            if item:   # proto3: a zero value is not written
                out += _field(number, str(item).encode("utf-8"))
        elif kind == "bytes":
            if item:
                out += _field(number, bytes(item))
        elif kind == "map":
            for k, v in item.items():
                entry = _field(1, str(k).encode("utf-8")) + _field(2, str(v).encode("utf-8"))
                out += _field(number, entry)
        else:
            out += _field(number, encode(kind, item))
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtoError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(number, wire type, value) for every field; LEN values as bytes."""
    out = []
    pos = 0
    value: int | bytes
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ProtoError("truncated length-delimited field")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > len(data):
                raise ProtoError("truncated fixed-width field")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtoError("string field is not UTF-8") from None


def decode(message: str, data: bytes) -> dict[str, Any]:
    """Parse protobuf bytes as ``message``; zero values for absent fields."""
    table = MESSAGES[message]
    value: dict[str, Any] = {}
    for name, kind in table.values():
        if kind in ("string", "bytes", "map"):
            value[name] = {"string": "", "bytes": b"", "map": {}}[kind]
    for number, wire, raw in _fields(data):
        if number not in table:
            continue   # unknown fields are skipped (proto3)
        name, kind = table[number]
        if wire != _LEN:
            raise ProtoError(f"{message}.{name}: wrong wire type {wire}")
        if kind == "string":
            value[name] = _text(raw)
        elif kind == "bytes":
            value[name] = bytes(raw)
        elif kind == "map":
            entry = {1: "", 2: ""}
            for n, w, v in _fields(raw):
                if n in entry and w == _LEN:
                    entry[n] = _text(v)
            value[name][entry[1]] = entry[2]
        else:
            if message == "Key":   # a oneof: a later member replaces an earlier one
                for other in KEY_TYPES:
                    value.pop(other, None)
            value[name] = decode(kind, raw)
    return value
