"""secretsctl as a library: everything the CLI does, without printing or exiting.

Typical use::

    from secretsctl import api
    data = api.load_tree("secrets.yaml")          # plain Python dict
    d = api.decrypt_file("secrets.yaml")         # docs, metadata, data key
    out = api.encrypt_data(b"a: 1\\n", filename="x.yaml",
                           options=api.EncryptOptions(key_groups=[[KeySpec("age", "age1…")]]))

Every function raises :class:`secretsctl.errors.SecretsctlError` subclasses
that carry sops's exit codes.  The outside world (environment, clock,
randomness) comes in through :class:`Runtime`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any, Callable, TypeVar

from . import datakey, treecrypt
from .config import CreationSettings, KeySpec, SopsConfig, trust_problem
from .errors import (AlreadyEncrypted, ConfigError, EmitError, ExitCode, InputError,
                     MetadataError, SecretsctlError, TreePathError)
from .fileio import read_file
from .formats import make_store, resolve_format
from .keyspec import build_key_groups
from .keysources.base import format_created_at
from .metadata import Metadata, bumped_version, metadata_from_tree, metadata_to_tree
from .rules import DEFAULT_RULE, CryptRule
from .runtime import Runtime
from .stash import Stash
from .stores.base import Store
from .tree import Branch, format_path, get_path, parse_path, to_python

__all__ = [
    "Runtime", "EncryptOptions", "Decrypted", "KeySpec",
    "encrypt_data", "encrypt_file", "decrypt_data", "decrypt_file", "load_tree",
    "emit_plain", "reencrypt", "file_status", "extract", "new_metadata", "seal_new",
]


@dataclass
class EncryptOptions:
    """Encryption settings from flags; ``None`` fields fall back to the creation rule."""

    key_groups: list[list[KeySpec]] | None = None
    shamir_threshold: int | None = None
    rule: CryptRule | None = None
    mac_only_encrypted: bool | None = None
    #: ``--encryption-context`` text; also applies to KMS keys from ``.sops.yaml``.
    encryption_context: str | None = None


@dataclass(frozen=True)
class Decrypted:
    """A decrypted file: plaintext documents plus what re-encryption needs.

    Frozen: re-encryption and key changes return new bytes or a new value
    (``dataclasses.replace``), never change the caller's.
    """

    docs: list[Branch]
    metadata: Metadata
    data_key: bytes
    #: IVs as read, for re-encryption; None after ``decrypt_data(reencrypt=False)``.
    stash: Stash | None
    fmt: str
    config: SopsConfig
    #: The documents as read (still encrypted): a re-wrap that changes only
    #: the master keys writes them back untouched.  Empty when not kept.
    encrypted_docs: list[Branch] = field(default_factory=list)

    def data(self) -> Any:
        """The first document as plain Python data (dicts, lists, scalars)."""
        return to_python(self.docs[0]) if self.docs else {}


F = TypeVar("F", bound=Callable[..., Any])


def nesting_guard(fn: F) -> F:
    """Turn Python's RecursionError on very deep documents into a one-line error.

    Stores, the tree walk and the emitters are recursive, so a document
    nested a few hundred levels deep (``[[[[...]]]]``) exceeds the
    interpreter's recursion limit somewhere; without this the CLI reports
    an internal error.  sops (Go) accepts such documents; we refuse them.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise InputError("the document is nested too deeply to be processed") from None
    return wrapper  # type: ignore[return-value]


def _store(fmt: str, config: SopsConfig) -> Store:
    return make_store(fmt, config.stores)


def _with_context(spec: KeySpec, context: str) -> KeySpec:
    """A KMS string spec without its own context takes the command line's."""
    if spec.type_id != "kms" or spec.context or isinstance(spec.spec, dict):
        return spec
    return replace(spec, context=context)


def _check_config_trust(config: SopsConfig, runtime: Runtime | None) -> None:
    """Warn when the ``.sops.yaml`` choosing the keys could be someone else's (SECURITY.md)."""
    problem = trust_problem(config.path) if config.path and runtime is not None else None
    if problem:
        runtime.warning(f"{config.path}: this .sops.yaml, which chooses the keys, {problem}; "  # type: ignore[union-attr]
                        "whoever can change it chooses who can decrypt")


