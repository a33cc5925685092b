"""The KMS fast path (no AWS SDK) end to end: real moto_server, real sops, real subprocesses.

* A plain ``decrypt``/``encrypt`` of a KMS file with environment keys or a
  profile's static keys imports neither boto3 nor botocore (seen through
  ``python -X importtime``) and interoperates with the real sops binary.
* A role ARN or a profile with ``credential_process`` falls back to boto3,
  and works.
* Error answers moto cannot give (a proxy's HTML 502) are reported with
  what came back and from where, retried and bounded.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ruamel.yaml import YAML

from keyops_helpers import ok
from kms_helpers import DECRYPT, ENCRYPT

PLAIN = b"db:\n    user: admin\n    password: hunter2\napi_key: s3cr3t\n"


def traced(args: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[bytes, set[str]]:
    """Run the CLI under ``-X importtime``: (stdout, names of every imported module)."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "secretsctl", *args], env=env,
                         capture_output=True, cwd=cwd, timeout=60)
    lines = res.stderr.decode(errors="replace").splitlines()
    assert res.returncode == 0, "\n".join(l for l in lines if not l.startswith("import time:"))
    mods = {l.rsplit("|", 1)[1].strip() for l in lines if l.startswith("import time:") and "|" in l}
    assert "secretsctl.keysources.kms" in mods  # the trace does see our own modules
    return res.stdout, mods


def unwrapped(stderr: bytes) -> str:
    """The per-key report with its wrapped ``| `` continuation lines joined again."""
    return re.sub(r"\s*\n\s*\| ", " ", stderr.decode())


def boto_loaded(mods: set[str]) -> bool:
    return any(m.split(".")[0] in ("boto3", "botocore") for m in mods)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def meta(data: bytes) -> dict:
    return YAML(typ="safe", pure=True).load(data)["sops"]


# ---------------------------------------------------------------- the fast path applies

def test_env_keys_decrypt_without_boto_and_interop_with_sops(world, aws_env, tmp_path, sops, proxy):
    env = {**aws_env, "AWS_ENDPOINT_URL": proxy.url, "AWS_SESSION_TOKEN": "FwoGtoken"}
    src = write(tmp_path, "s.yaml", PLAIN)
    # sops wraps (two regions, a context) -> the fast path unwraps.
    theirs = write(tmp_path, "theirs.yaml", ok(sops(
        ["encrypt", "--kms", f"{world.k1},{world.k2}", "--encryption-context", "app:web",
         str(src)], env=aws_env)))
    out, mods = traced(["decrypt", str(theirs)], env)
    assert out == PLAIN and not boto_loaded(mods)
    assert "secretsctl.keysources.kms_fast" in mods
    (call,) = proxy.of(DECRYPT)
    assert (call.key_id, call.access_key, call.region) == (world.k1, "testing", "us-east-1")
    # The fast path wraps -> sops unwraps.
    out, mods = traced(["encrypt", "--kms", f"{world.k2},{world.alias}", "--encryption-context",
                        "team:infra", str(src)], env)
    assert not boto_loaded(mods)
    assert [(s.key_id, s.region) for s in proxy.of(ENCRYPT)] == [(world.k2, "eu-west-1"),
                                                                 (world.alias, "us-east-1")]
    ours = write(tmp_path, "ours.yaml", out)
    assert [e["context"] for e in meta(out)["kms"]] == [{"team": "infra"}] * 2
    assert ok(sops(["decrypt", str(ours)], env=aws_env)) == PLAIN


def test_profile_static_keys_decrypt_without_boto(world, aws_env, tmp_path, sops, proxy):
    env = {k: v for k, v in aws_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["AWS_ENDPOINT_URL"] = proxy.url
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(sops(["encrypt", "--kms", world.k1, "--aws-profile", "prof",
                                             str(src)], env=env)))
    proxy.reset()
    out, mods = traced(["decrypt", str(f)], env)
    assert out == PLAIN and not boto_loaded(mods)
    assert proxy.of(DECRYPT)[0].access_key == "AKIAPROFILE000000001"
    # AWS_PROFILE selects the profile for a key without aws_profile.
    g = write(tmp_path, "g.yaml", ok(sops(["encrypt", "--kms", world.k1, str(src)],
                                          env={**env, "AWS_PROFILE": "prof"})))
    proxy.reset()
    out, mods = traced(["decrypt", str(g)], {**env, "AWS_PROFILE": "prof"})
    assert out == PLAIN and not boto_loaded(mods)
    assert proxy.of(DECRYPT)[0].access_key == "AKIAPROFILE000000001"


# ---------------------------------------------------------------- fallback to boto3

