"""``encrypt``, ``decrypt`` and ``filestatus``: parse flags, call the API, write."""
from __future__ import annotations

import json
import sys

import click

from .. import api
from ..errors import (ConflictingParameters, EmptyDocumentError, ExitCode, InputError,
                      SecretsctlError)
from ..fileio import PRIVATE_MODE, read_file, write_atomic
from . import options as o


# FILE is a plain path: click's own existence/directory checks would print
# a multi-line usage error (exit 2) before any command code runs; read_file
# reports a directory or a missing file in one line with sops's exit code.
FILE = click.Path()


def _read_input(file: str | None) -> bytes:
    return read_file(file) if file else sys.stdin.buffer.read()


def _generic(exc: SecretsctlError) -> SecretsctlError:
    """sops returns a failure to load an *encrypted* file unmapped: exit 1.

    Only a plaintext parse error on encrypt is CouldNotReadInputFile (2); on
    decrypt sops passes the store's error through as is (``x: [`` appended
    to an encrypted YAML file, a truncated JSON file, an empty YAML file —
    sops reads "no metadata" there), and ``filestatus`` exits 1 on any error.
    :func:`secretsctl.api.load_encrypted` now gives every command exit 1 for
    a store's load error; in ``decrypt`` this still turns the nesting
    guard's InputError (raised around the load, exit 2 elsewhere) into 1.
    """
    exc.exit_code = ExitCode.GENERIC
    return exc


def _emit(data: bytes, file: str | None, in_place: bool, output: str | None,
          plaintext: bool) -> None:
    """Write the result: stdout, ``--output`` or in place, atomically.

    Plaintext never lands on disk with a wider mode than 0600; in-place
    encryption keeps the file's mode.
    """
    target = file if in_place else output
    if target is None:
        o.write_stdout(data)
        return
    write_atomic(target, data, mode=PRIVATE_MODE if plaintext else None)


@click.command("encrypt")
@click.argument("file", required=False, type=FILE)
@o.io_options
@o.key_flags
@o.rule_flags
@o.shamir_threshold
@o.config_opt
def encrypt_cmd(file: str | None, in_place: bool, output: str | None, input_type: str | None,
                output_type: str | None, filename_override: str | None, config_path: str | None,
                **kw: object) -> None:
    """Encrypt FILE (or stdin) and print the result (or write it with -i/--output)."""
    o.check_targets(file, in_place, output)
    name = filename_override or file
    if not name and not input_type:
        raise ConflictingParameters("reading from stdin needs --filename-override or --input-type")
    opts = o.encrypt_options(dict(kw))
    data = _read_input(file)
    try:
        out = api.encrypt_data(data, input_type=input_type, output_type=output_type,
                               filename=name, options=opts, runtime=o.runtime(config_path))
    except SecretsctlError as exc:
        raise exc.with_file(file or "<stdin>")
    _emit(out, file, in_place, output, plaintext=False)


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
    o.check_targets(file, in_place, output)
    name = filename_override or file
    order = o.order(decryption_order)
    data = _read_input(file)
    try:
        try:
            dec = api.decrypt_data(data, input_type=input_type, filename=name, ignore_mac=ignore_mac,
                                   decryption_order=order, runtime=o.runtime(config_path),
                                   reencrypt=False)
        except InputError as exc:
            raise _generic(exc)
        # Unlike sops, an explicit --input-type also sets the output type
        # (sops would fall back to the binary store for stdin and fail).
        out = api.emit_plain(dec, output_type=output_type or dec.fmt, extract_path=extract)
    except SecretsctlError as exc:
        raise exc.with_file(file or "<stdin>")
    _emit(out, file, in_place, output, plaintext=True)


@click.command("filestatus")
@click.argument("file", type=FILE)
@o.input_type
@o.config_opt
def filestatus_cmd(file: str, input_type: str | None, config_path: str | None) -> None:
    """Print {"encrypted": true|false} for FILE."""
    try:
        status = api.file_status(read_file(file), input_type=input_type, filename=file,
                                 runtime=o.runtime(config_path))
    except EmptyDocumentError:
        status = False   # an empty YAML file: sops finds no metadata in it
    except SecretsctlError as exc:
        raise _generic(exc).with_file(file)
    click.echo(json.dumps({"encrypted": status}, separators=(",", ":")))
