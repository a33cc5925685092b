"""sops's gRPC key service in both directions, against the real sops binary.

A file's key is usable only by a key-service process (its environment holds
the age identity, the GNUPGHOME or the AWS credentials); the client has
none and runs with ``--enable-local-keyservice=false``.  Then: the sops
binary through ``secretsctl keyservice``, secretsctl through ``sops
keyservice``, TCP and unix sockets, mutual TLS, the allowlist, the audit
log, and a server killed mid-request.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import KEYS, age_recipient, pgp_fpr

R1, R2 = age_recipient(1), age_recipient(2)
PLAIN = b"db:\n    password: hunter2\nport: 5432\n"


class Server:
    """A key service process (ours or sops's) and where it listens."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, wait_for: str | None) -> None:
        self.log = log
        self.proc = subprocess.Popen(argv, env=env, stderr=log.open("wb"), stdout=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        self.uri = wait_for
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = log.read_text()
            m = re.search(r"listening on (\S+)", text)
            if m and wait_for is None:
                self.uri = m.group(1)
                return
            if wait_for and wait_for.startswith("unix://") and os.path.exists(wait_for[7:]):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"key service exited: {text}")
            time.sleep(0.05)
        raise AssertionError(f"key service did not start: {log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@pytest.fixture
def servers(tmp_path):
    started: list[Server] = []

    def ours(env, *args, name="ks"):
        s = Server([sys.executable, "-m", "secretsctl", "keyservice", *args], env,
                   tmp_path / f"{name}.log", None)
        started.append(s)
        return s

    def theirs(sops_bin, env, path):
        s = Server([sops_bin, "keyservice", "--network", "unix", "--address", str(path)], env,
                   tmp_path / "sops-ks.log", f"unix://{path}")
        started.append(s)
        return s
    yield ours, theirs
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


@pytest.fixture
def keyless_env(base_env, tmp_path):
    """A client environment with no age identity, no gpg keys, no AWS credentials."""
    env = {k: v for k, v in base_env.items() if k != "SOPS_AGE_KEY_FILE"}
    home = tmp_path / "empty-gnupg"
    home.mkdir(mode=0o700)
    env["GNUPGHOME"] = str(home)
    return env


def _file(tmp_path: Path, name: str, data: bytes = PLAIN) -> Path:
    f = tmp_path / name
    f.write_bytes(data)
    return f


def _no_local(uri: str) -> list[str]:
    return ["--keyservice", uri, "--enable-local-keyservice=false"]


def _round_trip(run, uri, key_flags, tmp_path, sops, server_env):
    """Encrypt through the service, decrypt through it; the server-side sops agrees."""
    src = _file(tmp_path, "plain.yaml")
    enc = run(["encrypt", *_no_local(uri), *key_flags, str(src)])
    assert enc.returncode == 0, enc.stderr
    target = _file(tmp_path, "enc.yaml", enc.stdout)
    dec = run(["decrypt", *_no_local(uri), str(target)])
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout == PLAIN
    # Where the keys live, the file is an ordinary sops file.
    assert sops(["decrypt", str(target)], env=server_env).stdout == PLAIN
    return target


@pytest.mark.parametrize("client", ["sops", "secretsctl"])
def test_age_through_our_service_over_tcp(client, servers, base_env, keyless_env, tmp_path, sops, cli):
    ours, _ = servers
    server = ours(base_env, "--address", "127.0.0.1:0")
    run = (lambda a: sops(a, env=keyless_env)) if client == "sops" else (lambda a: cli(a, env=keyless_env))
    target = _round_trip(run, server.uri, ["--age", R1], tmp_path, sops, base_env)
    # Without the service the client cannot open it.
    assert run(["decrypt", str(target)]).returncode == 128


def test_pgp_through_our_service(servers, base_env, keyless_env, gnupg_home, tmp_path, sops):
    ours, _ = servers
    server_env = {**base_env, "GNUPGHOME": gnupg_home}
    server = ours(server_env, "--address", "127.0.0.1:0")
    _round_trip(lambda a: sops(a, env=keyless_env), server.uri, ["--pgp", pgp_fpr(1)], tmp_path,
                sops, server_env)


def test_kms_through_our_service(servers, aws_env, keyless_env, world, tmp_path, sops):
    ours, _ = servers
    server = ours(aws_env, "--address", "127.0.0.1:0")
    client_env = {**keyless_env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                  "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}   # nothing reachable here
    _round_trip(lambda a: sops(a, env=client_env), server.uri, ["--kms", world.k1], tmp_path,
                sops, aws_env)


@pytest.mark.parametrize("kind", ["age", "pgp", "kms"])
def test_secretsctl_through_sops_keyservice_on_unix_socket(kind, servers, sops_bin, base_env, keyless_env,
                                                           tmp_path, sops, cli, request):
    _, theirs = servers
    server_env, flags = dict(base_env), ["--age", R1]
    if kind == "pgp":
        server_env["GNUPGHOME"] = request.getfixturevalue("gnupg_home")
        flags = ["--pgp", pgp_fpr(1)]
    elif kind == "kms":
        server_env = request.getfixturevalue("aws_env")
        flags = ["--kms", request.getfixturevalue("world").k1]
    client_env = {**keyless_env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                  "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir(mode=0o700)
    server = theirs(sops_bin, server_env, sock_dir / "ks.sock")
    _round_trip(lambda a: cli(a, env=client_env), server.uri, flags, tmp_path, sops, server_env)


def test_unix_socket_is_private_and_removed(servers, base_env, keyless_env, tmp_path, sops):
    ours, _ = servers
    path = tmp_path / "private" / "ks.sock"
    server = ours(base_env, "--network", "unix", "--address", str(path))
    assert server.uri == f"unix://{path}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    _round_trip(lambda a: sops(a, env=keyless_env), server.uri, ["--age", R1], tmp_path, sops, base_env)
    assert server.stop() == 0 and not path.exists()   # SIGTERM: graceful, socket gone


def test_unix_socket_in_an_open_directory_is_refused(base_env, tmp_path, cli):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    res = cli(["keyservice", "--network", "unix", "--address", str(open_dir / "ks.sock")], env=base_env)
    assert res.returncode == 1 and b"chmod 700" in res.stderr


def test_non_loopback_tcp_needs_tls(base_env, cli):
    res = cli(["keyservice", "--address", "0.0.0.0:0"], env=base_env)
    assert res.returncode == 1 and b"without TLS" in res.stderr


def _pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (test-only)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def cert(subject, key, issuer_key, ca=False, san=None):
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("test-ca"))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())
    out = {}

    def write(label, obj, key=None):
        out[label] = tmp_path / f"{label}.pem"
        out[label].write_bytes(obj.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            out[label + "-key"] = tmp_path / f"{label}-key.pem"
            out[label + "-key"].write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    write("ca", cert("test-ca", ca_key, ca_key, ca=True))
    for label, san in (("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        write(label, cert(label, key, ca_key, san=san), key)
    return out


def test_mutual_tls(servers, base_env, keyless_env, tmp_path, sops, cli):
    ours, _ = servers
    pki = _pki(tmp_path)
    server = ours(base_env, "--address", "127.0.0.1:0", "--tls-cert", str(pki["server"]),
                  "--tls-key", str(pki["server-key"]), "--tls-client-ca", str(pki["ca"]))
    assert server.uri.startswith("tls://127.0.0.1:")
    with_cert = {**keyless_env, "SECRETSCTL_KEYSERVICE_CA": str(pki["ca"]),
                 "SECRETSCTL_KEYSERVICE_CERT": str(pki["client"]),
                 "SECRETSCTL_KEYSERVICE_KEY": str(pki["client-key"])}
    _round_trip(lambda a: cli(a, env=with_cert), server.uri, ["--age", R1], tmp_path, sops, base_env)
    no_cert = {**keyless_env, "SECRETSCTL_KEYSERVICE_CA": str(pki["ca"]), "SECRETSCTL_KEYSERVICE_TIMEOUT": "5"}
    enc = sops(["encrypt", "--age", R1, str(_file(tmp_path, "x.yaml"))], env=base_env)
    target = _file(tmp_path, "x.enc.yaml", enc.stdout)
    res = cli(["decrypt", *_no_local(server.uri), str(target)], env=no_cert)
    assert res.returncode == 128, res.stderr
    # And a plain-TCP client (sops has no TLS) cannot talk to it at all.
    assert sops(["decrypt", *_no_local("tcp://" + server.uri[6:]), str(target)],
                env=keyless_env).returncode == 128


def test_allowlist_and_audit_log(servers, base_env, keyless_env, tmp_path, sops):
    ours, _ = servers
    audit = tmp_path / "audit.jsonl"
    env = {**base_env, "SOPS_AGE_KEY": (KEYS / "age-test-2.txt").read_text()}   # holds keys 1 and 2
    server = ours(env, "--address", "127.0.0.1:0", "--allow", R2, "--audit-log", str(audit), "--audit-json")
    src = _file(tmp_path, "p.yaml")
    refused = sops(["encrypt", *_no_local(server.uri), "--age", R1, str(src)], env=keyless_env)
    assert refused.returncode != 0
    ok = sops(["encrypt", *_no_local(server.uri), "--age", R2, str(src)], env=keyless_env)
    assert ok.returncode == 0, ok.stderr
    target = _file(tmp_path, "e.yaml", ok.stdout)
    assert sops(["decrypt", *_no_local(server.uri), str(target)], env=keyless_env).stdout == PLAIN
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["op"], r["key"], r["result"]) for r in records] == [
        ("encrypt", f"age:{R1}", "refused: PERMISSION_DENIED"),
        ("encrypt", f"age:{R2}", "ok"), ("decrypt", f"age:{R2}", "ok")]
    assert all(r["peer"].startswith(("ipv4:127.0.0.1", "ipv6:")) and r["time"].endswith("Z") for r in records)
    text = audit.read_text()
    assert "AGE-SECRET-KEY" not in text and "BEGIN AGE" not in text


def test_server_killed_mid_request_falls_back_to_the_next(servers, base_env, keyless_env, tmp_path,
                                                          sops, cli):
    ours, _ = servers
    # A service whose identity command never answers: requests hang there.
    hanging_env = {k: v for k, v in base_env.items() if k != "SOPS_AGE_KEY_FILE"}
    hanging_env["SOPS_AGE_KEY_CMD"] = "sleep 60"
    hanging = ours(hanging_env, "--address", "127.0.0.1:0", name="hang")
    good = ours(base_env, "--address", "127.0.0.1:0", name="good")
    enc = sops(["encrypt", "--age", R1, str(_file(tmp_path, "p.yaml"))], env=base_env)
    target = _file(tmp_path, "e.yaml", enc.stdout)
    argv = ["decrypt", "--keyservice", hanging.uri, "--keyservice", good.uri,
            "--enable-local-keyservice=false", str(target)]
    client = subprocess.Popen([sys.executable, "-m", "secretsctl", *argv], env=keyless_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    hanging.proc.kill()   # mid-request
    out, err = client.communicate(timeout=30)
    assert client.returncode == 0, err
    assert out == PLAIN
    # With no next service, the same kill gives sops's exit 128 and names the service.
    hanging2 = ours(hanging_env, "--address", "127.0.0.1:0", name="hang2")
    client = subprocess.Popen([sys.executable, "-m", "secretsctl", "decrypt", *_no_local(hanging2.uri),
                               str(target)], env=keyless_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    hanging2.proc.kill()
    out, err = client.communicate(timeout=30)
    assert client.returncode == 128 and hanging2.uri.encode() in err and out == b""


def test_silent_service_times_out(keyless_env, base_env, tmp_path, sops, cli):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        enc = sops(["encrypt", "--age", R1, str(_file(tmp_path, "p.yaml"))], env=base_env)
        target = _file(tmp_path, "e.yaml", enc.stdout)
        env = {**keyless_env, "SECRETSCTL_KEYSERVICE_TIMEOUT": "1"}
        started = time.monotonic()
        res = cli(["decrypt", *_no_local(f"tcp://127.0.0.1:{port}"), str(target)], env=env)
        assert res.returncode == 128 and b"DEADLINE_EXCEEDED" in res.stderr
        assert time.monotonic() - started < 20
    finally:
        listener.close()


def test_proto_codec_round_trip():
    from secretsctl.keyservice import proto
    key = {"kms_key": {"arn": "arn:aws:kms:us-east-1:1:key/x", "role": "", "context": {"a": "b", "c": "ü"},
                       "aws_profile": "p"}}
    blob = proto.encode("DecryptRequest", {"key": key, "ciphertext": b"\x00\xff"})
    back = proto.decode("DecryptRequest", blob)
    assert back["key"] == key and back["ciphertext"] == b"\x00\xff"
    assert proto.decode("EncryptResponse", b"") == {"ciphertext": b""}
    for bad in (b"\x0a\x05ab", b"\x80", b"\x0b"):
        with pytest.raises(proto.ProtoError):
            proto.decode("DecryptRequest", bad)


def test_grpc_is_loaded_only_with_a_key_service(tmp_path, base_env, sops, cli):
    enc = sops(["encrypt", "--age", R1, str(_file(tmp_path, "p.yaml"))], env=base_env)
    target = _file(tmp_path, "e.yaml", enc.stdout)
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "secretsctl", "decrypt", str(target)],
                         env=base_env, capture_output=True)
    assert res.returncode == 0 and res.stdout == PLAIN
    assert b" grpc" not in res.stderr and b"secretsctl.keyservice" not in res.stderr


def test_legacy_form_and_environment_variables(servers, base_env, keyless_env, tmp_path, sops, cli):
    ours, _ = servers
    server = ours(base_env, "--address", "127.0.0.1:0")
    enc = sops(["encrypt", "--age", R1, str(_file(tmp_path, "p.yaml"))], env=base_env)
    target = str(_file(tmp_path, "e.yaml", enc.stdout))
    by_env = {**keyless_env, "SOPS_KEYSERVICE": server.uri, "SOPS_ENABLE_LOCAL_KEYSERVICE": "false"}
    for run in (sops, cli):
        assert run(["-d", *_no_local(server.uri), target], env=keyless_env).stdout == PLAIN
        assert run(["decrypt", target], env=by_env).stdout == PLAIN
        # SOPS_KEYSERVICE reaches subcommands; flags before one do not (as in sops).
        assert run([*_no_local(server.uri), "decrypt", target], env=keyless_env).returncode == 128