def creation_settings(options: EncryptOptions, config: SopsConfig, filename: str | None,
                      runtime: Runtime | None = None) -> CreationSettings:
    """Merge flags over the creation rule: flag keys replace the rule's keys entirely (sops).

    When the rule supplies the keys, a ``.sops.yaml`` that others could
    have written is reported through ``runtime.warning``.
    """
    matched = config.creation_for(filename)
    base = matched or CreationSettings()
    merged = replace(base)
    if options.key_groups is not None:
        merged.key_groups = options.key_groups
    elif any(base.key_groups):
        _check_config_trust(config, runtime)
    if options.shamir_threshold is not None:
        merged.shamir_threshold = options.shamir_threshold
    if options.rule is not None:
        merged.rule = options.rule
    if options.mac_only_encrypted is not None:
        merged.mac_only_encrypted = options.mac_only_encrypted
    if options.encryption_context:
        merged.key_groups = [[_with_context(s, options.encryption_context) for s in g]
                             for g in merged.key_groups]
    if merged.shamir_threshold is not None and merged.shamir_threshold < 0:
        # .sops.yaml already refuses this (config.py); the flag must too, or
        # the file records a meaningless negative threshold.
        raise ConfigError("--shamir-secret-sharing-threshold must be a non-negative integer",
                          file=filename)
    if len(merged.key_groups) >= 2 and not merged.shamir_threshold:
        # sops writes the implied threshold (every group needed) explicitly.
        merged.shamir_threshold = len(merged.key_groups)
    if options.key_groups is None and matched is not None and matched.source:
        _refuse_keyless_rule(merged.key_groups, matched.source, config.path, filename)
    if not any(merged.key_groups):
        raise ConfigError("no master keys were provided: pass --age/--pgp/--kms or add a "
                          "creation rule to .sops.yaml", file=filename)
    return merged


def _refuse_keyless_rule(groups: list[list[KeySpec]], source: str, config_path: str | None,
                         filename: str | None) -> None:
    """A matching creation rule without keys, or with an empty key group, is an error.

    sops refuses both ("Could not generate data key: [empty key group
    provided]", exit 1) but does not say which rule; we name it.  An empty
    group among full ones must not be dropped: the file would record a
    Shamir threshold counting it and could never be decrypted.
    """
    config = config_path or ".sops.yaml"
    # sops's own text leads, so that what scripts match on is there too.
    lead = "Could not generate data key: [empty key group provided]"
    if not any(groups):
        raise ConfigError(f"{lead}: the creation rule {source} in {config} matches this file but "
                          "lists no master keys: add keys to the rule or pass --age/--pgp/--kms",
                          file=filename)
    for n, group in enumerate(groups):
        if not group:
            # An empty group beside full ones must not be dropped: the file
            # would record a threshold counting it (updatekeys, by contrast,
            # ignores empty groups, as sops does).
            raise ConfigError(f"{lead}: {source}.key_groups[{n}] in {config} has no master keys",
                              file=filename)


@nesting_guard
def encrypt_data(data: bytes, *, input_type: str | None = None, output_type: str | None = None,
                 filename: str | None = None, options: EncryptOptions | None = None,
                 runtime: Runtime | None = None) -> bytes:
    """Encrypt plaintext bytes into a sops file (new random data key)."""
    rt = runtime or Runtime()
    config = rt.config(filename)
    in_fmt = resolve_format(input_type, filename)
    # As sops: the output store comes from --output-type or the file name
    # (--filename-override included), never from --input-type; a name with no
    # known suffix (or none, on stdin) means the binary store: a JSON file.
    out_fmt = resolve_format(output_type, filename)
    store = _store(in_fmt, config)
    docs = store.load_plain(data)
    if store.has_metadata(docs):
        raise AlreadyEncrypted("file is already encrypted (it has a top-level 'sops' entry); "
                               "use 'secretsctl edit' or rename that key", file=filename)
    meta, key = new_metadata(options or EncryptOptions(), config, filename, in_fmt, rt)
    return _seal(docs, meta, key, None, out_fmt, config, rt)


def new_metadata(options: EncryptOptions, config: SopsConfig, filename: str | None, fmt: str,
                 rt: Runtime) -> tuple[Metadata, bytes]:
    """Metadata and a fresh data key (wrapped for every master key) for a new file."""
    settings = creation_settings(options, config, filename, rt)
    groups = build_key_groups(settings.key_groups)
    # sops ignores selection rules for binary files and writes none.
    rule = None if _store(fmt, config).single_value else (settings.rule or DEFAULT_RULE)
    meta = Metadata(key_groups=groups, shamir_threshold=settings.shamir_threshold, rule=rule,
                    mac_only_encrypted=settings.mac_only_encrypted)
    key = datakey.generate(rt.randbytes)
    datakey.wrap(key, groups, meta.shamir_threshold, rt.keys())
    return meta, key


