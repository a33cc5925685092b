"""``encrypt``, ``decrypt`` and ``filestatus``: parse flags, call the API, write."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

import click

from .. import api
from ..errors import (ConflictingParameters, EmptyDocumentError, ExitCode, InputError,
                      SecretsctlError)
from ..fileio import PRIVATE_MODE, Update, read_file, updating, write_atomic
from . import options as o


# FILE is a plain path: click's own existence/directory checks would print
# a multi-line usage error (exit 2) before any command code runs; read_file
# reports a directory or a missing file in one line with sops's exit code.
FILE = click.Path()


@contextmanager
def _input(file: str | None, in_place: bool) -> Iterator[Update | bytes]:
    """The input bytes; with ``-i`` an :class:`Update` holding the file's lock until the write.

    ``encrypt -i``/``decrypt -i`` are read-modify-writes like ``set``: a
    concurrent writer waits instead of being overwritten.
    """
    if file and in_place:
        with updating(file) as update:
            yield update
    else:
        yield read_file(file) if file else sys.stdin.buffer.read()


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
    return exc.with_exit_code(ExitCode.GENERIC)


def _emit(data: bytes, source: Update | bytes, output: str | None, plaintext: bool) -> None:
    """Write the result: stdout, ``--output`` or in place (``source`` an Update), atomically.

    Plaintext never lands on disk with a wider mode than 0600; in-place
    encryption keeps the file's mode.
    """
    mode = PRIVATE_MODE if plaintext else None
    if isinstance(source, Update):
        source.write(data, mode=mode)
    elif output is None:
        o.write_stdout(data)
    else:
        write_atomic(output, data, mode=mode)


def _data(source: Update | bytes) -> bytes:
    return source.before if isinstance(source, Update) else source


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
    o.check_targets(file, in_place, output)
    name = filename_override or file
    if not name and not input_type and not reuse_from:
        raise ConflictingParameters("reading from stdin needs --filename-override or --input-type")
    opts = o.encrypt_options(dict(kw))
    if reuse_from and (opts.key_groups or opts.rule or opts.shamir_threshold is not None):
        raise ConflictingParameters("--reuse-from takes the keys and rules of the old file; "
                                    "drop the key and rule flags")
    with _input(file, in_place) as source:
        if reuse_from:
            from ..simple import encrypt_reusing
            out = encrypt_reusing(_data(source), reuse_from, input_type=input_type, filename=name,
                                  output_type=output_type, runtime=o.runtime(config_path))
        else:
            out = api.encrypt_data(_data(source), input_type=input_type, output_type=output_type,
                                   filename=name, options=opts, runtime=o.runtime(config_path))
        _emit(out, source, output, plaintext=False)


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
    with _input(file, in_place) as source:
        try:
            dec = api.decrypt_data(_data(source), input_type=input_type, filename=name,
                                   ignore_mac=ignore_mac, decryption_order=order,
                                   runtime=o.runtime(config_path), reencrypt=False)
        except InputError as exc:
            raise _generic(exc)
        # Unlike sops, an explicit --input-type also sets the output type
        # (sops would fall back to the binary store for stdin and fail).
        out = api.emit_plain(dec, output_type=output_type or dec.fmt, extract_path=extract)
        _emit(out, source, output, plaintext=True)


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
        raise _generic(exc) from None
    click.echo(json.dumps({"encrypted": status}, separators=(",", ":")))
