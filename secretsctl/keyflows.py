"""``rotate``, ``updatekeys``, ``groups`` and ``keys`` as library functions.

Every decision the key commands make lives here, not in the click layer:
which files a command reaches, single file (result to stdout or
``--output``) versus batch (``-i``/``--dry-run``), how many worker
processes a batch uses, plan -> confirm -> apply for ``updatekeys``, and
which exit code a run ends with.  The CLI passes in what only it can do —
draw progress, ask the user, print — as callbacks, and prints the
:class:`Report` it gets back.  Nothing here prints or exits.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta

from . import api, batch, keyops
from .api import Decrypted, Runtime
from .batch import BatchOutcome, FileResult
from .config import KeySpec
from .cryptflows import check_targets
from .errors import ConflictingParameters, ExitCode, SecretsctlError
from .fileio import reading, updating, write_atomic
from .keyspec import build_key, check_context
from .keysources.base import MasterKey

__all__ = ["Hooks", "Report", "RotateResult", "UpdatePlan", "OLD_KEY_EXIT", "rotate_files",
           "plan_updatekeys", "apply_updatekeys", "key_status", "change_groups", "group_keys",
           "adding_group", "deleting_group", "check_targets", "check_context", "processes"]

#: Test hook: seconds to wait before each file (to interrupt a batch mid-way).
DELAY_VAR = "SECRETSCTL_TEST_FILE_DELAY"
#: Files per forked worker process before another one pays off.
FILES_PER_PROCESS = 16
#: ``keys --fail-on-old`` when a data key is too old: not an error code of
#: sops (which has no such check), so one that none of them uses.
OLD_KEY_EXIT = 10
#: What a shell reports for a job stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED_EXIT = 130

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class Hooks:
    """What a batch tells its caller while it runs, and how the caller stops it.

    ``on_done(result, done, total)`` is called once per finished file (a
    progress bar); setting ``stop`` starts no new file, the ones in flight
    finish (the first Ctrl-C).  A single file, which is no batch, uses none.
    """

    on_done: Callable[[FileResult, int, int], None] | None = None
    #: Called once the batch has ended (a progress bar ends its line).
    on_end: Callable[[], None] | None = None
    #: Held around the batch, given ``stop`` (a Ctrl-C handler that sets it).
    guard: Callable[[threading.Event], AbstractContextManager[None]] = (
        lambda stop: nullcontext())
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Report:
    """How a batch ended: what to tell the user and which exit code to end with."""

    outcome: BatchOutcome
    verb: str
    #: Print "VERB n of m file(s)" even when nothing failed (several files).
    summary: bool = True
    #: An exit code that overrides success (``keys --fail-on-old``).
    success_code: int = 0

    @property
    def total(self) -> int:
        """Files the run was given."""
        return len(self.outcome.results) + len(self.outcome.not_started)

    def summary_line(self) -> str | None:
        """``rotated 3 of 4 file(s); 1 failed`` when there is something to say."""
        out = self.outcome
        failures = out.failures
        if not ((self.summary and self.total > 1) or failures or out.interrupted):
            return None
        changed = sum(1 for r in out.results if r.changed)
        text = f"{self.verb} {changed} of {self.total} file(s); {len(failures)} failed"
        if out.interrupted:
            text += f"; {len(out.not_started)} not started (interrupted)"
        return text

    def errors(self) -> list[SecretsctlError]:
        """The failures to show, each naming its file.

        In a run over several files a multi-line report (the per-key data-key
        report) is cut to its first line: one line per file in a summary; the
        full report is one ``secretsctl rotate FILE`` away.
        """
        shown = []
        for r in self.outcome.failures:
            assert r.error is not None
            err = r.error.with_file(r.path)
            if self.total > 1 and err.multiline:
                err = err.with_message(err.message.splitlines()[0], file=r.path)
                err.multiline, err.hint = False, None   # a fresh copy, never raised
            shown.append(err)
        return shown

    def exit_code(self) -> int:
        """130 if interrupted; else the failures' common code (1 if they differ); else success."""
        if self.outcome.interrupted:
            return INTERRUPTED_EXIT
        codes = {int(r.error.exit_code) for r in self.outcome.failures if r.error is not None}
        if codes:
            return codes.pop() if len(codes) == 1 else int(ExitCode.GENERIC)
        return self.success_code


