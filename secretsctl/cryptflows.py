"""``encrypt``, ``decrypt`` and ``filestatus`` as library functions.

The decisions of these commands live here, not in the click layer: where
the input comes from (FILE, or stdin, which needs a name or a type), where
the result goes (stdout, ``--output`` or in place, under the file's lock),
which flags conflict, and sops's exit code for each failure.  The caller
injects standard input and output (``stdin``/``stdout`` callables); nothing
here prints or exits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import api
from .api import EncryptOptions, Runtime
from .errors import ConflictingParameters, EmptyDocumentError, ExitCode, InputError, SecretsctlError
from .fileio import PRIVATE_MODE, Update, read_file, updating, write_atomic

__all__ = ["Target", "encrypt", "decrypt", "filestatus", "check_targets"]

Source = Callable[[], bytes]
Sink = Callable[[bytes], None]


def check_targets(file: str | None, in_place: bool, output: str | None) -> None:
    """sops's conflicts: ``-i`` with ``--output``, ``-i`` on stdin (exit 8)."""
    if in_place and output:
        raise ConflictingParameters("cannot use --in-place and --output together")
    if in_place and not file:
        raise ConflictingParameters("cannot use --in-place when reading from stdin")


class Target:
    """Where a command reads (FILE or stdin) and writes (stdout, ``--output``, in place)."""

    def __init__(self, file: str | None, *, in_place: bool = False, output: str | None = None,
                 stdin: Source, stdout: Sink) -> None:
        check_targets(file, in_place, output)
        self.file, self.in_place, self.output = file, in_place, output
        self._stdin, self._stdout = stdin, stdout

    @contextmanager
    def open(self) -> Iterator[Update | bytes]:
        """The input bytes; with ``-i`` an :class:`Update` holding the file's lock until the write.

        ``encrypt -i``/``decrypt -i`` are read-modify-writes like ``set``: a
        concurrent writer waits instead of being overwritten.
        """
        if self.file and self.in_place:
            with updating(self.file) as update:
                yield update
        else:
            yield read_file(self.file) if self.file else self._stdin()

    def emit(self, data: bytes, source: Update | bytes, *, plaintext: bool) -> None:
        """Write the result: stdout, ``--output`` or in place, atomically.

        Plaintext never lands on disk with a wider mode than 0600; in-place
        encryption keeps the file's mode.
        """
        mode = PRIVATE_MODE if plaintext else None
        if isinstance(source, Update):
            source.write(data, mode=mode)
        elif self.output is None:
            self._stdout(data)
        else:
            write_atomic(self.output, data, mode=mode)


def _data(source: Update | bytes) -> bytes:
    return source.before if isinstance(source, Update) else source


def encrypt(target: Target, *, input_type: str | None = None, output_type: str | None = None,
            filename_override: str | None = None, options: EncryptOptions | None = None,
            reuse_from: str | None = None, runtime: Runtime) -> None:
    """``encrypt``: a new data key (or ``reuse_from``'s, keeping unchanged ciphertext)."""
    name = filename_override or target.file
    if not name and not input_type and not reuse_from:
        raise ConflictingParameters("reading from stdin needs --filename-override or --input-type")
    opts = options or EncryptOptions()
    if reuse_from and (opts.key_groups or opts.rule or opts.shamir_threshold is not None):
        raise ConflictingParameters("--reuse-from takes the keys and rules of the old file; "
                                    "drop the key and rule flags")
    with target.open() as source:
        if reuse_from:
            from .simple import encrypt_reusing
            out = encrypt_reusing(_data(source), reuse_from, input_type=input_type, filename=name,
                                  output_type=output_type, runtime=runtime)
        else:
            out = api.encrypt_data(_data(source), input_type=input_type, output_type=output_type,
                                   filename=name, options=opts, runtime=runtime)
        target.emit(out, source, plaintext=False)


def _generic(exc: SecretsctlError) -> SecretsctlError:
    """sops returns a failure to load an *encrypted* file unmapped: exit 1.

    Only a plaintext parse error on encrypt is CouldNotReadInputFile (2); on
    decrypt sops passes the store's error through as is (``x: [`` appended
    to an encrypted YAML file, a truncated JSON file, an empty YAML file —
    sops reads "no metadata" there), and ``filestatus`` exits 1 on any error.
    :func:`secretsctl.api.load_encrypted` gives every command exit 1 for a
    store's load error; in ``decrypt`` this still turns the nesting guard's
    InputError (raised around the load, exit 2 elsewhere) into 1.
    """
    return exc.with_exit_code(ExitCode.GENERIC)


def decrypt(target: Target, *, input_type: str | None = None, output_type: str | None = None,
            filename_override: str | None = None, extract: str | None = None,
            ignore_mac: bool = False, decryption_order: list[str] | None = None,
            runtime: Runtime) -> None:
    """``decrypt``: the plaintext (or one ``extract``-ed value), 0600 when it goes to a file."""
    name = filename_override or target.file
    with target.open() as source:
        try:
            dec = api.decrypt_data(_data(source), input_type=input_type, filename=name,
                                   ignore_mac=ignore_mac, decryption_order=decryption_order,
                                   runtime=runtime, reencrypt=False)
        except InputError as exc:
            raise _generic(exc) from None
        # Unlike sops, an explicit --input-type also sets the output type
        # (sops would fall back to the binary store for stdin and fail).
        out = api.emit_plain(dec, output_type=output_type or dec.fmt, extract_path=extract)
        target.emit(out, source, plaintext=True)


def filestatus(file: str, *, input_type: str | None = None, runtime: Runtime) -> bool:
    """``filestatus``: whether FILE is a sops file (metadata with a version and a MAC)."""
    try:
        return api.file_status(read_file(file), input_type=input_type, filename=file,
                               runtime=runtime)
    except EmptyDocumentError:
        return False   # an empty YAML file: sops finds no metadata in it
    except SecretsctlError as exc:
        raise _generic(exc) from None
