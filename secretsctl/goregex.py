"""User-supplied regexes, matched as sops matches them: Go's ``regexp`` (RE2).

Every regex a user (or a file) supplies goes through here: the selection
rules from flags, ``.sops.yaml`` and a file's metadata, and creation rules'
``path_regex``.  Two reasons not to use Python's ``re``:

* ``re`` backtracks: ``unencrypted_regex: ^(a+)+$`` in the metadata of a
  file with a 30-character key took 48 s to decrypt, and the metadata is
  read before the MAC is checked.  RE2 runs in time linear in the input.
* sops accepts exactly Go's syntax and semantics: ``(?=x)``, ``\\1``, ``\\Z``
  or ``a++`` are errors to Go (Python accepts them), ``\\d`` and ``\\b`` are
  ASCII-only and ``$`` does not match before a final newline.

google-re2 (the RE2 project's own binding) is imported only when a regex
is used.  C++ RE2 and Go's regexp/syntax were written as one design; the
one divergence in the syntax both accept that matters here is ``\\C`` (any
byte), which Go refuses and :func:`compile_go` refuses too.
"""
from __future__ import annotations

import functools
from typing import Any

__all__ = ["GoRegex", "RegexError", "compile_go", "NEVER"]


class RegexError(ValueError):
    """A pattern Go's regexp would not compile; the message is RE2's reason."""


class GoRegex:
    """A compiled pattern; :meth:`search` is Go's ``regexp.MatchString``."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def search(self, text: str) -> bool:
        """True if the pattern matches anywhere in ``text``."""
        if self._compiled is None:
            return False
        # Bytes, so that keys holding invalid UTF-8 (kept as lone
        # surrogates) are matched as the bytes Go sees.
        return self._compiled.search(text.encode("utf-8", "surrogateescape")) is not None


#: Never matches: how sops's regexp.Match behaves with a pattern that does
#: not compile (it returns the error, which sops ignores, and "no match").
NEVER = GoRegex(None)


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str) -> GoRegex:
    """Compile ``pattern`` with Go's syntax; :class:`RegexError` if Go would refuse it."""
    _refuse_c_escape(pattern)
    import re2  # type: ignore[import-untyped,import-not-found,unused-ignore]  # lazily: most commands use no regex at all

    options = re2.Options()
    options.log_errors = False   # RE2 would log every bad pattern to stderr
    try:
        return GoRegex(re2.compile(pattern.encode("utf-8", "surrogateescape"), options))
    except re2.error as exc:
        raise RegexError(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _refuse_c_escape(pattern: str) -> None:
    """Go has no ``\\C`` (C++ RE2 reads it as "any byte")."""
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] != "\\":
            i += 1
        elif pattern[i + 1] == "Q":   # \Q...\E is literal text, backslashes too
            end = pattern.find("\\E", i + 2)
            i = len(pattern) if end < 0 else end + 2
        elif pattern[i + 1] == "C":
            raise RegexError("invalid escape sequence: \\C")
        else:
            i += 2
