"""``keyservice``: serve this machine's keys to sops and secretsctl over gRPC."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any, TextIO

import click

from ..errors import SecretsctlError
from ..keysources.base import KeyEnv, split_key_list


def _audit_writer(path: str | None, as_json: bool) -> tuple[Any, TextIO]:
    stream: TextIO = open(path, "a", buffering=1, encoding="utf-8") if path else sys.stderr  # noqa: SIM115
    lock = threading.Lock()

    def write(record: dict[str, str]) -> None:
        line = json.dumps(record, separators=(",", ":")) if as_json else \
            " ".join(f"{k}={v}" for k, v in record.items())
        with lock:
            stream.write(line + "\n")
            stream.flush()
    return write, stream


def _tty_prompt(op: str, key: str) -> bool:
    """Ask on the controlling terminal, as sops's --prompt does on stdin."""
    try:
        with open("/dev/tty", "r+", encoding="utf-8") as tty:
            while True:
                tty.write(f"\nReceived {op} request using {key}. Respond to request? (y/n): ")
                tty.flush()
                answer = tty.readline().strip()
                if answer in ("y", "n"):
                    return answer == "y"
                if not answer and tty.closed:
                    return False
    except OSError:
        return False


@click.command("keyservice")
@click.option("--network", "--net", default="tcp", type=click.Choice(["tcp", "unix"]),
              help="tcp (default) or unix.")
@click.option("--address", "--addr", default="127.0.0.1:5000",
              help="HOST:PORT for tcp (port 0: any free port), a socket path for unix.")
@click.option("--prompt", is_flag=True, help="Ask on the terminal before each request.")
@click.option("--verbose", is_flag=True, hidden=True, help="Accepted for sops compatibility.")
@click.option("--allow", multiple=True,
              help="Only these keys (age recipients, PGP fingerprints, KMS ARNs; comma lists).")
@click.option("--tls-cert", help="Server certificate (PEM): serve mutual TLS.")
@click.option("--tls-key", help="The server certificate's private key (PEM).")
@click.option("--tls-client-ca", help="CA that client certificates must chain to (PEM).")
@click.option("--insecure", is_flag=True,
              help="Allow plain TCP on a non-loopback address (anyone who connects can use the keys).")
@click.option("--audit-log", type=click.Path(dir_okay=False), help="Append audit lines here (default: stderr).")
@click.option("--audit-json", is_flag=True, help="Audit lines as JSON objects.")
@click.option("--max-concurrency", type=click.IntRange(min=1, max=64), default=4,
              help="Requests served at once (default 4).")
def keyservice_cmd(network: str, address: str, prompt: bool, verbose: bool, allow: tuple[str, ...],
                   tls_cert: str | None, tls_key: str | None, tls_client_ca: str | None, insecure: bool,
                   audit_log: str | None, audit_json: bool, max_concurrency: int) -> None:
    """Serve wrap/unwrap of data keys with this machine's age, PGP and KMS keys (sops's protocol)."""
    from ..keyservice.server import KeyServiceHandler, TlsFiles, listen
    tls_parts = (tls_cert, tls_key, tls_client_ca)
    if any(tls_parts) and not all(tls_parts):
        raise SecretsctlError("mutual TLS needs all of --tls-cert, --tls-key and --tls-client-ca")
    tls = TlsFiles(tls_cert, tls_key, tls_client_ca) if all(tls_parts) else None  # type: ignore[arg-type]
    allowed = [k for item in allow for k in split_key_list(item)] if allow else None
    audit, stream = _audit_writer(audit_log, audit_json)
    handler = KeyServiceHandler(KeyEnv(environ=dict(os.environ)), audit, allow=allowed,
                                prompt=_tty_prompt if prompt else None)
    server, where = listen(network, address, handler, tls=tls, insecure=insecure, workers=max_concurrency)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if allowed is None:
        click.echo("secretsctl: warning: no --allow list: any key this machine holds is served", err=True)
    click.echo(f"secretsctl: key service listening on {where}", err=True)
    try:
        stop.wait()
    finally:
        # Graceful: requests in flight get 5 seconds to finish, new ones are refused.
        server.stop(grace=5).wait()
        if network == "unix":
            try:
                os.unlink(os.path.abspath(address))
            except OSError:
                pass
        if stream is not sys.stderr:
            stream.close()
