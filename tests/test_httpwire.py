"""httpwire (the fast KMS path's HTTP/1.1 client) against real loopback servers, and TLS end to end.

The servers are real sockets speaking the framings a server may choose
(Content-Length, chunked, close-delimited, ``100 Continue``, keep-alive and
a keep-alive the server drops); the TLS test puts a real TLS terminator with
a throw-away certificate in front of moto_server and decrypts through it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from keyops_helpers import ok
from secretsctl.keysources.httpwire import Connection, ProtocolError


class Canned:
    """A loopback server that answers each request on a connection with the next canned bytes."""

    def __init__(self, answers: list[bytes], close_after: int = 0) -> None:
        self.answers, self.close_after, self.requests, self.connections = answers, close_after, [], 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        served = 0
        while self.answers:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = f.readline()
                if not line:
                    conn.close()
                    return
                head += line
            length = int(next((l.split(b":")[1] for l in head.split(b"\r\n")
                               if l.lower().startswith(b"content-length:")), b"0"))
            self.requests.append(head + f.read(length))
            conn.sendall(self.answers.pop(0))
            served += 1
            if self.close_after and served >= self.close_after:
                break
        conn.close()

    def close(self) -> None:
        self.sock.close()


def post(conn: Connection, body: bytes = b"{}"):
    return conn.post("/", [("Host", f"127.0.0.1:{conn.port}")], body)


def test_content_length_chunked_continue_and_keep_alive():
    server = Canned([
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello",
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: x\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the close"])
    conn = Connection("http", "127.0.0.1", server.port, 5)
    first = post(conn, b'{"KeyId": "k"}')
    assert (first.status, first.body, first.headers["x-a"], first.will_close) == (200, b"hello", "1, 2", False)
    assert server.requests[0].startswith(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:")
    assert server.requests[0].endswith(b'Content-Length: 14\r\n\r\n{"KeyId": "k"}')
    second = post(conn)
    assert (second.status, second.reason, second.body) == (400, "Bad Request", b"abcde")
    third = post(conn)
    assert (third.body, third.will_close) == (b"until the close", True)
    assert server.connections == 1  # one kept-alive connection for all three
    server.close()


def test_short_garbled_and_silent_answers_are_errors():
    for answer, match in ((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "cut short"),
                          (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP"),
                          (b"", "closed before an answer")):
        server = Canned([answer], close_after=1)
        with pytest.raises(ProtocolError, match=match):
            post(Connection("http", "127.0.0.1", server.port, 5))
        server.close()
    hole = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    with pytest.raises(TimeoutError):
        post(Connection("http", "127.0.0.1", hole.getsockname()[1], 0.3))
    hole.close()


def test_fast_client_replaces_a_dropped_keep_alive_connection():
    from secretsctl.keysources.awsplain import Plan
    from secretsctl.keysources.kms_fast import FastKmsClient
    from secretsctl.keysources.sigv4 import Credentials
    doc = b'{"Plaintext": "a2V5a2V5a2V5"}'
    ok_answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(doc), doc)
    server = Canned([ok_answer, ok_answer], close_after=1)  # drops each connection after one answer
    url = f"http://127.0.0.1:{server.port}"
    client = FastKmsClient(Plan(Credentials("AKIA", "s"), "http", "127.0.0.1", server.port, url),
                           "us-east-1", 5)
    assert client.decrypt(KeyId="k", CiphertextBlob=b"x")["Plaintext"] == b"keykeykey"
    assert client.decrypt(KeyId="k", CiphertextBlob=b"x")["Plaintext"] == b"keykeykey"
    assert server.connections == 2 and len(server.requests) == 2
    assert b"X-Amz-Target: TrentService.Decrypt" in server.requests[0]
    server.close()


# ---------------------------------------------------------------- TLS, end to end

def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _tls_relay(cert: Path, key: Path, upstream: str) -> socket.socket:
    """Terminate TLS on a loopback port and relay the plain bytes to ``upstream`` (moto)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    host, port = upstream.rsplit("//", 1)[1].split(":")
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                tls = ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # the client refused our certificate
                continue
            up = socket.create_connection((host, int(port)))
            threading.Thread(target=pump, args=(tls, up), daemon=True).start()
            threading.Thread(target=pump, args=(up, tls), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_https_endpoint_with_aws_ca_bundle(world, aws_env, tmp_path, cli):
    cert, key = _self_signed(tmp_path)
    relay = _tls_relay(cert, key, aws_env["AWS_ENDPOINT_URL"])
    url = f"https://localhost:{relay.getsockname()[1]}"
    src = tmp_path / "s.yaml"
    src.write_bytes(b"a: secret\n")
    env = {**aws_env, "AWS_ENDPOINT_URL": url, "AWS_CA_BUNDLE": str(cert)}
    enc = ok(cli(["encrypt", "--kms", world.k1, str(src)], env=env))
    f = tmp_path / "enc.yaml"
    f.write_bytes(enc)
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "secretsctl", "decrypt", str(f)],
                         env=env, capture_output=True, timeout=60)
    assert res.returncode == 0 and res.stdout == b"a: secret\n", res.stderr[-2000:]
    assert b"botocore" not in res.stderr and b"secretsctl.keysources.kms_fast" in res.stderr
    # Without the bundle the certificate is refused: a TLS error naming the endpoint, no retry.
    res = cli(["decrypt", str(f)], env={k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"})
    assert res.returncode == 128
    err = " ".join(res.stderr.decode().split())
    assert f"TLS error with {url}" in err and "certificate" in err, err
    assert "attempts" not in err
    relay.close()
