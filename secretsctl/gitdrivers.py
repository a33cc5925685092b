"""git integration: a diff driver, a merge driver and their set-up, as library calls.

* ``diff_files``: what changed between two versions of a sops file, as
  plaintext, and only what changed: an unchanged value is never printed
  (git's own context lines would print its neighbours, so this is an
  external diff command rather than a textconv filter).
* ``merge_files``: the three-way merge of the decrypted trees
  (:mod:`secretsctl.merge3`), re-encrypted with *ours'* data key so that
  every value that did not change keeps its ciphertext; a conflict names
  the paths, never the values, and leaves ours' file as it was.
* ``setup``: ``.gitattributes`` lines for the sops files of a repository
  and the git config that names the drivers.

Nothing here prints; subprocess calls go through an injected runner.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import api
from .checks import check_encrypted, is_sops_file
from .errors import SecretsctlError
from .fileio import write_atomic
from .merge3 import merge_documents
from .tree import Branch, Comment, PathKey, Timestamp, format_path

__all__ = ["MergeOutcome", "merge_files", "merge_driver", "diff_files", "textconv", "leaves",
           "setup", "DRIVER"]

DRIVER = "secretsctl"
#: The real name of the file git's textconv hands us a temporary copy of.
TEXTCONV_NAME_VAR = "SECRETSCTL_TEXTCONV_NAME"
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class MergeOutcome:
    """The merged file (None on conflict) and the conflicting paths."""

    data: bytes | None
    conflicts: list[str] = field(default_factory=list)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _decrypt(path: str, name: str, rt: api.Runtime) -> api.Decrypted | None:
    """A side of the merge; None for an empty file (git's %O when both sides added it)."""
    data = _read(path)
    if not data.strip():
        return None
    try:
        return api.decrypt_data(data, filename=name, runtime=rt)
    except SecretsctlError as exc:
        raise exc.with_file(name) from None


def merge_files(base: str, ours: str, theirs: str, *, name: str,
                runtime: api.Runtime | None = None) -> MergeOutcome:
    """Merge three versions of the sops file ``name`` (format and rules from ``name``)."""
    rt = runtime or api.Runtime()
    mine = _decrypt(ours, name, rt)
    other = _decrypt(theirs, name, rt)
    if mine is None or other is None:
        raise SecretsctlError("one side of the merge is empty; merge it by hand", file=name)
    old = _decrypt(base, name, rt)
    merged, conflicts = merge_documents(old.docs if old else [Branch()], mine.docs, other.docs)
    if conflicts:
        return MergeOutcome(None, conflicts)
    if merged == mine.docs:
        return MergeOutcome(_read(ours))   # nothing to take from theirs: ours, byte for byte
    return MergeOutcome(api.reencrypt(mine, merged, runtime=rt))


def merge_driver(base: str, ours: str, theirs: str, *, name: str,
                 runtime: api.Runtime | None = None) -> list[str]:
    """git's merge driver: write the merge into ``ours``; the conflicting paths (ours untouched).

    git reads a non-zero exit as a conflict, so the caller exits 1 when the
    list is not empty.
    """
    outcome = merge_files(base, ours, theirs, name=name, runtime=runtime)
    if outcome.data is not None:
        write_atomic(ours, outcome.data, mode=None)
    return outcome.conflicts


def textconv(file: str, *, environ: Mapping[str, str], runtime: api.Runtime | None = None) -> bytes:
    """``diff.<driver>.textconv``: FILE decrypted (every value).

    git hands textconv a temporary copy; ``SECRETSCTL_TEXTCONV_NAME`` gives
    the real name, for format detection and creation rules.
    """
    name = environ.get(TEXTCONV_NAME_VAR) or file
    return api.emit_plain(api.decrypt_file(file, filename=name, runtime=runtime))


def leaves(docs: list[Branch]) -> dict[str, Any]:
    """Every leaf value by its sops path (``["a"][0]``); documents prefixed when several."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: list[PathKey]) -> None:
        if isinstance(value, Branch):
            for item in value.items_():
                walk(item.value, [*path, item.key])
            if not value.keys():
                out[format_path(path)] = {}
        elif isinstance(value, list):
            items = [v for v in value if not isinstance(v, Comment)]
            for n, elem in enumerate(items):
                walk(elem, [*path, n])
            if not items:
                out[format_path(path)] = []
        else:
            out[format_path(path)] = value
    for n, doc in enumerate(docs):
        walk(doc, [n] if len(docs) > 1 else [])
    return out


def _show(value: Any) -> str:
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False)


def diff_files(old: str | None, new: str | None, *, name: str, show_unchanged: bool = False,
               runtime: api.Runtime | None = None) -> str:
    """A unified-diff-like text of the values that differ (``/dev/null`` for none)."""
    rt = runtime or api.Runtime()
    before = _side_leaves(old, name, rt)
    after = _side_leaves(new, name, rt)
    lines = [f"diff --{DRIVER} a/{name} b/{name}", f"--- a/{name}", f"+++ b/{name}"]
    for path in [*before, *(p for p in after if p not in before)]:
        a, b = before.get(path, _ABSENT), after.get(path, _ABSENT)
        same = a is not _ABSENT and b is not _ABSENT and type(a) is type(b) and a == b
        if same and not show_unchanged:
            continue
        lines.append(f"@@ {path} @@")
        if same:
            lines.append(" " + _show(a))
            continue
        if a is not _ABSENT:
            lines.append("-" + _show(a))
        if b is not _ABSENT:
            lines.append("+" + _show(b))
    return "\n".join(lines) + "\n" if len(lines) > 3 else ""


_ABSENT = object()


def _side_leaves(path: str | None, name: str, rt: api.Runtime) -> dict[str, Any]:
    if path is None or path == os.devnull:
        return {}
    dec = _decrypt(path, name, rt)
    return leaves(dec.docs) if dec else {}


# -------------------------------------------------------------- set-up

_BEGIN, _END = "# BEGIN secretsctl (git setup)", "# END secretsctl"


def _git(runner: Runner, repo: str, *args: str) -> str:
    proc = runner(["git", "-C", repo, *args])
    if proc.returncode != 0:
        raise SecretsctlError(f"git {args[0]} failed: {' '.join(proc.stderr.split())[:200]}")
    return proc.stdout


def setup(repo: str, command: Sequence[str], *, runtime: api.Runtime | None = None,
          runner: Runner | None = None) -> list[str]:
    """Point git at the drivers and mark the repository's sops files; returns those files.

    A file is marked when it is a sops file or a ``.sops.yaml`` creation
    rule's ``path_regex`` matches it.  The marks live in one managed block
    of ``.gitattributes`` (rewritten on each run, the rest left alone).
    """
    rt = runtime or api.Runtime()
    run: Runner = runner or (lambda argv: subprocess.run(list(argv), capture_output=True, text=True))
    root = _git(run, repo, "rev-parse", "--show-toplevel").strip()
    tracked = _git(run, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    marked = sorted(f for f in tracked if f and _claimed(os.path.join(root, f), rt))
    _write_attributes(os.path.join(root, ".gitattributes"), marked)
    exe = " ".join(shlex.quote(c) for c in command)
    _git(run, root, "config", f"diff.{DRIVER}.command", f"{exe} git diff-driver")
    _git(run, root, "config", f"merge.{DRIVER}.name", "secretsctl: merge the decrypted sops trees")
    _git(run, root, "config", f"merge.{DRIVER}.driver", f"{exe} git merge-driver %O %A %B %P")
    return marked


def _claimed(path: str, rt: api.Runtime) -> bool:
    if os.path.basename(path) == ".sops.yaml" or not os.path.isfile(path):
        return False
    if is_sops_file(path, runtime=rt):
        return True
    # Not encrypted, yet claimed by a creation rule's path_regex: still a sops file to be.
    return check_encrypted(path, runtime=rt).stage == "not encrypted"


def _write_attributes(path: str, files: list[str]) -> None:
    try:
        text = _read(path).decode("utf-8")
    except FileNotFoundError:
        text = ""
    kept = re.sub(rf"{re.escape(_BEGIN)}.*?{re.escape(_END)}\n?", "", text, flags=re.S)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    block = [_BEGIN] + [f"/{_escape(f)} diff={DRIVER} merge={DRIVER}" for f in files] + [_END]
    with open(path, "w", encoding="utf-8") as out:
        out.write(kept + "\n".join(block) + "\n")


def _escape(name: str) -> str:
    # gitattributes patterns: a space ends the pattern; glob characters are literal when escaped.
    return re.sub(r"([\s*?\[\\])", r"\\\1", name)
