"""``encrypt``, ``decrypt`` and ``filestatus``: parse flags, call :mod:`secretsctl.cryptflows`."""
from __future__ import annotations

import json
import sys

import click

from .. import cryptflows
from . import options as o


# FILE is a plain path: click's own existence/directory checks would print
# a multi-line usage error (exit 2) before any command code runs; read_file
# reports a directory or a missing file in one line with sops's exit code.
FILE = click.Path()


def _target(file: str | None, in_place: bool, output: str | None) -> cryptflows.Target:
    return cryptflows.Target(file, in_place=in_place, output=output,
                             stdin=lambda: sys.stdin.buffer.read(), stdout=o.write_stdout)


@click.command("encrypt")
@click.argument("file", required=False, type=FILE)
@o.io_options
@o.key_flags
@o.rule_flags
@o.shamir_threshold
@o.config_opt
@click.option("--reuse-from", type=click.Path(dir_okay=False),
              help="Use this sops file's data key and keys; unchanged values keep their ciphertext.")
def encrypt_cmd(file: str | None, in_place: bool, output: str | None, input_type: str | None,
                output_type: str | None, filename_override: str | None, config_path: str | None,
                reuse_from: str | None, **kw: object) -> None:
    """Encrypt FILE (or stdin) and print the result (or write it with -i/--output)."""
    target = _target(file, in_place, output)
    cryptflows.encrypt(target, input_type=input_type, output_type=output_type,
                       filename_override=filename_override, options=o.encrypt_options(dict(kw)),
                       reuse_from=reuse_from, runtime=o.runtime(config_path))


@click.command("decrypt")
@click.argument("file", required=False, type=FILE)
@o.io_options
@click.option("--extract", help='Print one value, e.g. \'["a"][0]\'.')
@o.ignore_mac
@o.decryption_order
@o.config_opt
def decrypt_cmd(file: str | None, in_place: bool, output: str | None, input_type: str | None,
                output_type: str | None, filename_override: str | None, extract: str | None,
                ignore_mac: bool, decryption_order: str | None, config_path: str | None) -> None:
    """Decrypt FILE (or stdin) and print the plaintext (or write it 0600 with -i/--output)."""
    target = _target(file, in_place, output)
    cryptflows.decrypt(target, input_type=input_type, output_type=output_type,
                       filename_override=filename_override, extract=extract,
                       ignore_mac=ignore_mac, decryption_order=o.order(decryption_order),
                       runtime=o.runtime(config_path))


@click.command("filestatus")
@click.argument("file", type=FILE)
@o.input_type
@o.config_opt
def filestatus_cmd(file: str, input_type: str | None, config_path: str | None) -> None:
    """Print {"encrypted": true|false} for FILE."""
    status = cryptflows.filestatus(file, input_type=input_type, runtime=o.runtime(config_path))
    click.echo(json.dumps({"encrypted": status}, separators=(",", ":")))
