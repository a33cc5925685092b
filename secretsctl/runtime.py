"""The injected outside world of every library call: :class:`Runtime`.

Environment, clock, randomness and where ``.sops.yaml`` is looked for come
in through one frozen value, so tests and embedders control all of them and
threads of a batch can share it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from os import urandom
from typing import Any, Callable, Mapping

from .config import SopsConfig, load_config
from .keysources.base import KeyEnv, utc_now

__all__ = ["Runtime"]


class _RuntimeState:
    """The caches a :class:`Runtime` fills as it is used (the Runtime itself never changes)."""

    __slots__ = ("key_env", "warned")

    def __init__(self) -> None:
        self.key_env: KeyEnv | None = None
        self.warned: set[str] = set()


@dataclass(frozen=True)
class Runtime:
    """The injected outside world: environment, clock, randomness, config location.

    Frozen: a runtime is shared by every thread of a batch, so none of them
    may change what the others see.  What it caches (the parsed identities
    and KMS clients, the warnings already given) lives in one private state
    object created with it.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], datetime] = utc_now
    randbytes: Callable[[int], bytes] = urandom
    config_path: str | None = None
    cwd: str | None = None
    #: A ready key environment (tests, embedders); None: one is made on first use.
    key_env: KeyEnv | None = None
    #: sops's ``--indent N`` (legacy form): overrides the ``stores:`` indents.
    indent: int | None = None
    #: Key services for every wrap/unwrap, in order (empty: local keys only).
    key_services: tuple[Any, ...] = ()
    #: Parsed ``.sops.yaml`` files by path and content (see :func:`load_config`).
    config_cache: dict[tuple[str, bytes], SopsConfig] = field(default_factory=dict, repr=False)
    #: Where warnings go (the CLI: one line on stderr); None drops them.
    warn: Callable[[str], None] | None = None
    _state: _RuntimeState = field(default_factory=_RuntimeState, init=False, repr=False, compare=False)

    def warning(self, message: str) -> None:
        """Pass ``message`` to :attr:`warn`, once per runtime."""
        if message not in self._state.warned:
            self._state.warned.add(message)
            if self.warn is not None:
                self.warn(message)

    def keys(self) -> KeyEnv:
        """One :class:`KeyEnv` per runtime, so identities/clients are loaded once."""
        if self.key_env is not None:
            return self.key_env
        if self._state.key_env is None:
            self._state.key_env = KeyEnv(environ=self.environ, now=self.now, services=self.key_services)
        return self._state.key_env

    def config(self, file_path: str | None) -> SopsConfig:
        """The ``.sops.yaml`` that applies to ``file_path``.

        Batch commands ask once per file and again when they write it (a
        few times per file in all); the parse is done once per content.
        """
        config = load_config(file_path, self.config_path, self.environ, self.cwd,
                             cache=self.config_cache)
        if self.indent is None:
            return config
        return replace(config, stores=config.stores.with_indent(self.indent))
