"""Text forms of an environment mapping for ``secretsctl export``.

Each format is chosen so the *reader* gets every value back byte for byte,
or refuses the value with an error naming the variable (never the value):

``sh``
    ``export NAME='value'``; inside single quotes a POSIX shell takes every
    byte literally except ``'``, written as ``'\\''``.  Safe for
    ``eval "$(secretsctl export FILE)"`` under ``set -euo pipefail`` for any
    value (newlines, ``$``, backticks, backslashes, unicode, empty).
``dotenv``
    ``NAME='value'`` with ``\\`` -> ``\\\\`` and ``'`` -> ``\\'``: the quoting
    python-dotenv's own writer (``set_key``) uses and its parser undoes;
    newlines stay literal inside the quotes.  Readers must not interpolate
    (python-dotenv: ``interpolate=False``; it expands ``${X}`` even in single
    quotes and has no escape for it).  Values without ``'`` or ``\\`` read
    back identically with Node dotenv, docker compose and bash too.  A
    reader that opens the file in text mode turns ``\\r`` into ``\\n``.
``json``
    One object ``{"NAME": "value", …}`` (non-ASCII kept raw).
``github``
    GitHub Actions: ``NAME<<DELIM`` / value / ``DELIM`` heredoc entries for
    the ``$GITHUB_ENV`` file, with a random delimiter that does not occur in
    the value, plus ``::add-mask::`` workflow commands (one per non-empty
    line, ``%``/CR/LF escaped as the runner expects) for stdout.  The two go
    to different places, so :func:`github` returns them separately.
``gitlab``
    GitLab ``artifacts:reports:dotenv``: plain ``NAME=value``.  GitLab keeps
    quotes literally, has no escapes, no multi-line values and strips
    surrounding blanks, so values with CR/LF or leading/trailing whitespace
    are rejected.
"""
from __future__ import annotations

import json
import secrets
from typing import Callable, Mapping

from .errors import SecretsctlError

__all__ = ["FORMATS", "render", "sh", "dotenv", "json_text", "github", "gitlab",
           "shell_quote", "github_masks", "github_env"]

FORMATS = ("sh", "dotenv", "json", "github", "gitlab")


def shell_quote(value: str) -> str:
    """POSIX single-quoting that is exact for every byte sequence without NUL."""
    return "'" + value.replace("'", "'\\''") + "'"


def sh(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines for ``eval``."""
    return "".join(f"export {name}={shell_quote(value)}\n" for name, value in env.items())


def _dotenv_quote(value: str) -> str:
    # Backslashes first, or the backslash added before a quote would be doubled.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dotenv(env: Mapping[str, str]) -> str:
    """``NAME='value'`` lines (python-dotenv single-quote rules)."""
    return "".join(f"{name}={_dotenv_quote(value)}\n" for name, value in env.items())


def json_text(env: Mapping[str, str]) -> str:
    """One JSON object of strings, pretty-printed."""
    return json.dumps(dict(env), ensure_ascii=False, indent=2) + "\n"


def _escape_command_data(text: str) -> str:
    # actions/toolkit escapeData: the runner decodes these three in command data.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_masks(env: Mapping[str, str]) -> str:
    """``::add-mask::`` lines: GitHub masks line by line, so each line of a value gets one."""
    out = []
    for value in env.values():
        for line in value.replace("\r\n", "\n").split("\n"):
            if line.strip():
                out.append(f"::add-mask::{_escape_command_data(line)}\n")
    return "".join(dict.fromkeys(out))  # a repeated mask is noise, drop duplicates


def _delimiter(value: str, token: Callable[[int], str]) -> str:
    while True:
        delim = f"ghadelimiter_{token(16)}"
        if delim not in value:
            return delim


def github_env(env: Mapping[str, str], token: Callable[[int], str] = secrets.token_hex) -> str:
    """``$GITHUB_ENV`` heredoc entries; the runner joins the lines between the markers."""
    return "".join(f"{name}<<{(d := _delimiter(value, token))}\n{value}\n{d}\n"
                   for name, value in env.items())


def github(env: Mapping[str, str], token: Callable[[int], str] = secrets.token_hex) -> tuple[str, str]:
    """``(mask lines for stdout, entries for the $GITHUB_ENV file)``."""
    return github_masks(env), github_env(env, token)


def gitlab(env: Mapping[str, str]) -> str:
    """``NAME=value`` lines for a GitLab dotenv report (values taken literally)."""
    for name, value in env.items():
        if "\n" in value or "\r" in value:
            raise SecretsctlError("GitLab dotenv reports do not support multi-line values",
                                  tree_path=name)
        if value != value.strip():
            raise SecretsctlError("GitLab dotenv reports strip leading/trailing whitespace, "
                                  "so this value would change", tree_path=name)
    return "".join(f"{name}={value}\n" for name, value in env.items())


def render(env: Mapping[str, str], fmt: str) -> str:
    """The text of one single-output format (everything but ``github``)."""
    renderers: dict[str, Callable[[Mapping[str, str]], str]] = {
        "sh": sh, "dotenv": dotenv, "json": json_text, "gitlab": gitlab}
    if fmt not in renderers:
        raise SecretsctlError(f"unknown export format {fmt!r}")
    return renderers[fmt](env)
