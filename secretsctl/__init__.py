"""secretsctl: a sops-compatible secrets manager.

The short API (:mod:`secretsctl.simple`) and the full one
(:mod:`secretsctl.api`) are re-exported here lazily, so that
``import secretsctl`` stays cheap; type checkers see the real signatures.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

_SIMPLE = ("load", "loads", "edit", "PlainData")
_API = ("decrypt_file", "decrypt_data", "encrypt_data", "encrypt_file", "load_tree")
__all__ = [*_SIMPLE, *_API, "__version__"]

if TYPE_CHECKING:
    # "import X as X": an explicit re-export, which `mypy --strict` callers need.
    from .api import decrypt_data as decrypt_data
    from .api import decrypt_file as decrypt_file
    from .api import encrypt_data as encrypt_data
    from .api import encrypt_file as encrypt_file
    from .api import load_tree as load_tree
    from .simple import PlainData as PlainData
    from .simple import edit as edit
    from .simple import load as load
    from .simple import loads as loads


def __getattr__(name: str) -> Any:
    if name in _SIMPLE:
        from . import simple
        return getattr(simple, name)
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(name)
