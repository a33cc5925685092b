"""Key operations over many files: target expansion and the per-file jobs.

* :func:`expand_targets` turns FILE/DIR arguments into files (sops files,
  or files a creation rule claims).
* :class:`RotateJob`, :class:`UpdateJob` and :func:`status_job` do one
  file each and return a :class:`~secretsctl.pool.FileResult`; they run in
  :func:`secretsctl.pool.run` (re-exported here), which keeps one file's
  failure from stopping the others.
* Every write is :func:`secretsctl.fileio.write_atomic` (temp file, fsync,
  rename), preceded by a check that the file still has the bytes it was
  read with, so each file ends either fully old or fully new; a job that
  writes holds the file's lock from its read to the rename
  (:func:`secretsctl.fileio.updating`), so a concurrent ``set`` waits.

KMS calls are network I/O, so threads overlap them well; one
:class:`~secretsctl.api.Runtime` (and its key cache: parsed age
identities, one boto3 client per region) is shared by all threads.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import api, keyops
from .api import Runtime
from .config import KeySpec, relative_target
from .errors import ConfigError, SecretsctlError
from .fileio import Update, read_file, reading, updating
from .formats import STORES
from .goregex import RegexError, compile_go
from .keyspec import build_key
from .keysources.base import MasterKey
from .pool import BatchOutcome, FileResult, default_workers, run

__all__ = ["FileResult", "BatchOutcome", "default_workers", "expand_targets", "run",
           "RotateJob", "UpdateJob", "status_job", "write_back"]

MAX_SNIFF_BYTES = 16 * 1024 * 1024
# sops and secretsctl write the metadata last in every format, and even a
# file with hundreds of master keys keeps it well under this.
TAIL_SNIFF_BYTES = 4 * 1024 * 1024
_TEMP_FILE = re.compile(r"^\.secretsctl-.*\.tmp$")


# ------------------------------------------------------------------ targets

def _rule_matches(path: str, runtime: Runtime) -> bool:
    """True if a creation rule with a non-empty ``path_regex`` claims ``path``.

    A catch-all rule (empty regex) is not a claim: it would pull every
    README and script of a repository into the walk.
    """
    try:
        cfg = runtime.config(path)
    except SecretsctlError:
        return False
    if not cfg.creation_rules or (cfg.path and os.path.abspath(cfg.path) == os.path.abspath(path)):
        return False
    target = relative_target(path, cfg.path)
    for raw in cfg.creation_rules:
        regex = raw.get("path_regex") if isinstance(raw, dict) else None
        if not regex:
            return False
        try:
            if compile_go(regex).search(target):
                return True
        except RegexError:
            return False
    return False


# Where each store puts the metadata, as the store registry declares it.
_MARKER = re.compile(b"|".join(dict.fromkeys(e.metadata_marker for e in STORES.values())))


def is_sops_file(path: str) -> bool:
    """Cheap check used while walking directories: the bytes carry sops metadata markers.

    No parse: the file is parsed once, by the job.  A false positive (say a
    plaintext YAML with a top-level ``sops:`` key) fails visibly there.  A
    file over ``MAX_SNIFF_BYTES`` is judged by its last ``TAIL_SNIFF_BYTES``,
    where the metadata is, so a big secrets file is not silently left out
    of a rotation.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_SNIFF_BYTES:
                fh.seek(max(0, size - TAIL_SNIFF_BYTES))
                data = b"\n" + fh.read()  # the marker regexes anchor on a line start
            else:
                data = fh.read()
    except OSError:
        return False
    return b"version" in data and b"mac" in data and _MARKER.search(data) is not None


def _walk(root: str) -> Iterator[str]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .venv …
        for name in sorted(files):
            if not _TEMP_FILE.match(name):
                yield os.path.join(directory, name)


def expand_targets(args: list[str], *, recursive: bool, runtime: Runtime) -> list[str]:
    """FILE/DIR arguments -> files, in order, without duplicates.

    Files named on the command line are always taken.  Directories need
    ``recursive``; inside them a file is taken if it is a sops file or a
    creation rule claims it (a claimed file that is not encrypted then
    fails visibly instead of being skipped silently).  Hidden directories
    are not entered.  A file reached twice (named and inside a walked
    directory, or through a symlink) is taken once, under its first name:
    two jobs on one file would race, or rotate it twice.
    """
    out: dict[Any, str] = {}
    for arg in args:
        if os.path.isdir(arg):
            if not recursive:
                raise ConfigError(f"{arg} is a directory: pass -r/--recursive to walk it")
            for path in _walk(arg):
                if is_sops_file(path) or _rule_matches(path, runtime):
                    out.setdefault(_identity(path), path)
        else:
            out.setdefault(_identity(arg), arg)
    return list(out.values())


