"""age master keys (X25519 and SSH recipients) through pyrage.

Entry shape (docs/format.md §7.1): ``recipient``, ``enc`` — age entries have
no ``created_at``.  ``enc`` is an ASCII-armored age file ending in a newline,
which is exactly what ``pyrage.encrypt(..., armored=True)`` produces.

Identities are collected from every source sops reads (§8.3), not just the
first one found, parsed once per invocation and cached in ``KeyEnv.cache``.
Messages name the sources (env var names, paths) and never key text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import pyrage
from pyrage import ssh as age_ssh
from pyrage import x25519

from ..errors import IncorrectKeyError, KeySourceError
from ..tree import Branch, Item, str_to_bytes
from .base import KeyEnv, split_key_list

__all__ = ["AgeKey", "AgeIdentities", "load_identities", "parse_recipient", "CommandRunner"]

CommandRunner = Callable[[list[str], Mapping[str, str]], bytes]

_STATIC_CACHE = "age.identities"
_CMD_CACHE = "age.cmd_identities"


def run_command(argv: list[str], environ: Mapping[str, str]) -> bytes:
    """Run ``argv`` without a shell and return its stdout (stderr goes to the user)."""
    import subprocess  # deferred: only SOPS_AGE_KEY_CMD runs a program (saves ~2 ms per CLI run)
    try:
        proc = subprocess.run(argv, env=dict(environ), stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        raise KeySourceError(f"failed to run SOPS_AGE_KEY_CMD: {exc.strerror}") from None
    if proc.returncode != 0:
        raise KeySourceError(f"SOPS_AGE_KEY_CMD failed with exit status {proc.returncode}")
    return proc.stdout


@dataclass
class AgeIdentities:
    """Parsed identities plus a secret-free account of where we looked."""

    identities: list[Any] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)


def parse_recipient(text: str) -> Any:
    """A pyrage recipient object for ``text`` (X25519 ``age1…`` or SSH).

    Post-quantum (``age1pq1…``) and plugin recipients (``age1<name>1…``)
    are recognised but not supported by pyrage, so they raise.
    """
    text = text.strip()
    if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
        try:
            return age_ssh.Recipient.from_str(text)
        except Exception:  # pyrage raises its own RecipientError/ValueError
            raise KeySourceError(f"failed to parse SSH age recipient {_short(text)}") from None
    if text.startswith("age1"):
        # Bech32 data never contains "1", so a second "1" means a plugin or
        # post-quantum HRP such as age1pq1… / age1yubikey1…
        if "1" in text[4:]:
            raise KeySourceError(f"age recipient type of {_short(text)} is not supported by secretsctl")
        try:
            return x25519.Recipient.from_str(text)
        except Exception:
            raise KeySourceError(f"failed to parse age recipient {text!r}") from None
    raise KeySourceError(f"unknown age recipient format {_short(text)}")


def _short(text: str) -> str:
    """A recipient shortened for messages (recipients are public, just long)."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _parse_identity_text(text: str, source: str) -> tuple[list[Any], str | None]:
    """Parse identity-file text; returns (identities, note about skipped content).

    Unsupported identity kinds (post-quantum, plugins, passphrase-encrypted
    files) are skipped with a note instead of failing: another source may
    hold the matching key.
    """
    stripped = text.lstrip()
    if stripped.startswith(("age-encryption.org/", "-----BEGIN AGE")):
        return [], "passphrase-protected identity file, not supported"
    out: list[Any] = []
    skipped = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                out.append(x25519.Identity.from_str(line))
            except Exception:
                # Line number only: the line itself is secret.
                raise KeySourceError(f"failed to parse age identity from {source}, line {lineno}") from None
        elif line.startswith(("AGE-SECRET-KEY-PQ-1", "AGE-PLUGIN-")):
            skipped += 1
        else:
            raise KeySourceError(f"failed to parse age identity from {source}, line {lineno}")
    return out, (f"{skipped} unsupported identities skipped" if skipped else None)


def _read_file(path: str) -> str | None:
    """File text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeySourceError(f"failed to read age identities from {path}: {exc.strerror}") from None


def _user_config_dir(environ: Mapping[str, str]) -> str | None:
    """Go's ``os.UserConfigDir`` on Linux: ``$XDG_CONFIG_HOME`` else ``~/.config``."""
    if environ.get("XDG_CONFIG_HOME"):
        return environ["XDG_CONFIG_HOME"]
    home = environ.get("HOME")
    return os.path.join(home, ".config") if home else None


def _add(result: AgeIdentities, label: str, ids: list[Any], note: str | None) -> None:
    result.identities.extend(ids)
    result.looked_at.append(f"{label} ({note})" if note else label)


def _load_ssh(environ: Mapping[str, str], result: AgeIdentities) -> None:
    """SSH private key: the env var, else ``~/.ssh/id_ed25519``, else ``~/.ssh/id_rsa``."""
    candidates: list[tuple[str, str]] = []
    if environ.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        path = environ["SOPS_AGE_SSH_PRIVATE_KEY_FILE"]
        candidates.append((f"SOPS_AGE_SSH_PRIVATE_KEY_FILE={path}", path))
    elif environ.get("HOME"):
        for name in ("id_ed25519", "id_rsa"):
            path = os.path.join(environ["HOME"], ".ssh", name)
            candidates.append((path, path))
    for label, path in candidates:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            result.looked_at.append(f"{label} (not found)")
            continue
        try:
            ident = age_ssh.Identity.from_buffer(data)
        except Exception:
            # Encrypted or unsupported SSH keys are skipped: prompting for
            # a passphrase is out of scope and other sources may match.
            _add(result, label, [], "not usable: encrypted or unsupported")
            return
        _add(result, label, [ident], None)
        return