def processes(count: int, jobs: int | None) -> int:
    """Worker processes for ``count`` files: forking pays off from a few dozen files.

    ``-j 1`` means strictly one at a time, in this process.
    """
    if jobs == 1:
        return 1
    return max(1, min(os.cpu_count() or 1, count // FILES_PER_PROCESS))


def _run(paths: list[str], work: Callable[[str], FileResult], jobs: int | None, rt: Runtime,
         hooks: Hooks) -> BatchOutcome:
    rt.keys()  # one key cache for every thread (created before they start)
    delay = float(rt.environ.get(DELAY_VAR) or 0)
    with hooks.guard(hooks.stop):
        outcome = batch.run(paths, work, workers=jobs, stop=hooks.stop, on_done=hooks.on_done,
                            delay=delay, processes=processes(len(paths), jobs))
    if hooks.on_end is not None:
        hooks.on_end()
    return outcome


def _check_exist(files: Sequence[str], changes_keys: bool) -> None:
    for f in files:
        if not os.path.exists(f):
            # As the `sops rotate` subcommand (3.11): 49 with key changes, else 2 ("Error
            # reading file"); only the legacy `sops -r` says 100.
            code = (ExitCode.CANNOT_CHANGE_KEYS_NONEXISTENT if changes_keys
                    else ExitCode.COULD_NOT_READ_INPUT)
            raise SecretsctlError(f'cannot operate on non-existent file "{os.path.abspath(f)}"',
                                  exit_code=code)


# ------------------------------------------------------------------ rotate

@dataclass(frozen=True)
class RotateResult:
    """A batch's :class:`Report` and, with ``--dry-run``, each readable file's plan."""

    report: Report | None = None
    plans: list[keyops.KeyPlan] = field(default_factory=list)


def rotate_files(files: Sequence[str], *, add: list[KeySpec], remove: list[KeySpec],
                 in_place: bool = False, output: str | None = None,
                 input_type: str | None = None, output_type: str | None = None,
                 ignore_mac: bool = False, decryption_order: list[str] | None = None,
                 recursive: bool = False, dry_run: bool = False, jobs: int | None = None,
                 encryption_context: str = "", runtime: Runtime, stdout: Sink,
                 hooks: Hooks | None = None) -> RotateResult:
    """``rotate``: a new data key for each file, ``add``/``remove`` applied.

    One file without ``in_place`` goes to ``stdout`` (or ``output``); several
    files need ``in_place`` or ``dry_run`` (ConflictingParameters otherwise).
    A single file's failure raises; a batch's failures are in the report.
    """
    check_targets(files[0] if files else None, in_place, output)
    check_context(encryption_context)
    _check_exist(files, bool(add or remove))
    for spec in add + remove:
        build_key(spec)  # a malformed ARN fails once here, not once per file
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=runtime)
    single = len(files) == 1 and not os.path.isdir(files[0])
    job = batch.RotateJob(runtime, add, remove, input_type, output_type, ignore_mac,
                          decryption_order, dry_run=dry_run, in_place=in_place)
    if not (in_place or dry_run):
        if not single:
            raise ConflictingParameters("rotating several files needs -i/--in-place or --dry-run")
        data = job(paths[0]).detail
        if output:
            write_atomic(output, data)
        else:
            stdout(data)
        return RotateResult()
    outcome = _run(paths, job, jobs, runtime, hooks or Hooks())
    plans = [r.detail for r in outcome.results if r.ok] if dry_run else []
    return RotateResult(Report(outcome, "rotated", summary=not dry_run), plans)


# ------------------------------------------------------------------ updatekeys

@dataclass(frozen=True)
class UpdatePlan:
    """``updatekeys``'s plan for every file, before anything is written."""

    planned: BatchOutcome
    rotate_key: bool

    @property
    def plans(self) -> list[keyops.KeyPlan]:
        """The plans of the files that could be read."""
        return [r.detail for r in self.planned.results if r.ok]

    @property
    def changing(self) -> list[keyops.KeyPlan]:
        """The plans that change a file."""
        return [p for p in self.plans if p.changes]

    @property
    def loses_keys(self) -> int:
        """Files that lose a master key without a data-key rotation (the history still opens them)."""
        return 0 if self.rotate_key else sum(1 for p in self.plans if p.removes)

    def report(self) -> Report:
        """The outcome of planning alone (dry run, declined, or nothing to do)."""
        return Report(self.planned, "updated", summary=False)


def plan_updatekeys(files: Sequence[str], *, rotate_key: bool = False,
                    threshold: int | None = None, input_type: str | None = None,
                    recursive: bool = False, jobs: int | None = None,
                    runtime: Runtime) -> UpdatePlan:
    """Plan ``updatekeys`` for every file (master keys per ``.sops.yaml``); writes nothing."""
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=runtime)
    job = batch.UpdateJob(runtime, rotate_key, input_type, threshold=threshold)
    return UpdatePlan(batch.run(paths, job, workers=jobs), rotate_key)


