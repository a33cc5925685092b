"""Checks for CI and pre-commit: ``validate``, ``check-encrypted``, ``config explain``, ``keygen``.

Each returns data (results, lines, a recipient); the CLI prints.  No result
ever holds a decrypted value: reasons are the errors' secret-free messages.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from . import api
from .errors import (DataKeyError, ExitCode, InputError, MacMismatch, MetadataError, OutputError,
                     SecretsctlError)
from .fileio import read_file

__all__ = ["Check", "validate", "validate_files", "exit_code", "check_encrypted", "explain_config",
           "keygen", "default_identity_path"]


@dataclass(frozen=True)
class Check:
    """One file's verdict: ``ok``, and what failed (stage and reason) when not."""

    path: str
    ok: bool
    stage: str = ""
    reason: str = ""
    exit_code: int = 0


_STAGES: list[tuple[type[SecretsctlError], str]] = [
    (MacMismatch, "MAC"), (DataKeyError, "data key"), (MetadataError, "metadata"), (InputError, "structure")]


def validate(path: str, *, runtime: api.Runtime | None = None) -> Check:
    """Structure, metadata, a key that opens the data key, every value and the MAC."""
    try:
        api.decrypt_file(path, runtime=runtime)
    except SecretsctlError as exc:
        stage = next((name for cls, name in _STAGES if isinstance(exc, cls)), "values")
        first = exc.message.splitlines()[0] if exc.message else ""
        reason = f"{exc.tree_path}: {first}" if exc.tree_path else first
        return Check(path, False, stage, reason, int(exc.exit_code))
    return Check(path, True)


def validate_files(files: list[str], *, sops_files_only: bool = False,
                   runtime: api.Runtime | None = None) -> list[Check]:
    """``validate``: one verdict per file; ``sops_files_only`` skips files without sops metadata."""
    rt = runtime or api.Runtime()
    if sops_files_only:
        files = [f for f in files if is_sops_file(f, runtime=rt)]
    return [validate(f, runtime=rt) for f in files]


def exit_code(results: list[Check]) -> int:
    """0 when every check passed; the failures' own code when they share one; else 1."""
    codes = {r.exit_code for r in results if not r.ok}
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 and 0 not in codes else 1


def is_sops_file(path: str, *, runtime: api.Runtime | None = None) -> bool:
    """Whether ``path`` carries sops metadata (sops's ``filestatus``)."""
    try:
        return api.file_status(read_file(path), filename=path, runtime=runtime)
    except SecretsctlError:
        return False


def check_encrypted(path: str, *, runtime: api.Runtime | None = None) -> Check:
    """A file that a creation rule's ``path_regex`` claims must be a sops file."""
    rt = runtime or api.Runtime()
    try:
        config = rt.config(path)
        n = config.rule_index(path)
    except SecretsctlError as exc:
        return Check(path, False, "config", exc.message, int(exc.exit_code))
    claimed = n is not None and bool((config.creation_rules or [])[n].get("path_regex"))
    if not claimed:
        return Check(path, True)
    if is_sops_file(path, runtime=rt):
        return Check(path, True)
    return Check(path, False, "not encrypted",
                 f"creation_rules[{n}] of {config.path} claims this file, but it is not a sops file",
                 int(ExitCode.GENERIC))


def explain_config(path: str, *, runtime: api.Runtime | None = None) -> list[str]:
    """Which ``.sops.yaml`` applies to ``path``, which rule matches, and why earlier ones did not."""
    from .config import relative_target
    rt = runtime or api.Runtime()
    config = rt.config(path)
    if config.path is None:
        return [f"{path}: no .sops.yaml found (searched upward from the file and from here)"]
    lines = [f"{path}: config {config.path}"]
    rules = config.creation_rules or []
    if not rules:
        return [*lines, "  no creation_rules: keys must come from the command line"]
    target = relative_target(path, config.path)
    lines.append(f"  path_regex is matched against {target!r}")
    chosen = config.rule_index(path)
    for n, raw in enumerate(rules):
        regex = raw.get("path_regex") or ""
        if n == chosen:
            why = f"path_regex {regex!r} matches" if regex else "it has no path_regex (matches every file)"
            settings = config.creation_for(path)
            keys = "; ".join(f"{s.type_id} {s.spec if isinstance(s.spec, str) else s.spec.get('arn', '')}"
                             for g in (settings.key_groups if settings else []) for s in g)
            lines.append(f"  creation_rules[{n}]: USED: {why}; keys: {keys or 'none'}")
            break
        lines.append(f"  creation_rules[{n}]: skipped: path_regex {regex!r} does not match")
    else:
        lines.append("  no rule matches: encrypting this file fails (sops: no matching creation rules)")
    return lines


def default_identity_path(environ: dict[str, str]) -> str:
    """Where sops looks for age identities: SOPS_AGE_KEY_FILE, else XDG config."""
    if environ.get("SOPS_AGE_KEY_FILE"):
        return environ["SOPS_AGE_KEY_FILE"]
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME", "~"), ".config")
    return os.path.join(base, "sops", "age", "keys.txt")


def keygen(path: str, *, now: datetime | None = None) -> str:
    """Create an age identity file at ``path`` (0600, never overwriting); returns the recipient."""
    import pyrage
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {stamp}\n# public key: {recipient}\n{identity}\n"
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputError(f"{path} already exists; it is never overwritten (use --output "
                          "for another file)") from None
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    return recipient
