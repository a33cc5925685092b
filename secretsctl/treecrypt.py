"""Encrypt/decrypt every leaf of the tree and compute sops's MAC.

Walk order and rules follow sops's ``walkBranch``/``walkSlice`` exactly,
because the MAC is a hash over values in walk order:

* documents in order, mapping items in order, list elements in order,
  depth first; AAD = mapping keys joined by ``:`` plus ``:`` (list indices
  are not part of it; comments use their container's path);
* comments push onto a per-level "active comments" stack that any
  non-comment item clears (the comment-regex rules read it);
* the MAC is SHA-512 over the plaintext bytes of every non-null,
  non-comment leaf (only the encrypted ones, after SHA-256("sops"), with
  ``mac_only_encrypted``), no separators, upper-case hex;
* the MAC is stored encrypted with AAD = ``lastmodified`` re-formatted
  without fraction (docs/format.md §5.4).
"""
from __future__ import annotations

import hashlib
import hmac
from os import urandom
from dataclasses import dataclass
from typing import Any, Callable

from . import cipher, gofmt
from .errors import DecryptError, EncryptError, MacMismatch, MetadataError
from .metadata import Metadata
from .rules import CryptRule
from .stash import Position, Stash
from .tree import Branch, Comment, Item, format_path

# SHA-256("sops"): fed first when mac_only_encrypted is set, so such a MAC
# never equals a full MAC over the same values.
MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()
_MAC_POSITION: Position = ("sops", "mac")


@dataclass
class _Walk:
    """State of one walk: key, rule, stash and the running MAC."""

    key: bytes
    rule: CryptRule
    mac_only_encrypted: bool
    stash: Stash | None
    encrypting: bool
    randbytes: Callable[[int], bytes]
    #: Replace values inside the given tree instead of building a new one
    #: (a plain decrypt has no use for the encrypted tree: half the memory).
    in_place: bool = False

    def __post_init__(self) -> None:
        self.hash = hashlib.sha512()
        if self.mac_only_encrypted:
            self.hash.update(MAC_ONLY_ENCRYPTED_INIT)

    # -- walking ---------------------------------------------------------
    def branch(self, node: Branch, path: list[str], pos: Position, stack: list[list[str]]) -> Branch:
        stack = stack + [[]]
        out = node if self.in_place else Branch()
        comments = 0
        for n, item in enumerate(node):
            if isinstance(item, Comment):
                stack[-1].append(item.text)
                new = self.leaf(item, path, pos + (("#", comments),), stack)
                comments += 1
                new = new if isinstance(new, Comment) else Comment(new)
            else:
                value = self.value(item.value, path + [item.key], pos + (item.key,), stack)
                stack[-1] = []
                if self.in_place:
                    item.value = value
                    continue
                new = Item(item.key, value)
            if self.in_place:
                out[n] = new
            else:
                out.append(new)
        return out

    def seq(self, node: list, path: list[str], pos: Position, stack: list[list[str]]) -> list:
        stack = stack + [[]]
        out = node if self.in_place else [None] * len(node)
        for n, elem in enumerate(node):
            is_comment = isinstance(elem, Comment)
            if is_comment:
                stack[-1].append(elem.text)
            out[n] = self.value(elem, path, pos + (n,), stack)
            if not is_comment:
                stack[-1] = []
        return out

    def value(self, node: Any, path: list[str], pos: Position, stack: list[list[str]]) -> Any:
        if isinstance(node, Branch):
            return self.branch(node, path, pos, stack)
        if isinstance(node, list):
            return self.seq(node, path, pos, stack)
        if node is None:
            return None  # nulls are neither encrypted nor hashed
        return self.leaf(node, path, pos, stack)

    # -- leaves ----------------------------------------------------------
    def leaf(self, node: Any, path: list[str], pos: Position, stack: list[list[str]]) -> Any:
        is_comment = isinstance(node, Comment)
        encrypted = self.rule.should_encrypt(path, stack, is_comment)
        aad = ":".join(path) + ":"
        try:
            if not encrypted:
                self._hash(node, encrypted)
                return node
            if self.encrypting:
                return self._encrypt(node, aad, pos)
            return self._decrypt(node, aad, pos)
        except (DecryptError, EncryptError) as exc:
            raise exc.with_tree_path(format_path(_user_path(pos))) from None

    def _hash(self, value: Any, encrypted: bool, plaintext: bytes | None = None) -> None:
        """Feed a plaintext leaf to the MAC (``plaintext``: its encoding, when already known)."""
        if isinstance(value, Comment) or (self.mac_only_encrypted and not encrypted):
            return
        self.hash.update(cipher.encode_plaintext(value) if plaintext is None else plaintext)

    def _encrypt(self, node: Any, aad: str, pos: Position) -> Any:
        typ, plaintext = cipher.encoded(node)  # once for the MAC, the stash and the cipher
        self._hash(node, True, plaintext)
        iv = self.stash.iv_for(pos, typ, plaintext, aad) if self.stash is not None else None
        enc = cipher.encrypt_encoded(typ, plaintext, self.key, aad, iv=iv, randbytes=self.randbytes)
        if isinstance(node, Comment):
            if self.rule.rejects_ciphertext(enc):
                raise EncryptError("an encrypted comment matches unencrypted_comment_regex; "
                                   "choose a regex that cannot match ENC[...] text")
            return Comment(enc)
        return enc

    def _decrypt(self, node: Any, aad: str, pos: Position) -> Any:
        text = node.text if isinstance(node, Comment) else node
        if isinstance(node, Comment) and not text.lstrip(" \t").startswith("ENC["):
            # A plain comment in an encrypted file (older sops, or added by
            # hand): sops keeps it; so do we.  A comment that starts with
            # ENC[ and fails below, to parse (`ENC[AES256_GCM,dta:…]`) or to
            # authenticate, is tampering and is refused (docs/format.md §16);
            # sops warns "possibly unencrypted comment" and prints it.
            return node
        try:
            value, iv = cipher.decrypt(text, self.key, aad)
        except DecryptError as exc:
            if isinstance(node, Comment):
                raise exc.with_message(f"a comment in ENC[...] form: {exc.message}", file=exc.file) from None
            raise
        # The MAC and the stash take the value re-encoded (sops hashes the
        # Go value: "true" decrypts to True and is hashed as "True").
        typ, plaintext = cipher.encoded(value)
        if self.stash is not None and iv is not None:
            self.stash.remember(pos, typ, plaintext, aad, iv)
        self._hash(value, True, plaintext)
        return value

    def mac_hex(self) -> str:
        return self.hash.hexdigest().upper()