def test_role_arn_falls_back_to_boto3_and_works(world, aws_env, tmp_path, sops, proxy):
    env = {**aws_env, "AWS_ENDPOINT_URL": proxy.url}
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(sops(["encrypt", "--kms", f"{world.k1}+{world.role}", str(src)],
                                            env=aws_env)))
    out, mods = traced(["decrypt", str(f)], env)
    assert out == PLAIN and boto_loaded(mods)
    assert proxy.count("AssumeRole") == 1
    assert proxy.of(DECRYPT)[0].access_key not in ("", "testing")  # the role's credentials


def test_credential_process_profile_falls_back_to_boto3_and_works(world, aws_env, tmp_path, proxy):
    helper = tmp_path / "creds.py"
    helper.write_text("import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROCESS00000001',"
                      " 'SecretAccessKey': 'procsecret'}))\n")
    cfg = Path(aws_env["AWS_CONFIG_FILE"])
    cfg.write_text(cfg.read_text() + f"[profile proc]\ncredential_process = {sys.executable} {helper}\n")
    env = {k: v for k, v in aws_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["AWS_ENDPOINT_URL"] = proxy.url
    src = write(tmp_path, "s.yaml", PLAIN)
    out, mods = traced(["encrypt", "--kms", world.k1, "--aws-profile", "proc", str(src)], env)
    assert boto_loaded(mods) and meta(out)["kms"][0]["aws_profile"] == "proc"
    f = write(tmp_path, "enc.yaml", out)
    out, mods = traced(["decrypt", str(f)], env)
    assert out == PLAIN and boto_loaded(mods)
    assert {s.access_key for s in proxy.seen} == {"AKIAPROCESS00000001"}


def test_escape_hatch_forces_boto3(world, aws_env, tmp_path, cli):
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", world.k1, str(src)], env=aws_env)))
    out, mods = traced(["decrypt", str(f)], {**aws_env, "SECRETSCTL_KMS_FASTPATH": "off"})
    assert out == PLAIN and boto_loaded(mods)


# ---------------------------------------------------------------- what came back, from where

class _Bad(BaseHTTPRequestHandler):
    """Answers every request like a broken proxy: 502 with an HTML page."""

    hits = 0
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).hits += 1
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_non_kms_answer_is_reported_retried_and_bounded(world, aws_env, tmp_path, cli):
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", world.k1, str(src)], env=aws_env)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bad)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        res = cli(["decrypt", str(f)], env={**aws_env, "AWS_ENDPOINT_URL_KMS": url})
    finally:
        server.shutdown()
        server.server_close()
    assert res.returncode == 128 and res.stdout == b""
    err = unwrapped(res.stderr)
    assert (f"HTTP 502 Bad Gateway, not a KMS answer: '<html><body><h1>502 Bad Gateway</h1></body></html>'"
            f" after 3 attempts from {url}") in err, err
    assert _Bad.hits == 3
    assert "Traceback" not in err


def test_error_answers_name_the_endpoint(world, aws_env, tmp_path, cli, proxy):
    src = write(tmp_path, "s.yaml", PLAIN)
    f = write(tmp_path, "enc.yaml", ok(cli(["encrypt", "--kms", world.k1, "--encryption-context",
                                            "a:b", str(src)], env=aws_env)))
    bad = write(tmp_path, "bad.yaml", f.read_bytes().replace(b"a: b", b"a: c"))
    res = cli(["decrypt", str(bad)], env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
    assert res.returncode == 128
    assert (f"InvalidCiphertextException (wrong encryption context?) from {proxy.url}"
            in unwrapped(res.stderr)), res.stderr
    # A key that does not exist: moto's own NotFoundException, through the fast path.
    gone = write(tmp_path, "gone.yaml", f.read_bytes().replace(
        world.k1.rsplit("/", 1)[1].encode(), b"00000000-0000-0000-0000-000000000000"))
    res = cli(["decrypt", str(gone)], env=aws_env)
    assert res.returncode == 128
    assert f"NotFoundException (KMS key or alias not found) from {aws_env['AWS_ENDPOINT_URL']}" \
        in unwrapped(res.stderr), res.stderr


def test_library_uses_the_injected_environment(world, aws_env, tmp_path, proxy):
    """KeyEnv.environ, not os.environ, feeds the fast path (the process has no AWS settings)."""
    code = textwrap.dedent(f"""
        import sys
        from secretsctl.keysources.base import KeyEnv
        from secretsctl.keysources.kms import KmsKey
        env = KeyEnv(environ={json.dumps({**{k: v for k, v in aws_env.items() if k.startswith('AWS_')},
                                          'AWS_ENDPOINT_URL': proxy.url})})
        key = KmsKey({world.k2!r})
        key.encrypt(b"k" * 32, env)
        assert key.decrypt(env) == b"k" * 32
        print(sorted(m for m in ("boto3", "botocore") if m in sys.modules))
    """)
    clean = {k: v for k, v in aws_env.items() if not k.startswith("AWS_")}
    res = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == b"[]"
    assert (proxy.count(ENCRYPT), proxy.count(DECRYPT)) == (1, 1)
