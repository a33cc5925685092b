"""Which leaves are encrypted: sops's six selection rules (docs/format.md §6).

At most one rule is active; with none, ``unencrypted_suffix: _unencrypted``
is implied.  Regexes are matched with search semantics against each path
component separately, like Go's ``regexp.Match``, with Go's syntax and a
linear-time engine (:mod:`secretsctl.goregex`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

from .errors import ConflictingParameters
from .goregex import NEVER, GoRegex, RegexError, compile_go

RULE_NAMES = (
    "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex",
    "encrypted_regex", "unencrypted_comment_regex", "encrypted_comment_regex",
)
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"


@dataclass(frozen=True)
class CryptRule:
    """One selection rule: ``kind`` is one of :data:`RULE_NAMES`."""

    kind: str
    value: str

    @cached_property
    def _regex(self) -> GoRegex | None:
        if not self.kind.endswith("regex"):
            return None
        try:
            return compile_go(self.value)
        except RegexError:
            # Only a file's metadata gets here (flags and .sops.yaml are checked
            # in rule_from).  sops stores `--encrypted-regex '('` without a word
            # and Go's regexp.Match then reports "no match" for every key, so
            # the file reads back only if it matches nothing here too.
            return NEVER

    def should_encrypt(self, path: Sequence[str], stack: Sequence[Sequence[str]],
                       is_comment: bool) -> bool:
        """Decide for a leaf at mapping-key ``path`` with the active comment ``stack``.

        Mirrors sops's ``shouldBeEncrypted``: for ``encrypted_comment_regex``
        the comment being decided is itself the last entry of the innermost
        stack level and is skipped, so the matching line stays readable.
        """
        k, v = self.kind, self.value
        if k == "unencrypted_suffix":
            return not any(p.endswith(v) for p in path)
        if k == "encrypted_suffix":
            return any(p.endswith(v) for p in path)
        rx = self._regex
        assert rx is not None
        if k == "unencrypted_regex":
            return not any(rx.search(p) for p in path)
        if k == "encrypted_regex":
            return any(rx.search(p) for p in path)
        if k == "unencrypted_comment_regex":
            return not any(rx.search(c) for level in stack for c in level)
        last = len(stack) - 1
        for i, level in enumerate(stack):
            for j, c in enumerate(level):
                if is_comment and i == last and j == len(level) - 1:
                    continue
                if rx.search(c):
                    return True
        return False

    def rejects_ciphertext(self, enc: str) -> bool:
        """sops refuses an encrypted comment that matches ``unencrypted_comment_regex``.

        Decryption would then treat it as plaintext and the MAC would fail.
        """
        return self.kind == "unencrypted_comment_regex" and bool(self._regex and self._regex.search(enc))


DEFAULT_RULE = CryptRule("unencrypted_suffix", DEFAULT_UNENCRYPTED_SUFFIX)


def rule_from(values: Mapping[str, str | None], *, strict: bool = True) -> CryptRule | None:
    """The single rule set in ``values`` (a metadata/config/flags mapping), or None.

    More than one set rule is a conflict (sops exit 8).  With ``strict`` (flags,
    .sops.yaml) a regex that Go's regexp cannot compile is reported here, once
    (sops silently matches nothing with it, which for ``encrypted_regex``
    means encrypting nothing);
    an existing file's metadata is read as sops reads it (see ``_regex``).
    """
    found = [(k, values[k]) for k in RULE_NAMES if values.get(k)]
    if len(found) > 1:
        raise ConflictingParameters(
            "cannot use more than one of encrypted_suffix, unencrypted_suffix, "
            "encrypted_regex, unencrypted_regex, encrypted_comment_regex, or "
            "unencrypted_comment_regex in the same file")
    if not found:
        return None
    kind, value = found[0]
    if strict and kind.endswith("regex"):
        try:
            compile_go(str(value))
        except RegexError as exc:
            raise ConflictingParameters(f"invalid {kind} {value!r}: {exc}") from None
    return CryptRule(kind, str(value))