def _identity(path: str) -> Any:
    """The file behind ``path`` (device, inode); the path itself if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return path  # the job reports the error, under this name
    return (st.st_dev, st.st_ino)


# ------------------------------------------------------------------ writing

def write_back(update: Update, data: bytes) -> bool:
    """Atomically replace the file with ``data`` unless it changed since it was read.

    Returns False (nothing written) when ``data`` equals what was read.
    """
    if data == update.before:
        return False
    update.write(data)
    return True


# ------------------------------------------------------------------ jobs

def _keys(specs: list[KeySpec]) -> list[MasterKey]:
    # Fresh objects per file: a key's encrypt() stores that file's wrapped key.
    return [k for s in specs for k in build_key(s)]


@dataclass
class RotateJob:
    """``rotate`` for one file: new data key, ``add``/``remove`` applied, written in place."""

    runtime: Runtime
    add: list[KeySpec] = field(default_factory=list)
    remove: list[KeySpec] = field(default_factory=list)
    input_type: str | None = None
    output_type: str | None = None
    ignore_mac: bool = False
    decryption_order: list[str] | None = None
    dry_run: bool = False
    in_place: bool = True

    def __call__(self, path: str) -> FileResult:
        if self.dry_run:
            plan = keyops.plan_rotate(path, read_file(path), _keys(self.add), _keys(self.remove),
                                      input_type=self.input_type, runtime=self.runtime)
            return FileResult(path, detail=plan)
        if not self.in_place:
            return FileResult(path, detail=self._rotated(reading(path)))
        with updating(path) as update:
            return FileResult(path, changed=write_back(update, self._rotated(update)))

    def _rotated(self, update: Update) -> bytes:
        dec = api.decrypt_data(update.before, input_type=self.input_type, filename=update.path,
                               ignore_mac=self.ignore_mac, decryption_order=self.decryption_order,
                               runtime=self.runtime)
        return keyops.rotate(dec, add=_keys(self.add), remove=_keys(self.remove),
                             output_type=self.output_type, runtime=self.runtime)


@dataclass
class UpdateJob:
    """``updatekeys`` for one file: plan (``apply=False``) or re-wrap/rotate and write."""

    runtime: Runtime
    rotate: bool = False
    input_type: str | None = None
    decryption_order: list[str] | None = None
    apply: bool = False
    #: path -> the plan lines the user confirmed; a different plan now is an error
    expected: dict[str, list[str]] | None = None
    #: ``--shamir-secret-sharing-threshold`` (None: keep the file's, as sops)
    threshold: int | None = None

    def __call__(self, path: str) -> FileResult:
        if not self.apply:
            return self._update(reading(path))
        with updating(path) as update:  # locked from the plan to the rename
            return self._update(update)

    def _update(self, update: Update) -> FileResult:
        path = update.path
        plan, groups, threshold = keyops.plan_update(path, update.before, input_type=self.input_type,
                                                     rotate_key=self.rotate, threshold=self.threshold,
                                                     runtime=self.runtime)
        if not self.apply or not plan.changes:
            return FileResult(path, detail=plan)
        if self.expected is not None and self.expected.get(path) != plan.describe():
            raise ConfigError("the file or its .sops.yaml changed after the plan was shown; "
                              "nothing was written, run the command again", file=path)
        if not plan.rotate:
            out = keyops.update_keys_block(path, update.before, groups, threshold,
                                           input_type=self.input_type,
                                           decryption_order=self.decryption_order, runtime=self.runtime)
            if out is not None:
                return FileResult(path, changed=write_back(update, out), detail=plan)
        dec = api.decrypt_data(update.before, input_type=self.input_type, filename=path,
                               decryption_order=self.decryption_order, runtime=self.runtime)
        if plan.rotate:
            out = keyops.rotate(dec, groups=groups, threshold=threshold, runtime=self.runtime)
        else:
            out = keyops.update_keys(dec, groups, threshold, runtime=self.runtime)
        return FileResult(path, changed=write_back(update, out), detail=plan)


def status_job(runtime: Runtime, max_age: Any, input_type: str | None = None
               ) -> Callable[[str], FileResult]:
    """``keys``: each file's master keys and data-key age (no key access)."""
    def job(path: str) -> FileResult:
        status = keyops.key_status(path, read_file(path), input_type=input_type,
                                   max_age=max_age, runtime=runtime)
        return FileResult(path, detail=status)
    return job