def apply_updatekeys(plan: UpdatePlan, *, threshold: int | None = None,
                     input_type: str | None = None, decryption_order: list[str] | None = None,
                     jobs: int | None = None, runtime: Runtime,
                     hooks: Hooks | None = None) -> Report:
    """Apply a confirmed plan; a file whose plan changed since is refused, not written."""
    changing = plan.changing
    expected = {p.path: p.describe() for p in changing}
    job = batch.UpdateJob(runtime, plan.rotate_key, input_type, decryption_order, apply=True,
                          expected=expected, threshold=threshold)
    outcome = _run([p.path for p in changing], job, jobs, runtime, hooks or Hooks())
    failed_to_plan = [r for r in plan.planned.results if not r.ok]
    merged = replace(outcome, results=failed_to_plan + outcome.results)
    return Report(merged, "updated")


# ------------------------------------------------------------------ keys

def key_status(files: Sequence[str], *, max_age: str, fail_on_old: bool = False,
               input_type: str | None = None, recursive: bool = False, jobs: int | None = None,
               runtime: Runtime) -> tuple[list[keyops.KeyStatus], Report]:
    """``keys``: each file's master keys and data-key age, and the run's report.

    With ``fail_on_old`` an old data key ends the run with :data:`OLD_KEY_EXIT`.
    """
    limit: timedelta = keyops.parse_max_age(max_age)
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=runtime)
    outcome = batch.run(paths, batch.status_job(runtime, limit, input_type), workers=jobs)
    statuses = [r.detail for r in outcome.results if r.ok]
    old = any(s.needs_rotation for s in statuses)
    return statuses, Report(outcome, "checked", summary=False,
                            success_code=OLD_KEY_EXIT if old and fail_on_old else 0)


# ------------------------------------------------------------------ groups

#: A key-group change: the decrypted file in, the re-encrypted bytes out.
GroupChange = Callable[[Decrypted, Runtime], bytes]


def group_keys(specs: list[KeySpec], context: str = "") -> list[MasterKey]:
    """The master keys of a new key group (``groups add``'s flags)."""
    check_context(context)
    return [k for s in specs for k in build_key(s)]


def adding_group(keys: list[MasterKey], threshold: int | None = None) -> GroupChange:
    """``groups add``: append a group holding ``keys``; the data key is re-split, not changed."""
    return lambda dec, rt: keyops.add_group(dec, keys, threshold, runtime=rt)


def deleting_group(index: int, threshold: int | None = None) -> GroupChange:
    """``groups delete``: remove group ``index`` (refused if the threshold could not be met)."""
    return lambda dec, rt: keyops.delete_group(dec, index, threshold, runtime=rt)


def change_groups(file: str, change: GroupChange, *, in_place: bool = False,
                  input_type: str | None = None, decryption_order: list[str] | None = None,
                  runtime: Runtime, stdout: Sink) -> None:
    """Decrypt ``file`` (MAC checked), apply a key-group change, write it back or to ``stdout``."""
    # In place: the file stays locked from the read to the rename (fileio.updating).
    with (updating(file) if in_place else nullcontext(reading(file))) as upd:
        dec = api.decrypt_data(upd.before, input_type=input_type, filename=file,
                               decryption_order=decryption_order, runtime=runtime)
        out = change(dec, runtime)
        if in_place:
            batch.write_back(upd, out)
        else:
            stdout(out)
