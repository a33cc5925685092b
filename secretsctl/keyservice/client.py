"""Key services as the data-key code sees them: local keys, or a remote sops key service.

sops sends every wrap and unwrap of the data key through a list of key
services: the local one (the process's own keys) first unless
``--enable-local-keyservice=false``, then each ``--keyservice`` URI in
order, and the first that succeeds wins (``decryptKey`` in sops.go).
secretsctl does the same with ``keysources.base.LocalKeys`` and
:class:`RemoteService`; a remote service that fails, refuses or does not
answer within its timeout is "try the next one" (``IncorrectKeyError``).

grpcio is imported only when a remote service is first called.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import IncorrectKeyError, KeySourceError
from ..keysources.base import KeyEnv, MasterKey, Restampable, format_created_at
from ..keysources.opaque import OpaqueKey
from . import proto

__all__ = ["RemoteService", "parse_uri", "key_message", "TIMEOUT_VAR"]

TIMEOUT_VAR = "SECRETSCTL_KEYSERVICE_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
#: Client certificate settings for ``tls://`` services (secretsctl's own servers).
TLS_VARS = ("SECRETSCTL_KEYSERVICE_CA", "SECRETSCTL_KEYSERVICE_CERT", "SECRETSCTL_KEYSERVICE_KEY")



# Metadata fields of the key types secretsctl keeps but cannot use, as the
# Key message names them (sops's KeyFromMasterKey).
_OPAQUE_FIELDS = {
    "gcp_kms": ("gcp_kms_key", {"resource_id": "resource_id"}),
    "azure_kv": ("azure_keyvault_key", {"vault_url": "vaultUrl", "name": "name", "version": "version"}),
    "hc_vault": ("vault_key", {"vault_address": "vault_address", "engine_path": "engine_path",
                               "key_name": "key_name"}),
}


def key_message(key: MasterKey) -> dict[str, Any]:
    """The protobuf ``Key`` for a master key; KeySourceError for a type sops cannot send."""
    kind = key.type_id
    if kind == "age":
        return {"age_key": {"recipient": key.identifier()}}
    if kind == "pgp":
        return {"pgp_key": {"fingerprint": key.identifier()}}
    from ..keysources.kms import KmsKey
    if isinstance(key, KmsKey):
        return {"kms_key": {"arn": key.arn, "role": key.role, "context": dict(key.context),
                            "aws_profile": key.aws_profile}}
    if kind in _OPAQUE_FIELDS and isinstance(key, OpaqueKey):
        member, fields = _OPAQUE_FIELDS[kind]
        return {member: {name: str(key.entry.get(src) or "") for name, src in fields.items()}}
    raise IncorrectKeyError(f"key type {kind} cannot be sent to a key service")


def parse_uri(uri: str) -> tuple[str, str]:
    """sops's ``tcp://host:port`` / ``unix:///path`` (and our ``tls://host:port``) -> (scheme, target)."""
    parts = urlsplit(uri)
    if parts.scheme in ("tcp", "tls") and parts.netloc:
        return parts.scheme, parts.netloc
    if parts.scheme == "unix" and (parts.path or parts.netloc):
        return "unix", "unix:" + (parts.path or parts.netloc)
    raise KeySourceError(f"invalid key service address {uri!r} (tcp://HOST:PORT or unix:///PATH)")


class RemoteService:
    """A sops key service reached over gRPC (``/KeyService/Encrypt`` and ``Decrypt``)."""

    def __init__(self, uri: str, environ: dict[str, str] | None = None) -> None:
        self.name = uri
        self.scheme, self.target = parse_uri(uri)
        env = environ if environ is not None else dict(os.environ)
        try:
            self.timeout = float(env.get(TIMEOUT_VAR) or DEFAULT_TIMEOUT)
        except ValueError:
            raise KeySourceError(f"{TIMEOUT_VAR} must be a number of seconds") from None
        self._tls = tuple(env.get(v, "") for v in TLS_VARS)
        self._channel: Any = None

    def _call(self, method: str, request: dict[str, Any], reply: str) -> dict[str, Any]:
        import grpc  # only commands that use a key service pay for grpcio
        if self._channel is None:
            self._channel = self._open(grpc)
        stub = self._channel.unary_unary(
            f"/KeyService/{method}",
            request_serializer=lambda m: proto.encode(f"{method}Request", m),
            response_deserializer=lambda b: proto.decode(reply, b))
        try:
            return stub(request, timeout=self.timeout)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            detail = " ".join(str(exc.details() or "").split())[:300]
            raise IncorrectKeyError(f"key service {self.name}: {code}: {detail}") from None
        except proto.ProtoError as exc:
            raise IncorrectKeyError(f"key service {self.name}: malformed reply: {exc}") from None

    def _open(self, grpc: Any) -> Any:
        if self.scheme != "tls":
            return grpc.insecure_channel(self.target)
        ca, cert, key = (Path(p).read_bytes() if p else None for p in self._tls)
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        return grpc.secure_channel(self.target, creds)

    def decrypt(self, key: MasterKey, env: KeyEnv) -> bytes:
        reply = self._call("Decrypt", {"key": key_message(key), "ciphertext": key.enc.encode()},
                           "DecryptResponse")
        return bytes(reply["plaintext"])

    def encrypt(self, key: MasterKey, payload: bytes, env: KeyEnv) -> None:
        reply = self._call("Encrypt", {"key": key_message(key), "plaintext": payload}, "EncryptResponse")
        try:
            key.enc = bytes(reply["ciphertext"]).decode("ascii")
        except (UnicodeDecodeError, AttributeError):
            raise IncorrectKeyError(f"key service {self.name}: the wrapped key is not text") from None
        if isinstance(key, Restampable):   # pgp and kms entries record when they were wrapped
            key.keep_created_at(format_created_at(env.now()))