def _load_static(environ: Mapping[str, str]) -> AgeIdentities:
    """Identities from every source that does not depend on the recipient."""
    result = AgeIdentities()
    _load_ssh(environ, result)
    if environ.get("SOPS_AGE_KEY"):
        ids, note = _parse_identity_text(environ["SOPS_AGE_KEY"], "SOPS_AGE_KEY")
        _add(result, "SOPS_AGE_KEY", ids, note)
    if environ.get("SOPS_AGE_KEY_FILE"):
        path = environ["SOPS_AGE_KEY_FILE"]
        text = _read_file(path)
        label = f"SOPS_AGE_KEY_FILE={path}"
        if text is None:
            _add(result, label, [], "not found")
        else:
            _add(result, label, *_parse_identity_text(text, label))
    conf = _user_config_dir(environ)
    if conf:
        path = os.path.join(conf, "sops", "age", "keys.txt")
        text = _read_file(path)
        if text is None:
            _add(result, path, [], "not found")
        else:
            _add(result, path, *_parse_identity_text(text, path))
    return result


def load_identities(env: KeyEnv, recipient: str,
                    runner: CommandRunner = run_command) -> AgeIdentities:
    """All identities available for ``recipient`` (cached per invocation).

    ``SOPS_AGE_KEY_CMD`` is run per recipient because sops hands it
    ``SOPS_AGE_RECIPIENT``; everything else is parsed once.
    """
    static = env.cache.get(_STATIC_CACHE)
    if static is None:
        static = env.cache[_STATIC_CACHE] = _load_static(env.environ)
    cmd = env.environ.get("SOPS_AGE_KEY_CMD")
    if not cmd:
        return static
    per_recipient: dict[str, AgeIdentities] = env.cache.setdefault(_CMD_CACHE, {})
    if recipient not in per_recipient:
        child_env = dict(env.environ)
        child_env["SOPS_AGE_RECIPIENT"] = recipient
        try:
            import shlex  # SOPS_AGE_KEY_CMD only
            argv = shlex.split(cmd)
        except ValueError:
            raise KeySourceError("failed to parse SOPS_AGE_KEY_CMD") from None
        if not argv:
            raise KeySourceError("SOPS_AGE_KEY_CMD is empty")
        out = runner(argv, child_env).decode("utf-8", "replace")
        got = AgeIdentities()
        _add(got, "SOPS_AGE_KEY_CMD", *_parse_identity_text(out, "SOPS_AGE_KEY_CMD"))
        per_recipient[recipient] = got
    extra = per_recipient[recipient]
    return AgeIdentities(static.identities + extra.identities, static.looked_at + extra.looked_at)


class AgeKey:
    """One ``age`` metadata entry."""

    type_id: ClassVar[str] = "age"

    def __init__(self, recipient: str, enc: str = "", runner: CommandRunner | None = None) -> None:
        self.recipient = recipient.strip()
        self.enc = enc
        self.runner: CommandRunner = runner or run_command

    @classmethod
    def from_tree(cls, entry: Branch) -> AgeKey:
        """Build from a metadata entry (``recipient``, ``enc``)."""
        return cls(str(entry.get("recipient") or ""), str(entry.get("enc") or ""))

    @classmethod
    def from_string(cls, text: str, **_: Any) -> list[AgeKey]:
        """Keys from ``--age``/``SOPS_AGE_RECIPIENTS``/``.sops.yaml``: ``age1…,age1…``."""
        return [cls(r) for r in split_key_list(text)]

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        """Wrap ``data_key`` for the recipient as an armored age file."""
        recipient = parse_recipient(self.recipient)
        try:
            armored = pyrage.encrypt(data_key, [recipient], armored=True)
        except Exception as exc:
            raise KeySourceError(f"failed to encrypt data key for age recipient "
                                 f"{_short(self.recipient)}: {type(exc).__name__}") from None
        text = armored.decode("ascii")
        # sops's armor writer always ends with a newline (literal block `|`).
        self.enc = text if text.endswith("\n") else text + "\n"

    def decrypt(self, env: KeyEnv) -> bytes:
        """Unwrap with any identity from any source; no match -> IncorrectKeyError."""
        if not self.enc:
            raise KeySourceError("age entry has no encrypted data key")
        found = load_identities(env, self.recipient, self.runner)
        where = ", ".join(found.looked_at) or "no identity sources configured"
        if not found.identities:
            raise IncorrectKeyError(f"failed to load age identities; looked at: {where}")
        try:
            # Binary age files are accepted too (sops does); a str carrying raw
            # bytes uses surrogateescape, see tree.bytes_to_str.
            return pyrage.decrypt(str_to_bytes(self.enc), found.identities)
        except pyrage.DecryptError as exc:
            msg = str(exc)
            if "No matching keys" in msg:
                raise IncorrectKeyError(
                    "no age identity matched the recipient of the encrypted data key; "
                    f"looked at: {where}") from None
            raise KeySourceError(f"failed to decrypt age data key: {msg}") from None
        except Exception as exc:
            raise KeySourceError(f"failed to decrypt age data key: {type(exc).__name__}") from None

    def to_tree(self) -> Branch:
        """``recipient``, ``enc`` — no ``created_at`` for age (sops)."""
        return Branch([Item("recipient", self.recipient), Item("enc", self.enc)])

    def identifier(self) -> str:
        """The recipient string."""
        return self.recipient

    def created_at(self) -> str | None:
        """Always None: age entries carry no timestamp."""
        return None
