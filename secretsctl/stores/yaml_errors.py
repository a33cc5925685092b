"""YAML input errors worded as sops (go-yaml) words them, without quoting input.

Split out of :mod:`secretsctl.stores.yaml_load`: the reading side turns
every libyaml/ruamel failure into one :class:`~secretsctl.errors.InputError`
line here.
"""
from __future__ import annotations

import re

from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import InputError

__all__ = ["decode_utf8", "yaml_error"]


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8 (go-yaml rejects invalid octets); a BOM is dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"Error unmarshalling input yaml: yaml: invalid leading UTF-8 octet "
                         f"at byte {exc.start}") from None
    return text[1:] if text.startswith("\ufeff") else text


# ruamel quotes source text in its problems ("found undefined tag handle
# '!Pa55!'"); an unquoted password starting with '!' would end up in the
# message.  Quoted runs of 2+ characters are dropped (go-yaml does not quote
# them either); single characters (',' ']') and token names ('<stream end>')
# stay, they say what the syntax error is and reveal nothing.
_QUOTED_SOURCE = re.compile(r" ?'(?!<)[^'\s]{2,}'")


def yaml_error(exc: YAMLError) -> InputError:
    """Turn a ruamel error into an InputError without quoting source text."""
    line = ""
    problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MarkedYAMLError):
        problem = exc.problem or exc.context or problem
        line = _go_line(exc)
    problem = _QUOTED_SOURCE.sub("", problem)
    return InputError(f"Error unmarshalling input yaml: yaml: {line}{problem}")


def _go_line(exc: MarkedYAMLError) -> str:
    """The ``line N: `` prefix go-yaml v3 prints, so our messages name sops's line.

    go-yaml prefers the *context* mark (where the open construct began, e.g.
    the ``[`` of an unclosed list) over the problem mark, and prints its
    0-based line as is, adding 1 only for scanner errors; a mark on the
    first line gives no prefix at all.  (Checked on 14 broken inputs
    against the sops binary.)
    """
    from ruamel.yaml.scanner import ScannerError
    for mark in (exc.context_mark, exc.problem_mark):
        if mark is not None and mark.line != 0:
            return f"line {mark.line + (1 if isinstance(exc, ScannerError) else 0)}: "
    return ""
