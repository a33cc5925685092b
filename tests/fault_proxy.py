"""A loopback fault-injecting HTTP proxy in front of moto_server (issue 14).

Each :class:`FaultProxy` stands for one KMS endpoint (route a region to it
with ``SECRETSCTL_KMS_ENDPOINT_<REGION>``).  It forwards to the real
moto_server, except for the first ``times`` requests (all, if ``None``),
which get the fault of its ``mode``:

* ``throttle``  400 ``ThrottlingException`` (what KMS says when rate-limited)
* ``error500``  500 with a KMS ``KMSInternalException`` body
* ``reset``     the request is read, then the TCP connection is reset
* ``slow``      forwarded after ``delay`` seconds
* ``silent``    the request is read and never answered (the socket stays open)
* ``not-json``  200 with an HTML body
* ``no-field``  200 with moto's real answer minus ``Plaintext``/``CiphertextBlob``
* ``bad-b64``   200 with moto's real answer, its blob replaced by invalid base64
* ``down``      nothing listens on the port any more: connection refused

Only requests that reach a fault are counted in ``faults``; ``forwarded``
counts the others.  Only KMS traffic comes here (STS goes to moto directly).
"""
from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from kms_helpers import loopback_server

MODES = ("throttle", "error500", "reset", "slow", "silent", "not-json", "no-field", "bad-b64", "down")
_BLOBS = ("Plaintext", "CiphertextBlob")


class FaultProxy:
    """One faulty KMS endpoint; ``url`` is where to point the client."""

    def __init__(self, upstream: str, mode: str | None = None, *, times: int | None = None,
                 delay: float = 3.0) -> None:
        assert mode is None or mode in MODES, mode
        self.mode, self.times, self.delay = mode, times, delay
        self.faults = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        up = urllib.parse.urlsplit(upstream)
        self._up = (up.hostname, up.port)
        self.server = loopback_server(self._handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        if mode == "down":
            self.server.server_close()   # the port is free again: connections are refused
        else:
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and release every held connection."""
        self._closed.set()
        if self.mode != "down":
            self.server.shutdown()
            self.server.server_close()

    # -------------------------------------------------------------- internals

    def _take_fault(self) -> str | None:
        with self._lock:
            if self.mode is None or (self.times is not None and self.faults >= self.times):
                self.forwarded += 1
                return None
            self.faults += 1
            return self.mode

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        mode = self._take_fault()
        if mode == "silent":
            self._closed.wait()
            return
        if mode == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if mode == "throttle":
            self._reply(h, 400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            return
        if mode == "error500":
            self._reply(h, 500, {"__type": "KMSInternalException", "message": "internal error"})
            return
        if mode == "not-json":
            self._send(h, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if mode == "slow":
            time.sleep(self.delay)
        status, data = self._forward(h, body)
        if mode in ("no-field", "bad-b64") and status == 200:
            answer = json.loads(data)
            for name in _BLOBS:
                if name in answer:
                    if mode == "no-field":
                        del answer[name]
                    else:
                        answer[name] = "%%not*base64%%"
            data = json.dumps(answer).encode()
        self._send(h, status, data, "application/x-amz-json-1.1")

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(*self._up, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() != "connection"}
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def _reply(self, h: BaseHTTPRequestHandler, status: int, answer: dict) -> None:
        self._send(h, status, json.dumps(answer).encode(), "application/x-amz-json-1.1")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True   # the client gave up first (its timeout): fine
