"""A sops key service (gRPC ``KeyService``) that is safe to expose.

It speaks sops's protocol (keyservice/keyservice.proto), so the sops binary
and secretsctl both use it with ``--keyservice``.  Beyond sops's server:

* only the master keys in an allowlist are used (``allow``), others get
  PERMISSION_DENIED;
* every request gives one audit record (time, peer, operation, key, result;
  never key material);
* requests are small and bounded (``MAX_MESSAGE``) and so is concurrency;
* listening rules (loopback, unix socket modes, mTLS) are enforced by
  :func:`listen`.

Nothing here prints: audit records go to the injected ``audit`` callable,
and the optional ``prompt`` callable decides interactively.
"""
from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import grpc

from ..errors import KeySourceError, SecretsctlError
from ..keysources.age import AgeKey
from ..keysources.base import KeyEnv, MasterKey
from ..keysources.kms import KmsKey
from ..keysources.pgp import PgpKey
from . import proto

__all__ = ["KeyServiceHandler", "TlsFiles", "listen", "is_loopback", "key_from_message", "MAX_MESSAGE"]

#: A wrapped data key is at most a few KB (an armored PGP message); 64 KiB
#: leaves room and refuses anything that is not a key request.
MAX_MESSAGE = 64 * 1024

Audit = Callable[[dict[str, str]], None]
Prompt = Callable[[str, str], bool]


class Refused(Exception):
    """A request the service will not serve: (gRPC status, detail)."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def key_from_message(msg: dict[str, Any]) -> MasterKey:
    """The master key a ``Key`` message names; Refused for types this service cannot use."""
    if "age_key" in msg:
        return AgeKey(msg["age_key"]["recipient"])
    if "pgp_key" in msg:
        return PgpKey(msg["pgp_key"]["fingerprint"])
    if "kms_key" in msg:
        k = msg["kms_key"]
        return KmsKey(k["arn"], role=k["role"], context=k["context"], aws_profile=k["aws_profile"])
    for name in proto.KEY_TYPES:
        if name in msg:
            # sops's server answers an unknown type with NotFound; this is
            # a type it knows that secretsctl cannot use.
            raise Refused(grpc.StatusCode.UNIMPLEMENTED,
                          f"{name} keys are not supported by this key service (secretsctl)")
    raise Refused(grpc.StatusCode.NOT_FOUND, "Must provide a key")


def _key_name(key: MasterKey) -> str:
    return f"{key.type_id}:{key.identifier()}"


def _normal(identifier: str) -> str:
    # PGP fingerprints are compared without case or spaces, like gpg does.
    return identifier.replace(" ", "").upper() if not identifier.startswith(("age1", "arn:")) else identifier


class KeyServiceHandler:
    """Serves Encrypt/Decrypt with this process's keys, within ``allow``."""

    def __init__(self, env: KeyEnv, audit: Audit, allow: Collection[str] | None = None,
                 prompt: Prompt | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.env = env
        self.audit = audit
        self.allow = None if allow is None else {_normal(a) for a in allow}
        self.prompt = prompt
        self.now = now or (lambda: datetime.now(timezone.utc))

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """The gRPC service ``KeyService`` (no proto package, as in sops)."""
        def method(op: str) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: self._serve(op, request, context),
                request_deserializer=lambda b: proto.decode(f"{op}Request", b),
                response_serializer=lambda m: proto.encode(f"{op}Response", m))
        return grpc.method_handlers_generic_handler(
            "KeyService", {"Encrypt": method("Encrypt"), "Decrypt": method("Decrypt")})

    def _serve(self, op: str, request: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
        record = {"time": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "peer": context.peer(),
                  "op": op.lower(), "key": "-", "result": "ok"}
        try:
            key = key_from_message(request.get("key") or {})
            record["key"] = _key_name(key)
            if self.allow is not None and _normal(key.identifier()) not in self.allow:
                raise Refused(grpc.StatusCode.PERMISSION_DENIED, f"key {key.identifier()} is not allowed here")
            if self.prompt is not None and not self.prompt(op.lower(), record["key"]):
                raise Refused(grpc.StatusCode.PERMISSION_DENIED, "Request rejected by user")
            return self._run(op, key, request)
        except Refused as exc:
            record["result"] = f"refused: {exc.code.name}"
            self.audit(record)
            context.abort(exc.code, exc.detail)
        except SecretsctlError as exc:
            record["result"] = "failed"
            self.audit(record)
            context.abort(grpc.StatusCode.UNKNOWN, exc.message)
        except Exception:
            record["result"] = "error"   # a bug: gRPC answers UNKNOWN without details
            self.audit(record)
            raise
        finally:
            if record["result"] == "ok":
                self.audit(record)
        raise AssertionError("unreachable: abort raises")

    def _run(self, op: str, key: MasterKey, request: dict[str, Any]) -> dict[str, Any]:
        if op == "Encrypt":
            key.encrypt(bytes(request["plaintext"]), self.env)
            return {"ciphertext": key.enc.encode()}
        try:
            key.enc = bytes(request["ciphertext"]).decode("ascii")
        except UnicodeDecodeError:
            raise KeySourceError("the wrapped key is not text") from None
        return {"plaintext": key.decrypt(self.env)}


def is_loopback(host: str) -> bool:
    """Whether a TCP listen host is only reachable from this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TlsFiles:
    """Server certificate, its key, and the CA that client certificates must chain to."""

    cert: str
    key: str
    client_ca: str


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise SecretsctlError(f"{path}: {exc.strerror or exc}") from None


def _check_socket_dir(directory: str) -> None:
    """A unix socket lives in a directory only its owner can enter (made 0700 if new)."""
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    st = os.stat(directory)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsctlError(f"{directory}: the socket's directory must be accessible by its owner "
                              "only (chmod 700), or others could connect")


def listen(network: str, address: str, handler: KeyServiceHandler, *, tls: TlsFiles | None = None,
           insecure: bool = False, workers: int = 4) -> tuple[grpc.Server, str]:
    """Start serving ``handler``; returns the server and the address it listens on."""
    server = grpc.server(ThreadPoolExecutor(max_workers=workers), maximum_concurrent_rpcs=workers * 4,
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                  ("grpc.max_send_message_length", MAX_MESSAGE),
                                  ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler.generic_handler(),))
    if network == "unix":
        path = os.path.abspath(address)
        _check_socket_dir(os.path.dirname(path))
        old = os.umask(0o177)   # the socket is created 0600
        try:
            server.add_insecure_port(f"unix:{path}")
        finally:
            os.umask(old)
        server.start()
        os.chmod(path, 0o600)
        return server, f"unix://{path}"
    if network != "tcp":
        raise SecretsctlError(f"unknown network {network!r} (tcp or unix)")
    host = address.rsplit(":", 1)[0] if ":" in address else address
    if tls is None and not is_loopback(host) and not insecure:
        raise SecretsctlError(f"refusing to listen on {address} without TLS: a key service off this "
                              "machine needs --tls-cert/--tls-key/--tls-client-ca (mutual TLS), or "
                              "--insecure to serve keys to anyone who can connect")
    if tls is not None:
        creds = grpc.ssl_server_credentials([(_read(tls.key), _read(tls.cert))],
                                            root_certificates=_read(tls.client_ca),
                                            require_client_auth=True)
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise SecretsctlError(f"cannot listen on {address}")
    server.start()
    return server, f"{'tls' if tls else 'tcp'}://{host}:{port}"
