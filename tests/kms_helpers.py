"""Real-network helpers for the KMS tests: moto_server, a counting proxy, a black hole.

* :func:`start_moto` runs the real ``moto_server`` (AWS KMS/STS/IAM over
  HTTP) on a free loopback port; ``scripts/test`` does the same once for the
  suite and exports ``SECRETSCTL_TEST_MOTO_URL``.
* :class:`CountingProxy` is a loopback HTTP proxy in front of moto that
  records every request (``X-Amz-Target`` such as ``TrentService.Decrypt``,
  or the STS ``Action``), the access key that signed it and the ``KeyId``.
  It can also emulate two KMS behaviours moto does not have: a disabled key
  answers ``DisabledException`` (the key's state is moto's real state, set
  with the real ``DisableKey`` call), and throttling on demand.
* :class:`BlackHole` accepts TCP connections and never answers: an
  unreachable region that does not refuse connections.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

ACCOUNT = "123456789012"  # moto's default account
DECRYPT = "TrentService.Decrypt"  # X-Amz-Target values the proxy records
ENCRYPT = "TrentService.Encrypt"
_CRED = re.compile(r"Credential=([^/,\s]+)/\d+/([^/]+)/")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 30) -> None:
    """Block until something listens on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def start_moto(venv_bin: Path) -> tuple[subprocess.Popen, str]:
    """Start ``moto_server`` on a free port; returns (process, url)."""
    port = free_port()
    exe = venv_bin / "moto_server"
    if not exe.exists():
        exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
    except RuntimeError:
        proc.kill()
        raise
    return proc, f"http://127.0.0.1:{port}"


def aws_client(service: str, region: str, endpoint: str) -> Any:
    """A boto3 client for the test's own setup calls, pointed at moto."""
    import boto3
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@dataclass
class Seen:
    """One request that went through the proxy."""

    op: str  # "TrentService.Decrypt", "AssumeRole", …
    access_key: str
    region: str
    key_id: str = ""
    session_name: str = ""
    status: int = 0
    error: str = ""


def loopback_server(handle: Callable[[BaseHTTPRequestHandler], None]) -> ThreadingHTTPServer:
    """A threaded HTTP/1.1 server on a free loopback port calling ``handle`` for
    every POST/GET (not serving yet: start ``serve_forever`` in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            handle(self)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


@dataclass
class CountingProxy:
    """A loopback HTTP proxy in front of moto that counts requests (see module doc)."""

    upstream: str
    seen: list[Seen] = field(default_factory=list)
    throttle: int = 0  # answer this many KMS Decrypt calls with ThrottlingException
    emulate_disabled: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        up = urllib.parse.urlsplit(self.upstream)
        self._up = (up.hostname, up.port)
        self.server = loopback_server(self._handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def count(self, op: str) -> int:
        """How many requests of ``op`` arrived (e.g. ``TrentService.Decrypt``)."""
        with self._lock:
            return sum(1 for s in self.seen if s.op == op)

    def of(self, op: str) -> list[Seen]:
        """The recorded requests of ``op``, in order."""
        with self._lock:
            return [s for s in self.seen if s.op == op]

    def reset(self) -> None:
        """Forget what was seen."""
        with self._lock:
            self.seen.clear()

    # -------------------------------------------------------------- internals

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        m = _CRED.search(h.headers.get("Authorization", ""))
        access_key, region = (m.group(1), m.group(2)) if m else ("", "")
        target = h.headers.get("X-Amz-Target", "")
        seen = Seen(target, access_key, region)
        if target.startswith("TrentService."):
            try:
                seen.key_id = json.loads(body or b"{}").get("KeyId", "")
            except ValueError:
                pass
        else:
            form = urllib.parse.parse_qs(body.decode("latin-1"))
            seen.op = (form.get("Action") or [""])[0]
            seen.session_name = (form.get("RoleSessionName") or [""])[0]
        fault = self._fault(seen)
        if fault is not None:
            seen.status, seen.error = 400, fault[0]
            self._record(seen)
            self._reply(h, 400, {"Content-Type": "application/x-amz-json-1.1"},
                        json.dumps({"__type": fault[0], "message": fault[1]}).encode())
            return
        conn = http.client.HTTPConnection(*self._up, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection",)}
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        seen.status = resp.status
        self._record(seen)
        out = {k: v for k, v in resp.getheaders()
               if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        conn.close()
        self._reply(h, resp.status, out, data)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _fault(self, seen: Seen) -> tuple[str, str] | None:
        """An emulated KMS error for this request, if any."""
        if seen.op == "TrentService.Decrypt" and self.throttle > 0:
            with self._lock:
                self.throttle -= 1
            return "ThrottlingException", "Rate exceeded"
        if (self.emulate_disabled and seen.key_id.startswith("arn:")
                and seen.op in ("TrentService.Decrypt", "TrentService.Encrypt")):
            region = seen.key_id.split(":")[3]
            meta = aws_client("kms", region, self.upstream).describe_key(KeyId=seen.key_id)
            if meta["KeyMetadata"]["KeyState"] == "Disabled":
                return "DisabledException", f"{meta['KeyMetadata']['Arn']} is disabled."
        return None

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


class BlackHole:
    """A TCP server that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)  # kept open, never read, never answered

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self._stop = True
        for c in self._conns:
            c.close()
        self.sock.close()


def endpoint_var(region: str) -> str:
    """``SECRETSCTL_KMS_ENDPOINT_<REGION>`` for ``region``."""
    return "SECRETSCTL_KMS_ENDPOINT_" + region.upper().replace("-", "_")


def write_aws_files(home: Path, profiles: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Private AWS config/credentials files with named profiles; returns the env vars."""
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    config = "".join(f"[profile {p}]\nregion = us-east-1\n\n" for p in profiles)
    creds = "".join(f"[{p}]\naws_access_key_id = {k}\naws_secret_access_key = {s}\n\n"
                    for p, (k, s) in profiles.items())
    (aws / "config").write_text(config)
    (aws / "credentials").write_text(creds)
    os.chmod(aws / "credentials", 0o600)
    return {"AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials")}
