"""secretsctl: a sops-compatible secrets manager.

The library API lives in :mod:`secretsctl.api`; the common entry points are
re-exported here lazily so that ``import secretsctl`` stays cheap.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["decrypt_file", "decrypt_data", "encrypt_data", "encrypt_file", "load_tree", "__version__"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(name)
