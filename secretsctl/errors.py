"""One error hierarchy carrying sops's exit codes.

The library raises these; only the CLI turns them into a message and an
exit status.  Messages never contain secret values.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """sops's exit codes (cmd/sops/codes), same numbers."""

    OK = 0
    GENERIC = 1
    COULD_NOT_READ_INPUT = 2
    COULD_NOT_WRITE_OUTPUT = 3
    ERROR_DUMPING_TREE = 4
    INVALID_KMS_CONTEXT = 6
    INVALID_SET_FORMAT = 7
    CONFLICTING_PARAMETERS = 8
    ERROR_ENCRYPTING_MAC = 21
    ERROR_ENCRYPTING_TREE = 23
    ERROR_DECRYPTING_TREE = 25
    CANNOT_CHANGE_KEYS_NONEXISTENT = 49
    MAC_MISMATCH = 51
    INVALID_TREE_PATH = 91
    NEED_AT_LEAST_ONE_DOCUMENT = 92
    NO_FILE_SPECIFIED = 100
    DUPLICATE_DECRYPTION_KEY_TYPE = 112
    COULD_NOT_RETRIEVE_KEY = 128
    FILE_NOT_MODIFIED = 200
    NO_EDITOR = 201
    FAILED_TO_COMPARE_VERSIONS = 202
    FILE_ALREADY_ENCRYPTED = 203


class SecretsctlError(Exception):
    """Base error: ``exit_code`` plus a one-line, secret-free message.

    ``file`` and ``tree_path`` are filled in by the layer that knows them so
    the CLI can print ``FILE: PATH: message``.
    """

    exit_code: int = ExitCode.GENERIC
    #: Only reports meant to be read as a block (the per-key data-key report)
    #: keep their line breaks; every other message is folded onto one line.
    multiline: bool = False

    def __init__(self, message: str, *, exit_code: int | None = None,
                 file: str | None = None, tree_path: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
        self.file = file
        self.tree_path = tree_path
        self.hint = hint

    def __copy__(self) -> SecretsctlError:
        # Subclasses take other constructor arguments: copy the state as is.
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.args = self.args
        return new

    def with_file(self, file: str | None) -> SecretsctlError:
        """This error naming ``file`` (if it names none yet), as a new exception.

        An exception is never changed once raised: the boundary that knows
        the file raises a copy that says so.
        """
        if self.file is not None or file is None:
            return self
        new = self.__copy__()
        new.file = file
        return new

    def with_tree_path(self, tree_path: str) -> SecretsctlError:
        """This error at ``tree_path`` (if it names none yet), as a new exception."""
        if self.tree_path:
            return self
        new = self.__copy__()
        new.tree_path = tree_path
        return new

    def with_message(self, message: str, *, file: str | None = None) -> SecretsctlError:
        """The same error with another message (and file), as a new exception."""
        new = self.__copy__()
        new.message, new.args, new.file = message, (message,), file
        return new

    def with_exit_code(self, code: int) -> SecretsctlError:
        """The same error (class, message, file) with another exit code, as a new exception."""
        new = self.__copy__()
        new.exit_code = code
        return new

    def user_message(self) -> str:
        """``file: path: message`` (the parts that are known)."""
        parts = [p for p in (self.file, self.tree_path) if p]
        message = self.message
        if not self.multiline:
            message = " ".join(line.strip() for line in message.splitlines() if line.strip())
        return ": ".join(parts + [message])


class ConfigError(SecretsctlError):
    """Bad `.sops.yaml`, bad flags or conflicting parameters."""


class FlagError(SecretsctlError):
    """A flag's value is wrong (``--user ''``): the message is about the flag, so it names no file."""


class ConflictingParameters(SecretsctlError):
    exit_code = ExitCode.CONFLICTING_PARAMETERS


class InputError(SecretsctlError):
    """Input that cannot be read or parsed."""

    exit_code = ExitCode.COULD_NOT_READ_INPUT


class EmptyDocumentError(InputError):
    exit_code = ExitCode.NEED_AT_LEAST_ONE_DOCUMENT


class OutputError(SecretsctlError):
    """Output that cannot be written."""

    exit_code = ExitCode.COULD_NOT_WRITE_OUTPUT


class EmitError(SecretsctlError):
    """The tree cannot be written in the requested format."""

    exit_code = ExitCode.ERROR_DUMPING_TREE


class MetadataError(SecretsctlError):
    """Missing or malformed ``sops`` metadata."""


class EncryptError(SecretsctlError):
    exit_code = ExitCode.ERROR_ENCRYPTING_TREE


class DecryptError(SecretsctlError):
    """A value failed authentication or parsing (tampering, wrong key)."""

    exit_code = ExitCode.ERROR_DECRYPTING_TREE


class MacMismatch(SecretsctlError):
    exit_code = ExitCode.MAC_MISMATCH


class AlreadyEncrypted(SecretsctlError):
    exit_code = ExitCode.FILE_ALREADY_ENCRYPTED


class TreePathError(SecretsctlError):
    exit_code = ExitCode.INVALID_TREE_PATH


class SetFormatError(SecretsctlError):
    exit_code = ExitCode.INVALID_SET_FORMAT


class FileChanged(SecretsctlError):
    """The file's bytes on disk changed between our read and our write (exit 1).

    Raised by :func:`secretsctl.fileio.write_if_unchanged`; nothing was written.
    """


class FileLocked(FileChanged):
    """Another writer held the file's lock for too long; nothing was written (exit 1)."""


class FileNotModified(SecretsctlError):
    exit_code = ExitCode.FILE_NOT_MODIFIED


class EditorError(SecretsctlError):
    exit_code = ExitCode.NO_EDITOR


class KeySourceError(SecretsctlError):
    """A master key failed in a way that trying another key will not fix."""


class IncorrectKeyError(KeySourceError):
    """Not my key / no access / unreachable: try the next master key."""


class DataKeyError(SecretsctlError):
    """No master key could unwrap the data key (per-key report in message)."""

    exit_code = ExitCode.COULD_NOT_RETRIEVE_KEY
    multiline = True


# One class for every exit code the library raises with, so that callers
# can catch by kind; tests/test_errors.py checks that each code has one.

class InvalidKmsContext(SecretsctlError):
    """A malformed ``--encryption-context`` / ``.sops.yaml`` context (exit 6)."""

    exit_code = ExitCode.INVALID_KMS_CONTEXT


class MacEncryptError(SecretsctlError):
    exit_code = ExitCode.ERROR_ENCRYPTING_MAC


class CannotChangeKeysOfMissingFile(SecretsctlError):
    exit_code = ExitCode.CANNOT_CHANGE_KEYS_NONEXISTENT


class NoFileSpecified(InputError):
    """No file, or a file that does not exist (exit 100)."""

    exit_code = ExitCode.NO_FILE_SPECIFIED


class DuplicateDecryptionKeyType(SecretsctlError):
    exit_code = ExitCode.DUPLICATE_DECRYPTION_KEY_TYPE


class VersionCompareError(SecretsctlError):
    exit_code = ExitCode.FAILED_TO_COMPARE_VERSIONS
