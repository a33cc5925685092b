"""The short Python API: ``secretsctl.load``, ``loads``, ``edit`` and friends.

Python programs that read sops files used to shell out to the sops binary
(sops #1162; wrappers such as sopsy exist for that).  These functions work
on plain Python data (dicts, lists, scalars), check the MAC, and raise
:class:`secretsctl.errors.SecretsctlError` subclasses carrying sops's exit
code (``exc.exit_code``) with secret-free messages::

    import secretsctl
    cfg = secretsctl.load("secrets.yaml")
    with secretsctl.edit("secrets.yaml") as data:
        data["db"]["password"] = "n3w"      # written back on exit, minimal diff
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import api
from .fileio import read_file, write_if_unchanged
from .tree import Branch, Comment, Item, Timestamp, from_python

__all__ = ["load", "loads", "edit", "PlainData"]

#: What a sops document decrypts to: a mapping, or a list for a few JSON files.
PlainData = dict[str, Any] | list[Any]


def load(path: str, *, runtime: api.Runtime | None = None) -> PlainData:
    """Decrypt ``path`` and return its first document as plain data (MAC checked)."""
    result: PlainData = api.decrypt_file(path, runtime=runtime).data()
    return result


def loads(data: bytes | str, *, format: str, runtime: api.Runtime | None = None) -> PlainData:
    """Decrypt sops-file bytes of ``format`` (yaml, json, dotenv, ini, binary)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    result: PlainData = api.decrypt_data(raw, input_type=format, runtime=runtime).data()
    return result


@contextmanager
def edit(path: str, *, runtime: api.Runtime | None = None) -> Iterator[PlainData]:
    """Edit the decrypted data in a ``with`` block; it is encrypted back on exit.

    Only values that changed get new ciphertext (the data key and every
    other value's IV are kept), so the file's diff is the changed lines
    plus ``mac`` and ``lastmodified``; comments and key order are kept.
    Nothing is written if the block raises or changes nothing, and a file
    that changed on disk meanwhile is never overwritten (FileChanged).
    """
    before = read_file(path)
    dec = api.decrypt_data(before, filename=path, runtime=runtime)
    original = dec.data()
    data = dec.data()
    yield data
    if data == original:
        return
    docs = [apply_plain(dec.docs[0], data), *dec.docs[1:]]
    out = api.reencrypt(dec, docs, runtime=runtime)
    write_if_unchanged(path, before, out)


def apply_plain(node: Any, value: Any) -> Any:
    """``node`` (a tree value) changed to equal plain ``value``, keeping what did not change.

    Mapping items keep their order and comments, removed keys go, new keys
    are appended; a scalar equal to the old one keeps its tree type (a YAML
    timestamp reads back as its text and stays a timestamp).
    """
    if isinstance(node, Branch) and isinstance(value, dict):
        out = Branch()
        for entry in node:
            if isinstance(entry, Item):
                if entry.key in value:
                    out.append(Item(entry.key, apply_plain(entry.value, value[entry.key])))
            else:
                out.append(entry)
        for key, v in value.items():
            if key not in node:
                out.append(Item(str(key), from_python(v)))
        return out
    if isinstance(node, list) and not isinstance(node, Branch) and isinstance(value, list):
        elems = [e for e in node if not isinstance(e, Comment)]
        if len(elems) == len(value):
            it = iter(value)
            return [e if isinstance(e, Comment) else apply_plain(e, next(it)) for e in node]
        return from_python(value)
    if isinstance(node, Timestamp) and value == node.text:
        return node
    if type(node) is type(value) and node == value:
        return node
    return from_python(value)



def encrypt_reusing(data: bytes, old: str, *, input_type: str | None = None,
                    filename: str | None = None, output_type: str | None = None,
                    runtime: api.Runtime | None = None) -> bytes:
    """Encrypt plaintext ``data`` with the data key and master keys of sops file ``old``.

    A value whose plaintext and position are the same as in ``old`` keeps
    its ciphertext, so re-encrypting an edited plaintext copy changes only
    the lines that changed (sops #1587 rewrites every line).  The output
    format is ``old``'s unless ``output_type`` says otherwise.
    """
    from .errors import AlreadyEncrypted
    from .formats import make_store, resolve_format
    dec = api.decrypt_file(old, runtime=runtime)
    store = make_store(resolve_format(input_type, filename or old), dec.config.stores)
    docs = store.load_plain(data)
    if store.has_metadata(docs):
        raise AlreadyEncrypted("the input is already a sops file", file=filename)
    return api.reencrypt(dec, docs, output_type=output_type, runtime=runtime)
