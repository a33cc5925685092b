"""A minimal HTTP/1.1 client connection: one POST, one answer, kept alive.

Why not ``http.client``: importing it pulls in the ``email`` package and
``ssl`` (about 15 ms on a quiet machine, 50 ms on a busy one, measured with
``-X importtime``), more than the rest of a KMS call's own code; a KMS call
needs only this much HTTP.  ``ssl`` is imported only for ``https``.

What it does: writes the request head and body; reads the status line
(skipping ``100 Continue``), the headers, and a body framed by
``Content-Length`` or ``chunked`` transfer coding (or, without either, up to
the close); notes whether the server will close.  Every socket operation
has the timeout (connect and each read, as boto3's connect/read timeouts).
Failures are ``OSError`` subclasses: ``TimeoutError``, ``ConnectionError``
(including :class:`ProtocolError` for a malformed answer), ``ssl.SSLError``.
"""
from __future__ import annotations

import socket
from typing import Any, Callable, NamedTuple

__all__ = ["Connection", "Response", "ProtocolError", "MAX_BODY"]

MAX_BODY = 16 * 1024 * 1024  # a KMS answer is a few hundred bytes
_MAX_LINE = 65536
_MAX_HEADERS = 200


class ProtocolError(ConnectionError):
    """The peer's answer is not HTTP/1.x as this client understands it."""


class Response(NamedTuple):
    """A complete answer."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    will_close: bool


class Connection:
    """One TCP (or TLS) connection to ``host:port``, opened on first use."""

    def __init__(self, scheme: str, host: str, port: int | None, timeout: float,
                 tls_context: Callable[[], Any] | None = None) -> None:
        self.scheme, self.host, self.timeout = scheme, host, timeout
        self.port = port or (443 if scheme == "https" else 80)
        self._tls_context = tls_context
        self._sock: Any = None
        self._file: Any = None

    def close(self) -> None:
        """Drop the connection (safe to call twice)."""
        for thing in (self._file, self._sock):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass
        self._sock = self._file = None

    def post(self, target: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """Send ``POST target`` with ``headers`` (Host included by the caller) and read the answer."""
        if self._sock is None:
            self._open()
        head = [f"POST {target} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers]
        head.append(f"Content-Length: {len(body)}")
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        resp = self._read_response()
        if resp.will_close:
            self.close()
        return resp

    # -------------------------------------------------------------- internals

    def _open(self) -> None:
        host = self.host.strip("[]")  # an IPv6 literal without its URL brackets
        # An ASCII host as bytes: getaddrinfo then skips the "idna" codec's import.
        sock = socket.create_connection((host.encode("ascii"), self.port),  # type: ignore[arg-type]
                                        self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                if self._tls_context is None:
                    raise ValueError("https needs a TLS context")
                sock = self._tls_context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self._sock, self._file = sock, sock.makefile("rb")

    def _line(self) -> bytes:
        line = self._file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise ProtocolError("HTTP line too long")
        return line

    def _read_response(self) -> Response:
        while True:
            status_line = self._line()
            if not status_line:
                raise ProtocolError("connection closed before an answer")  # a stale keep-alive
            parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError("not an HTTP/1.x answer")
            status, version = int(parts[1]), parts[0]
            headers = self._headers()
            if status != 100:
                break
        reason = parts[2] if len(parts) > 2 else ""
        conn = headers.get("connection", "").lower()
        will_close = "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
            body = self._exactly(length)
        else:
            body, will_close = self._exactly(None), True
        return Response(status, reason, headers, body, will_close)

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError("bad header line")
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError("too many headers")

    def _exactly(self, length: int | None) -> bytes:
        """``length`` bytes (None: up to the close), at most :data:`MAX_BODY`."""
        if length is not None and not 0 <= length <= MAX_BODY:
            raise ProtocolError("answer too large")
        data = self._file.read(MAX_BODY + 1 if length is None else length)
        if (length is not None and len(data) != length) or len(data) > MAX_BODY:
            raise ProtocolError("answer cut short" if length is not None else "answer too large")
        return data

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            total += size
            chunks.append(self._exactly(size) if total <= MAX_BODY else b"")
            if total > MAX_BODY:
                raise ProtocolError("answer too large")
            self._line()  # the CRLF after the chunk
