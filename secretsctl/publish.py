"""``publish``: upload sops files to the S3 destination of their ``destination_rules``.

As sops 3.11 (``cmd/sops/subcommand/publish``, checked against the binary):

* the first rule of ``destination_rules`` whose ``path_regex`` matches the
  path *as typed* (not relative to ``.sops.yaml``) applies; an empty regex
  matches everything;
* the object is ``s3_prefix`` + the file's name, or with ``--recursive`` its
  path relative to the directory given; ``--omit-extensions`` (or the rule's
  ``omit_extensions: true``) drops the extension;
* when the rule's ``recreation_rule`` lists keys, the file is decrypted (MAC
  checked) and encrypted again for exactly those keys with a new data key,
  so the uploaded copy is readable by the destination's readers only;
  without keys the file is uploaded as it is (after checking that it is a
  sops file).

Deliberate differences: every file is prepared (decrypted, re-encrypted)
before the first upload, so a bad file in a tree uploads nothing; the new
metadata takes the recreation rule's selection rule and
``mac_only_encrypted`` (sops keeps only its two suffix rules and, without
one, writes a file whose ``*_unencrypted`` values no longer match the MAC);
``--recursive`` on a single file names the object after the file (sops
3.11 uploads it as ``PREFIX.``).  ``gcs_bucket`` and ``vault_path``
destinations are refused before anything is decrypted.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import api
from .api import EncryptOptions, Runtime
from .config import CreationSettings, SopsConfig, rule_settings
from .errors import ConfigError, InputError, SecretsctlError
from .fileio import read_file
from .formats import resolve_format

__all__ = ["Destination", "Publication", "destination_for", "files_to_publish", "plan", "upload",
           "publish_all"]

_DESTINATIONS = ("s3_bucket", "gcs_bucket", "vault_path")
_UNSUPPORTED = {"gcs_bucket": "GCS (gcs_bucket)", "vault_path": "Vault (vault_path)"}
_STRINGS = ("path_regex", "s3_bucket", "s3_prefix", "gcs_bucket", "gcs_prefix", "vault_path",
            "vault_address", "vault_kv_mount_name")


@dataclass(frozen=True)
class Destination:
    """The S3 side of one destination rule, and its recreation settings."""

    rule: str  # "destination_rules[1]"
    bucket: str
    prefix: str
    omit_extensions: bool
    recreation: CreationSettings

    def key(self, name: str) -> str:
        """The object key for a destination name (``s3_prefix`` is prepended as is)."""
        return self.prefix + name


@dataclass
class Publication:
    """One file ready to upload: what, where, and how its key groups change."""

    path: str
    bucket: str
    key: str
    body: bytes = field(repr=False)
    #: sops's "Group N / +++ added / --- removed" lines; empty if the keys stay.
    key_changes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``s3://bucket/key``, as sops prints it in its prompt."""
        return f"s3://{self.bucket}/{self.key}"


def _bad(where: str, what: str, path: str | None) -> ConfigError:
    return ConfigError(f"error loading config: {where} {what}", file=path)


def _checked(raw: Any, where: str, path: str | None) -> dict:
    """A destination rule with the shapes sops's Go struct accepts."""
    if not isinstance(raw, dict):
        raise _bad(where, "must be a mapping", path)
    for name in _STRINGS:
        if isinstance(raw.get(name), (dict, list)):
            raise _bad(f"{where}.{name}", "must be a string", path)
    if raw.get("omit_extensions") is not None and not isinstance(raw["omit_extensions"], bool):
        raise _bad(f"{where}.omit_extensions", "must be true or false", path)
    return raw


def _destination(raw: dict, where: str, path: str | None) -> Destination:
    kinds = [k for k in _DESTINATIONS if raw.get(k)]
    if len(kinds) > 1:
        raise ConfigError(f"error loading config: {where} has more than one destination "
                          f"({', '.join(kinds)}); use one per rule", file=path)
    if not kinds:
        raise ConfigError(f"no destination configured for this file ({where} has no s3_bucket)",
                          file=path)
    if kinds[0] in _UNSUPPORTED:
        raise ConfigError(f"{where}: {_UNSUPPORTED[kinds[0]]} destinations are not supported by "
                          "secretsctl publish; only s3_bucket is (use sops for the others)", file=path)
    recreation = rule_settings(raw.get("recreation_rule") or {}, f"{where}.recreation_rule", path)
    return Destination(where, str(raw["s3_bucket"]), str(raw.get("s3_prefix") or ""),
                       bool(raw.get("omit_extensions")), recreation)


def destination_for(config: SopsConfig, path: str) -> Destination:
    """The destination of the first rule matching ``path`` (as typed, like sops)."""
    rules = config.destination_rules
    if rules is not None and not isinstance(rules, list):
        raise _bad("destination_rules", "must be a list", config.path)
    for n, raw in enumerate(rules or []):
        where = f"destination_rules[{n}]"
        rule = _checked(raw, where, config.path)
        regex = str(rule.get("path_regex") or "")
        try:
            if regex and not re.search(regex, path):
                continue
        except re.error as exc:
            raise ConfigError(f"{where}.path_regex is invalid: {exc}", file=config.path) from None
        return _destination(rule, where, config.path)
    raise ConfigError("error loading config: no matching destination found in config",
                      file=config.path)


