"""``edit``, ``set`` and ``unset`` as a library: decrypt, change, re-encrypt, write back.

Re-encryption goes through :func:`secretsctl.api.reencrypt`: same data key
and the position-keyed IV stash, so every value whose plaintext did not
change keeps its exact ciphertext and a diff shows only what changed (plus
``mac`` and ``lastmodified``).

No lost updates: ``set`` and ``unset`` hold the file's lock from the read
to the rename (:func:`secretsctl.fileio.updating`), so concurrent writers
wait for each other.  ``edit`` does not hold it while the editor is open
(minutes: every other writer would hang); it remembers the bytes it read
and, at save time, takes the lock, compares, and renames.  If someone else
changed the file meanwhile, the file is left alone and the user's edit is
written, *encrypted*, to a sibling file (``name.conflict-<UTC time>.ext``;
the extension stays last so the format is still detected) and
:class:`EditConflict` is raised.  Only a writer that does not lock (sops)
can still slip in between that check and our rename, within milliseconds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from . import api, datakey, editor
from .api import Decrypted, EncryptOptions, Runtime
from .errors import FileChanged, InputError, NoFileSpecified, SecretsctlError, SetFormatError
from .fileio import existing_mode, read_file, read_if_exists, updating, write_atomic, write_if_unchanged
from .formats import make_store, resolve_format
from .keysources import key_label
from .keysources.base import format_created_at
from .metadata import Metadata, metadata_to_tree
from .stash import Stash
from .stores import json as json_store
from .stores.base import Store
from .tree import Branch, Comment, bytes_to_str, from_python, get_path, parse_path, set_path, unset_path

__all__ = ["EditConflict", "EditSettings", "edit_file", "set_value", "unset_value",
           "parse_json_value", "example_document", "conflict_path"]



class EditConflict(FileChanged):
    """The file changed on disk during the edit; the edit was saved beside it (exit 1)."""

    def __init__(self, message: str, *, file: str | None = None, saved_to: str | None = None) -> None:
        super().__init__(message, file=file)
        self.saved_to = saved_to


@dataclass
class EditSettings:
    """How to run the editor; the defaults are non-interactive and silent."""

    environ: dict[str, str] | None = None  # editor variables (default: runtime.environ)
    prompt: Callable[[str], bool] | None = None  # prompt(reason) True: re-open after an invalid edit
    temp_root: str | None = None  # default: /dev/shm or the temp dir
    show_master_keys: bool = False


def example_document(fmt: str) -> bytes:
    """The example plaintext sops opens for a new file of format ``fmt`` (its store declares it)."""
    return make_store(fmt).example


def conflict_path(path: str, when: datetime) -> str:
    """A free sibling name ``stem.conflict-YYYYMMDDTHHMMSSZ[-n].ext`` for ``path``."""
    directory, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    if not ext and name.startswith("."):  # ".env": the whole name is the extension
        stem, ext = "", name
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    n = 0
    while True:
        suffix = f"-{n}" if n else ""
        candidate = os.path.join(directory, f"{stem}.conflict-{stamp}{suffix}{ext}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def _save_edit(path: str, before: bytes | None, data: bytes, rt: Runtime) -> None:
    """Write the edit unless the file changed meanwhile; then keep it in a sibling instead.

    An editing session can last minutes, so losing the user's work to a
    concurrent change is not an option (set/unset just fail: nothing to lose).
    """
    try:
        write_if_unchanged(path, before, data)
    except FileChanged:
        sibling = conflict_path(path, rt.now())
        write_atomic(sibling, data, mode=existing_mode(path) or 0o600)
        raise EditConflict(f"the file changed on disk while you were editing; it was not "
                           f"overwritten. Your edit is saved, encrypted, in {sibling}",
                           file=path, saved_to=sibling) from None


# ------------------------------------------------------------------ edit

def _new_file(path: str, fmt: str, options: EncryptOptions, rt: Runtime) -> Decrypted:
    """State for a file that does not exist yet: keys from flags or creation rules."""
    config = rt.config(path)
    meta, key = api.new_metadata(options, config, path, fmt, rt)
    docs = make_store(fmt, config.stores).load_plain(example_document(fmt))
    return Decrypted(docs, replace(meta, lastmodified=format_created_at(rt.now())), key, Stash(), fmt, config)


def _keys_signature(meta: Metadata) -> list[list[str]]:
    # key_label, not just the identifier: a KMS key's role, context or profile
    # edited under --show-master-keys is a different key and must be re-wrapped.
    return [[f"{k.type_id}:{key_label(k)}" for k in g] for g in meta.key_groups] + [[str(meta.shamir_threshold)]]


def _validator(dec: Decrypted, store: Store, show_keys: bool, rt: Runtime, edited: list[Metadata]
               ) -> Callable[[bytes], list[Branch]]:
    """Parse edited text; with ``show_keys`` also take the edited metadata (as sops does).

    The edited metadata is appended to ``edited`` (the last one wins): ``dec``
    itself is never changed.
    """
    # nesting_guard: too deep an edit is an InputError, so the user can fix it.
    @api.nesting_guard
    def plain(data: bytes) -> list[Branch]:
        docs = store.load_plain(data)
        if store.has_metadata(docs):
            raise InputError("it has a top-level 'sops' key, which is reserved for the "
                             "metadata; rename it")
        return docs

    @api.nesting_guard
    def with_keys(data: bytes) -> list[Branch]:
        docs, meta = api.load_encrypted(data, dec.fmt, dec.config)
        if not meta.all_keys():
            raise InputError("no master keys were provided, so the file cannot be encrypted")
        if _keys_signature(meta) != _keys_signature(dec.metadata):
            datakey.wrap(dec.data_key, meta.key_groups, meta.shamir_threshold, rt.keys())
        else:
            meta = replace(meta, key_groups=dec.metadata.key_groups)  # wrapped keys byte for byte
        edited.append(meta)
        return docs
    return with_keys if show_keys else plain


def _editor_text(dec: Decrypted, store: Store, show_keys: bool) -> bytes:
    if not show_keys:
        return store.emit_plain(dec.docs)
    return store.emit_encrypted(dec.docs, metadata_to_tree(dec.metadata))


@api.nesting_guard
def edit_file(path: str, *, input_type: str | None = None, output_type: str | None = None,
              options: EncryptOptions | None = None, ignore_mac: bool = False,
              decryption_order: list[str] | None = None, settings: EditSettings | None = None,
              runtime: Runtime | None = None) -> None:
    """Open ``path`` decrypted in the user's editor and save the edit re-encrypted.

    A missing file starts from the store's example document, with keys from
    ``options`` or the creation rules.  Raises ``FileNotModified`` (200) when
    the text is unchanged, ``EditorError`` (201) when the editor fails,
    :class:`EditConflict` (1) when the file changed on disk meanwhile.
    """
    rt = runtime or Runtime()
    es = settings or EditSettings()
    before = read_if_exists(path)
    fmt = resolve_format(input_type, path)
    try:
        if before is None:
            dec = _new_file(path, fmt, options or EncryptOptions(), rt)
        else:
            dec = api.decrypt_data(before, input_type=input_type, filename=path,
                                   ignore_mac=ignore_mac, decryption_order=decryption_order,
                                   runtime=rt)
        store = make_store(dec.fmt, dec.config.stores)
        edited: list[Metadata] = []
        docs = editor.edit_loop(_editor_text(dec, store, es.show_master_keys), os.path.basename(path),
                                _validator(dec, store, es.show_master_keys, rt, edited),
                                environ=es.environ if es.environ is not None else rt.environ,
                                prompt=es.prompt, root=es.temp_root)
        if edited:
            dec = replace(dec, metadata=edited[-1])
        out = api.reencrypt(dec, docs, output_type=output_type, runtime=rt)
        _save_edit(path, before, out, rt)
    except SecretsctlError as exc:
        raise exc.with_file(path)


# ------------------------------------------------------------------ set / unset

def value_text(value: str | None, *, value_file: bool = False, value_stdin: bool = False,
               stdin: Callable[[], bytes]) -> bytes:
    """``set``'s VALUE as JSON text: the argument, the file it names, or ``stdin`` (sops's three ways)."""
    if value_file and value_stdin:
        raise SecretsctlError("cannot use both --value-file and --value-stdin")
    if value_stdin:
        if value is not None:
            raise NoFileSpecified("with --value-stdin give only FILE and PATH")
        return stdin()
    if value is None:
        raise NoFileSpecified("missing VALUE (or use --value-stdin)")
    return read_file(value) if value_file else value.encode("utf-8", "surrogateescape")


def parse_json_value(text: str | bytes) -> Any:
    """A ``set`` VALUE: JSON to a tree value, read exactly as a JSON file is.

    (objects keep key order, numbers are floats as in sops, lone surrogates
    become U+FFFD as Go makes them, NaN/Infinity/1e400 are refused.)
    """
    if isinstance(text, bytes):
        text = bytes_to_str(text)
    try:
        return json_store.parse_json_value(text)
    except InputError:
        raise SetFormatError("the value is not valid JSON",
                             hint="a string needs JSON's quotes inside the shell's: "
                                  "'\"hunter2\"'; numbers, true, null, [..] and {..} are JSON as they are") from None


def _strict_equal(a: Any, b: Any) -> bool:
    """Equality that tells 1, 1.0 and True apart (sops compares Go values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Branch):
        return len(a) == len(b) and all(
            type(x) is type(y) and (x == y if isinstance(x, Comment)
                                    else x.key == y.key and _strict_equal(x.value, y.value))
            for x, y in zip(a, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b))
    return a == b