def _null_path(node: Any, path: list) -> list | None:
    """The path of the first null value in ``node``, or None."""
    if node is None:
        return path
    if isinstance(node, Branch):
        for item in node.items_():
            found = _null_path(item.value, path + [item.key])
            if found is not None:
                return found
    elif isinstance(node, list):
        for n, elem in enumerate(node):
            found = _null_path(elem, path + [n])
            if found is not None:
                return found
    return None


def _refuse_nulls(docs: list[Branch], fmt: str, store: Store) -> None:
    """dotenv/INI write a null as the text ``<nil>``, which then fails to decrypt.

    sops writes such a file and cannot read it back (nor can we); refuse
    instead, before anything is written (``set f.env '["k"]' null``).
    """
    if store.holds_null:
        return
    for doc in docs:
        path = _null_path(doc, [])
        if path is not None:
            raise EmitError(f"a null value cannot be stored encrypted in a {fmt} file "
                            "(it would not decrypt again)", tree_path=format_path(path))


def _refuse_reserved(docs: list[Branch], fmt: str, store: Store) -> None:
    """A document must not hold the key the metadata is written under.

    ``encrypt`` refuses such input (203) and ``edit`` asks again; ``set``
    (``["sops"]``, ``["sops"]["mac"]``, dotenv ``["sops_mac"]``) and format
    conversions reach here.  sops writes the file anyway (exit 0): a
    second ``sops:`` key, or a value where the metadata should be, which
    no tool can read back.  Checked per document: YAML repeats the metadata
    in every one.
    """
    for doc in docs:
        reserved = store.reserved_key(doc)
        if reserved is None:
            continue
        key, what = reserved
        raise EmitError(f"{what} reserved for the sops metadata (format {fmt}); nothing was written",
                        tree_path=format_path([key]))


def _seal(docs: list[Branch], meta: Metadata, key: bytes, stash: Stash | None, fmt: str,
          config: SopsConfig, rt: Runtime) -> bytes:
    """Encrypt docs under ``key``, stamp lastmodified + MAC, emit with the store."""
    store = _store(fmt, config)
    _refuse_nulls(docs, fmt, store)
    _refuse_reserved(docs, fmt, store)
    store.check_emittable(docs)
    enc_docs, mac = treecrypt.encrypt_docs(docs, meta, key, stash=stash, randbytes=rt.randbytes)
    # A new Metadata: the caller's (a Decrypted's, say) keeps its stamp and MAC.
    stamped = replace(meta, lastmodified=format_created_at(rt.now()))
    sealed = replace(stamped, mac=treecrypt.encrypt_mac(mac, key, stamped.lastmodified, stash=stash,
                                                        randbytes=rt.randbytes))
    return _store(fmt, config).emit_encrypted(enc_docs, metadata_to_tree(sealed))


def seal_new(docs: list[Branch], meta: Metadata, key: bytes, fmt: str, config: SopsConfig,
             runtime: Runtime | None = None) -> bytes:
    """Encrypt plaintext documents under ``meta``/``key`` from :func:`new_metadata` (fresh IVs)."""
    return _seal(docs, meta, key, None, fmt, config, runtime or Runtime())


def encrypt_file(path: str, **kwargs: Any) -> bytes:
    """Encrypt the plaintext file at ``path``; returns the encrypted bytes (nothing is written)."""
    try:
        return encrypt_data(read_file(path), filename=kwargs.pop("filename", None) or path, **kwargs)
    except SecretsctlError as exc:
        raise exc.with_file(path)


def load_encrypted(data: bytes, fmt: str, config: SopsConfig) -> tuple[list[Branch], Metadata]:
    """Parse an encrypted file into its (still encrypted) documents and metadata.

    A parse error here is exit 1, not 2: sops maps only a *plaintext* parse
    error (encrypt) to CouldNotReadInputFile and passes an encrypted file's
    load error through unmapped, for every command that reads one (decrypt,
    set, unset, edit, rotate, updatekeys, exec-env, exec-file).
    """
    store = _store(fmt, config)
    try:
        docs, meta_tree = store.load_encrypted(data)
    except InputError as exc:
        # A copy with exit 1 that keeps the class: the editor re-prompts on InputError.
        raise exc.with_exit_code(ExitCode.GENERIC) from None
    return docs, metadata_from_tree(meta_tree, binary=store.single_value)