def _walk(root: str) -> list[str]:
    """Regular files under ``root`` in Go's ``filepath.Walk`` order (lexical, depth first).

    Paths are ``filepath.Join``-ed (cleaned), as sops matches them; links to
    directories are not followed; sockets, FIFOs and the like are skipped.
    """
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        raise InputError(f"cannot list directory: {exc.strerror}", file=root) from None
    out: list[str] = []
    for name in names:
        child = os.path.normpath(os.path.join(root, name))
        if os.path.isdir(child) and not os.path.islink(child):
            out.extend(_walk(child))
        elif os.path.isfile(child):
            out.append(child)
    return out


def files_to_publish(path: str, recursive: bool) -> list[tuple[str, str]]:
    """``(file, destination name)`` pairs for the path given on the command line."""
    if os.path.isdir(path):
        if not recursive:
            raise SecretsctlError("can't operate on a directory without --recursive", file=path)
        return [(f, os.path.relpath(f, path)) for f in _walk(path)]
    if not os.path.exists(path):
        raise SecretsctlError("no such file or directory", file=path)  # sops: exit 1, not 2
    return [(path, os.path.basename(os.path.abspath(path)))]


def _go_ext(path: str) -> str:
    """Go's ``filepath.Ext``: from the last dot of the last element (``.env`` -> ``.env``)."""
    base = os.path.basename(path)
    dot = base.rfind(".")
    return base[dot:] if dot >= 0 else ""


def _omit_extension(name: str, path: str) -> str:
    ext = _go_ext(path)
    # sops would name a dotfile (".env") by the empty string, i.e. the bare prefix.
    return name[:-len(ext)] if ext and name.endswith(ext) and len(name) > len(ext) else name


def _key_changes(old: list, new: list) -> list[str]:
    from .keyops import KeyPlan, diff_groups  # deferred: only re-encryption needs it
    diffs = diff_groups(old, new)
    if not any(d.added or d.removed for d in diffs):
        return []
    return KeyPlan("", diffs, 0, 0).describe()


def _reencrypt(path: str, data: bytes, dest: Destination, config: SopsConfig,
               decryption_order: list[str] | None, rt: Runtime) -> tuple[bytes, list[str]]:
    """Decrypt (MAC checked) and encrypt again for the recreation rule's keys only."""
    rec = dest.recreation
    for n, group in enumerate(rec.key_groups):
        if not group:
            raise ConfigError(f"{dest.rule}.recreation_rule.key_groups[{n}] has no master keys "
                              "(sops: empty key group provided)", file=config.path)
    fmt = resolve_format(None, path)
    dec = api.decrypt_data(data, filename=path, decryption_order=decryption_order, runtime=rt)
    options = EncryptOptions(key_groups=rec.key_groups, shamir_threshold=rec.shamir_threshold or None,
                             rule=rec.rule, mac_only_encrypted=rec.mac_only_encrypted)
    # Only the recreation rule decides: no creation rule is looked up for the file.
    meta, key = api.new_metadata(options, replace(config, creation_rules=None), path, fmt, rt)
    changes = _key_changes(dec.metadata.key_groups, meta.key_groups)
    return api.seal_new(dec.docs, meta, key, fmt, dec.config, rt), changes


def _prepare(path: str, name: str, dest: Destination, omit: bool, config: SopsConfig,
             decryption_order: list[str] | None, rt: Runtime) -> Publication:
    if omit or dest.omit_extensions:
        name = _omit_extension(name, path)
    data = read_file(path)
    if any(dest.recreation.key_groups):
        body, changes = _reencrypt(path, data, dest, config, decryption_order, rt)
    else:
        # sops checks that it is a sops file, then uploads its bytes unchanged.
        api.load_encrypted(data, resolve_format(None, path), config)
        body, changes = data, []
    return Publication(path, dest.bucket, dest.key(name), body, changes)


def plan(path: str, *, recursive: bool = False, omit_extensions: bool = False,
         decryption_order: list[str] | None = None, runtime: Runtime | None = None) -> list[Publication]:
    """Everything ``publish PATH`` would upload, prepared; nothing is uploaded.

    Every file's destination is checked before the first one is decrypted.
    """
    rt = runtime or Runtime()
    config = rt.config(path)
    if config.path is None:
        raise ConfigError("no .sops.yaml found: publish needs its destination_rules", file=path)
    files = files_to_publish(path, recursive)
    targets = [(f, name, destination_for(config, f)) for f, name in files]
    out = []
    for f, name, dest in targets:
        try:
            out.append(_prepare(f, name, dest, omit_extensions, config, decryption_order, rt))
        except SecretsctlError as exc:
            raise exc.with_file(f)
    return out


def upload(publication: Publication) -> None:
    """Put the prepared file at its S3 destination."""
    from .s3upload import put_object  # deferred: boto3
    try:
        put_object(publication.bucket, publication.key, publication.body)
    except SecretsctlError as exc:
        raise exc.with_file(publication.path) from None


def publish_all(pubs: list[Publication], *, recursive: bool,
                confirm: Callable[[Publication], bool],
                on_canceled: Callable[[str], None] = lambda message: None,
                on_published: Callable[[Publication], None] = lambda pub: None) -> None:
    """Upload each prepared file that ``confirm`` accepts, in order.

    As sops, declining the one file of ``publish FILE`` is an error; in a
    tree (``--recursive``) it is a note (``on_canceled``) and the next file
    is asked about.
    """
    for pub in pubs:
        if not confirm(pub):
            message = f"Publication of {os.path.abspath(pub.path)} canceled"
            if not recursive:
                raise SecretsctlError(message)
            on_canceled(message)
            continue
        upload(pub)
        on_published(pub)