def _tree_path(text: str) -> list:
    try:
        path = parse_path(text)
    except ValueError:
        raise SetFormatError("Invalid set index format") from None
    if not path:
        raise SetFormatError("Invalid set index format")
    return path


def _update(path: str, tree_path: str, change: Callable[[Branch], bool], *,
            input_type: str | None, output_type: str | None, ignore_mac: bool,
            decryption_order: list[str] | None, runtime: Runtime | None) -> bool:
    rt = runtime or Runtime()
    try:
        with updating(path) as update:  # locked from the read to the rename
            dec = api.decrypt_data(update.before, input_type=input_type, filename=path,
                                   ignore_mac=ignore_mac, decryption_order=decryption_order,
                                   runtime=rt)
            docs = list(dec.docs) or [Branch()]
            if not change(docs[0]):
                return False
            update.write(api.reencrypt(dec, docs, output_type=output_type, runtime=rt))
        return True
    except SecretsctlError as exc:
        raise exc.with_file(path)


def set_value(path: str, tree_path: str, value: Any, *, idempotent: bool = False,
              input_type: str | None = None, output_type: str | None = None,
              ignore_mac: bool = False, decryption_order: list[str] | None = None,
              runtime: Runtime | None = None) -> bool:
    """Set ``tree_path`` (``["a"][0]``) to ``value`` in the encrypted file; True if written.

    Missing mappings/lists are created; an index past the end appends.
    With ``idempotent`` an already equal value leaves the file untouched.
    """
    components = _tree_path(tree_path)
    new = from_python(value)

    def change(doc: Branch) -> bool:
        if idempotent:
            try:
                if _strict_equal(get_path(doc, components), new):
                    return False
            except KeyError:
                pass
        try:
            set_path(doc, components, new)
        except KeyError as exc:
            raise SecretsctlError(f"cannot set value: {exc.args[0]}", tree_path=tree_path) from None
        return True
    return _update(path, tree_path, change, input_type=input_type, output_type=output_type,
                   ignore_mac=ignore_mac, decryption_order=decryption_order, runtime=runtime)


def unset_value(path: str, tree_path: str, *, idempotent: bool = False,
                input_type: str | None = None, output_type: str | None = None,
                ignore_mac: bool = False, decryption_order: list[str] | None = None,
                runtime: Runtime | None = None) -> bool:
    """Remove ``tree_path`` from the encrypted file; True if written.

    A missing key is an error (exit 1, ``Key not found: …``) unless ``idempotent``.
    """
    components = _tree_path(tree_path)

    def change(doc: Branch) -> bool:
        try:
            unset_path(doc, components)
        except KeyError as exc:
            if idempotent:
                return False
            raise SecretsctlError(str(exc.args[0]), tree_path=tree_path) from None
        return True
    return _update(path, tree_path, change, input_type=input_type, output_type=output_type,
                   ignore_mac=ignore_mac, decryption_order=decryption_order, runtime=runtime)