@nesting_guard
def decrypt_data(data: bytes, *, input_type: str | None = None, filename: str | None = None,
                 ignore_mac: bool = False, decryption_order: list[str] | None = None,
                 runtime: Runtime | None = None, reencrypt: bool = True) -> Decrypted:
    """Decrypt a sops file's bytes (MAC checked unless ``ignore_mac``).

    ``reencrypt=False`` is for callers that only read the plaintext
    (``decrypt``, ``exec-env``, :func:`load_tree`): no IV stash and no
    copy of the encrypted tree, which at 100k leaves are most of the
    memory and a good part of the time.  The result cannot be passed to
    :func:`reencrypt`.
    """
    rt = runtime or Runtime()
    config = rt.config(filename)
    fmt = resolve_format(input_type, filename)
    docs, meta = load_encrypted(data, fmt, config)
    key = datakey.unwrap(meta.key_groups, meta.shamir_threshold, rt.keys(), decryption_order)
    stash = Stash() if reencrypt else None
    plain, mac = treecrypt.decrypt_docs(docs, meta, key, stash=stash, in_place=not reencrypt)
    if not ignore_mac:
        treecrypt.verify_mac(meta.mac, mac, key, meta.lastmodified, stash=stash)
    return Decrypted(plain, meta, key, stash, fmt, config, docs if reencrypt else [])


def decrypt_file(path: str, **kwargs: Any) -> Decrypted:
    """Decrypt the sops file at ``path``."""
    try:
        return decrypt_data(read_file(path), filename=kwargs.pop("filename", None) or path, **kwargs)
    except SecretsctlError as exc:
        raise exc.with_file(path)


def load_tree(path: str, **kwargs: Any) -> Any:
    """Decrypt ``path`` and return its first document as plain Python data."""
    return decrypt_file(path, reencrypt=False, **kwargs).data()


def extract(decrypted: Decrypted, path_text: str) -> Any:
    """The value at a sops path (``["a"][0]``) of the first document."""
    try:
        path = parse_path(path_text)
    except ValueError as exc:
        raise TreePathError(f"error parsing --extract path: {exc}") from None
    try:
        return get_path(decrypted.docs[0], path)
    except KeyError as exc:
        raise SecretsctlError(f"error truncating tree: {exc.args[0]}", tree_path=path_text) from None


@nesting_guard
def emit_plain(decrypted: Decrypted, *, output_type: str | None = None,
               extract_path: str | None = None) -> bytes:
    """The plaintext bytes as ``decrypt`` prints them (optionally one extracted value)."""
    fmt = output_type or decrypted.fmt
    store = _store(resolve_format(fmt, None), decrypted.config)
    if extract_path:
        value = extract(decrypted, extract_path)
        return store.emit_plain([value]) if isinstance(value, Branch) else store.emit_value(value)
    return store.emit_plain(decrypted.docs)


@nesting_guard
def reencrypt(decrypted: Decrypted, docs: list[Branch] | None = None, *,
              output_type: str | None = None, runtime: Runtime | None = None) -> bytes:
    """Encrypt (edited) documents again with the *same* data key and stashed IVs.

    Unchanged values keep their exact ciphertext, so diffs stay minimal.
    """
    if decrypted.stash is None:
        raise ValueError("reencrypt() needs decrypt_data(reencrypt=True)")
    rt = runtime or Runtime()
    meta = replace(decrypted.metadata, version=bumped_version(decrypted.metadata.version))
    fmt = resolve_format(output_type, None) if output_type else decrypted.fmt
    return _seal(decrypted.docs if docs is None else docs, meta, decrypted.data_key,
                 decrypted.stash, fmt, decrypted.config, rt)


@nesting_guard
def file_status(data: bytes, *, input_type: str | None = None, filename: str | None = None,
                runtime: Runtime | None = None) -> bool:
    """sops ``filestatus``: True iff metadata is present with a version and a MAC."""
    rt = runtime or Runtime()
    config = rt.config(filename)
    fmt = resolve_format(input_type, filename)
    try:
        _, meta_tree = _store(fmt, config).load_encrypted(data)
    except MetadataError:
        return False
    return bool(meta_tree.get("version")) and bool(meta_tree.get("mac"))