def _user_path(pos: Position) -> list:
    """Position -> a user-facing path (drops the document index and comment markers)."""
    return [p for p in pos[1:] if not isinstance(p, tuple)]


def encrypt_docs(docs: list[Branch], meta: Metadata, key: bytes, *, stash: Stash | None = None,
                 randbytes: Callable[[int], bytes] = urandom) -> tuple[list[Branch], str]:
    """Encrypt plaintext documents; returns (encrypted docs, MAC hex)."""
    w = _Walk(key, meta.crypt_rule, meta.mac_only_encrypted, stash, True, randbytes)
    out = [w.branch(d, [], (n,), []) for n, d in enumerate(docs)]
    return out, w.mac_hex()


def decrypt_docs(docs: list[Branch], meta: Metadata, key: bytes, *,
                 stash: Stash | None = None, in_place: bool = False) -> tuple[list[Branch], str]:
    """Decrypt encrypted documents; returns (plaintext docs, recomputed MAC hex).

    ``in_place`` decrypts inside ``docs`` (which then hold plaintext, also
    if a value fails to decrypt half-way): for callers that drop the
    encrypted tree anyway.
    """
    w = _Walk(key, meta.crypt_rule, meta.mac_only_encrypted, stash, False, urandom, in_place)
    out = [w.branch(d, [], (n,), []) for n, d in enumerate(docs)]
    return out, w.mac_hex()


def mac_aad(lastmodified: str) -> str:
    """The MAC's AAD: ``lastmodified`` re-formatted by Go's RFC 3339 layout (no fraction)."""
    try:
        return gofmt.normalize_time_text(lastmodified, keep_fraction=False)
    except ValueError:
        raise MetadataError("metadata field 'lastmodified' is not a valid RFC 3339 time") from None


def encrypt_mac(mac_hex: str, key: bytes, lastmodified: str, *, stash: Stash | None = None,
                randbytes: Callable[[int], bytes] = urandom) -> str:
    """Encrypt the MAC string as sops stores it in ``sops.mac``."""
    aad = mac_aad(lastmodified)
    iv = stash.iv_for(_MAC_POSITION, "str", mac_hex.encode(), aad) if stash is not None else None
    return cipher.encrypt(mac_hex, key, aad, iv=iv, randbytes=randbytes)


def open_mac(stored: str, key: bytes, lastmodified: str) -> tuple[Any, bytes | None]:
    """Decrypt the stored MAC: proves ``key`` is the file's data key, and ``lastmodified`` intact.

    :class:`MacMismatch` (51) if it does not open.  Cheap (one value):
    what a re-wrap that does not read the values checks before it wraps
    the key for someone else.
    """
    try:
        return cipher.decrypt(stored, key, mac_aad(lastmodified))
    except DecryptError:
        raise MacMismatch("Cannot decrypt MAC: the MAC or lastmodified was altered, "
                          "or the data key is wrong") from None


def verify_mac(stored: str, computed_hex: str, key: bytes, lastmodified: str,
               *, stash: Stash | None = None) -> None:
    """Check the stored MAC against the recomputed one; :class:`MacMismatch` (51) if not.

    The message never includes either MAC (they are digests of secrets).
    """
    value, iv = open_mac(stored, key, lastmodified)
    aad = mac_aad(lastmodified)
    if not value:
        raise MacMismatch("MAC mismatch: the file has no MAC")
    if not isinstance(value, str) or not hmac.compare_digest(value.encode(), computed_hex.encode()):
        raise MacMismatch("MAC mismatch: the file's values do not match its MAC "
                          "(a value was changed outside sops/secretsctl)")
    if stash is not None and iv is not None:
        stash.remember(_MAC_POSITION, "str", value.encode(), aad, iv)
