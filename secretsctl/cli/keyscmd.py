"""``rotate``, ``updatekeys``, ``groups add|delete`` and ``keys``: thin click commands.

The work is in :mod:`secretsctl.keyops` (one file) and
:mod:`secretsctl.batch` (many files, a bounded thread pool).  This module
parses flags, shows plans, asks for confirmation, draws the progress bar
(stderr, only on a terminal), turns the first Ctrl-C into "finish the files
in progress, start no new ones", prints the summary and picks the exit code.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from typing import Any, Callable, Iterator

import click

from .. import api, batch, keyops
from ..api import Decrypted, Runtime
from ..batch import BatchOutcome, FileResult
from ..config import KeySpec
from ..errors import ConflictingParameters, ExitCode, SecretsctlError
from ..fileio import reading, updating, write_atomic
from ..keyspec import build_key
from ..keysources.kms import parse_context
from . import options as o
from . import report

DELAY_VAR = "SECRETSCTL_TEST_FILE_DELAY"  # test hook: seconds to wait before each file
FILES_PER_PROCESS = 16

recursive = click.option("-r", "--recursive", is_flag=True, help="Walk directories (hidden ones are skipped).")
dry_run = click.option("--dry-run", is_flag=True, help="Print the plan (keys added/removed, data-key age); write nothing.")  # noqa: E501
jobs = click.option("-j", "--jobs", type=click.IntRange(min=1),
                    help=f"Files processed in parallel (default {batch.default_workers()}).")
files_arg = click.argument("files", nargs=-1, required=True, type=click.Path())


# ------------------------------------------------------------------ helpers

class Progress:
    """``[#####.....] 12/50 files, 1 failed`` on stderr, redrawn in place; silent off a TTY."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.failed = 0

    def __call__(self, result: FileResult, done: int, total: int) -> None:
        self.failed += 0 if result.ok else 1
        if not self.enabled:
            return
        width = 30
        filled = width * done // max(total, 1)
        fail = f", {self.failed} failed" if self.failed else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{total} files{fail}")
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: start no new file; in-flight files finish.  Second: abort now."""
    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("\nsecretsctl: interrupted: finishing the files in progress "
                         "(Ctrl-C again to abort)\n")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _processes(count: int, jobs: int | None) -> int:
    # Forking pays off from a few dozen files; -j 1 means strictly one at a time.
    if jobs == 1:
        return 1
    return max(1, min(os.cpu_count() or 1, count // FILES_PER_PROCESS))


def _run(paths: list[str], work: Callable[[str], FileResult], label: str, jobs: int | None,
         rt: Runtime) -> BatchOutcome:
    rt.keys()  # one key cache for every thread (created before they start)
    delay = float(rt.environ.get(DELAY_VAR) or 0)
    progress = Progress(label)
    stop = threading.Event()
    with stop_on_sigint(stop):
        outcome = batch.run(paths, work, workers=jobs, stop=stop, on_done=progress, delay=delay,
                            processes=_processes(len(paths), jobs))
    progress.finish()
    return outcome


def _finish(outcome: BatchOutcome, verb: str, summary: bool = True) -> None:
    """Summary on stderr; exit non-zero if any file failed or the run was interrupted."""
    ctx = click.get_current_context()
    changed = sum(1 for r in outcome.results if r.changed)
    failures = outcome.failures
    total = len(outcome.results) + len(outcome.not_started)
    if (summary and total > 1) or failures or outcome.interrupted:
        click.echo(f"secretsctl: {verb} {changed} of {total} file(s); {len(failures)} failed"
                   + (f"; {len(outcome.not_started)} not started (interrupted)" if outcome.interrupted else ""),
                   err=True)
    for r in failures:
        assert r.error is not None
        if total > 1 and r.error.multiline:
            # One line per file in a summary; the full per-key report is one
            # `secretsctl rotate FILE` away.
            click.echo(f"secretsctl: error: {r.path}: {r.error.message.splitlines()[0]}", err=True)
        else:
            report(r.error)
    if outcome.interrupted:
        ctx.exit(130)
    if failures:
        codes = {int(r.error.exit_code) for r in failures if r.error is not None}
        ctx.exit(codes.pop() if len(codes) == 1 else 1)


def _age_text(plan: keyops.KeyPlan) -> str:
    age = plan.data_key_age
    return f"data key {age.days} days old" if age is not None else "data key age unknown"


def _show_plan(plan: keyops.KeyPlan) -> None:
    age_text = _age_text(plan)
    head = "rotate the data key, " if plan.rotate else ""
    click.echo(f"{plan.path}: {head}{age_text}")
    for line in plan.describe():
        click.echo(f"    {line}")


# ------------------------------------------------------------------ rotate

@click.command("rotate")
@files_arg
@o.in_place
@o.output
@o.input_type
@o.output_type
@o.add_rm_flags
@click.option("--encryption-context", default="", help="KMS encryption context for --add-kms keys, k1:v1,k2:v2.")
@o.ignore_mac
@o.decryption_order
@recursive
@dry_run
@jobs
@o.config_opt
def rotate_cmd(files: tuple[str, ...], in_place: bool, output: str | None, input_type: str | None,
               output_type: str | None, encryption_context: str, ignore_mac: bool,
               decryption_order: str | None, recursive: bool, dry_run: bool, jobs: int | None,
               config_path: str | None, **keys: str | None) -> None:
    """Generate a new data key for each FILE and re-encrypt every value with it.

    One FILE without -i prints the result; several files (or -r DIR) need -i or --dry-run.
    """
    o.check_targets(files[0], in_place, output)
    if encryption_context:
        parse_context(encryption_context)
    add = o.flag_specs({t: keys[f"add_{t}"] for t in o.KEY_FLAG_TYPES}, context=encryption_context)
    remove = o.flag_specs({t: keys[f"rm_{t}"] for t in o.KEY_FLAG_TYPES})
    rt = o.runtime(config_path)
    for f in files:
        if not os.path.exists(f):
            # As the `sops rotate` subcommand (3.11): 49 with key changes, else 2 ("Error
            # reading file"); only the legacy `sops -r` says 100.
            code = ExitCode.CANNOT_CHANGE_KEYS_NONEXISTENT if add or remove else ExitCode.COULD_NOT_READ_INPUT
            raise SecretsctlError(f'cannot operate on non-existent file "{os.path.abspath(f)}"',
                                  exit_code=code)
    for spec in add + remove:
        build_key(spec)  # a malformed ARN fails once here, not once per file
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=rt)
    single = len(files) == 1 and not os.path.isdir(files[0])
    job = batch.RotateJob(rt, add, remove, input_type, output_type, ignore_mac,
                          o.order(decryption_order), dry_run=dry_run, in_place=in_place)
    if not (in_place or dry_run):
        if not single:
            raise ConflictingParameters("rotating several files needs -i/--in-place or --dry-run")
        result = job(paths[0])
        if output:
            write_atomic(output, result.detail)
        else:
            o.write_stdout(result.detail)
        return
    outcome = _run(paths, job, "rotate", jobs, rt)
    if dry_run:
        for r in outcome.results:
            if r.ok:
                _show_plan(r.detail)
        click.echo(f"secretsctl: dry run: {len(paths)} file(s) would be rotated; nothing was written",
                   err=True)
    _finish(outcome, "rotated", summary=not dry_run)


# ------------------------------------------------------------------ updatekeys

def _confirm() -> bool:
    """sops's ``Is this okay? (y/n):`` loop; end of input is an error (exit 1)."""
    while True:
        click.echo("Is this okay? (y/n):", nl=False)
        line = sys.stdin.readline()
        if not line:
            raise SecretsctlError("no answer to the confirmation prompt (end of input); nothing was changed")
        answer = line.strip().lower()
        if answer in ("y", "n"):
            return answer == "y"


def _removal_warning(plans: list[keyops.KeyPlan], rotating: bool) -> None:
    losing = [p for p in plans if p.removes]
    if not losing or rotating:
        return
    click.echo(f"secretsctl: warning: {len(losing)} file(s) lose a master key. A removed key can "
               "still open the current data key from the file's history (git, backups): rotate "
               "the data key too — run again with --rotate to do both at once.", err=True)


@click.command("updatekeys")
@files_arg
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--rotate", "rotate_key", is_flag=True,
              help="Also rotate the data key of files that lose a master key (new key, values re-encrypted).")
@o.shamir_threshold
@o.input_type
@o.decryption_order
@recursive
@dry_run
@jobs
@o.config_opt
def updatekeys_cmd(files: tuple[str, ...], yes: bool, rotate_key: bool, shamir_threshold: int | None,
                   input_type: str | None, decryption_order: str | None, recursive: bool,
                   dry_run: bool, jobs: int | None, config_path: str | None) -> None:
    """Make each FILE's master keys match its .sops.yaml creation rule (the data key is kept).

    As sops, the file's Shamir threshold stays (capped at the new number of
    groups); --shamir-secret-sharing-threshold sets another one.
    """
    rt = o.runtime(config_path)
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=rt)
    planned = batch.run(paths, batch.UpdateJob(rt, rotate_key, input_type, threshold=shamir_threshold),
                        workers=jobs)
    plans = [r.detail for r in planned.results if r.ok]
    changing = [p for p in plans if p.changes]
    for plan in plans:
        if plan.changes:
            click.echo(f"{plan.path}: the following changes will be made to the file's groups:")
            for line in plan.describe():
                click.echo(line)
            if plan.rotate:
                click.echo("+++ new data key (a master key is removed: --rotate)")
            if dry_run:
                click.echo(f"    ({_age_text(plan)})")
        else:
            click.echo(f"File {plan.path} already up to date", err=True)
        if plan.rule_threshold:
            click.echo(f"secretsctl: note: {plan.path}: .sops.yaml sets shamir_threshold "
                       f"{plan.rule_threshold}; the file keeps {plan.new_threshold}, as with sops "
                       f"(--shamir-secret-sharing-threshold {plan.rule_threshold} changes it)", err=True)
    _removal_warning(plans, rotate_key)
    if dry_run or not changing:
        if dry_run:
            click.echo(f"secretsctl: dry run: {len(changing)} file(s) would change; nothing was written",
                       err=True)
        _finish(planned, "updated", summary=False)
        return
    if not yes and not _confirm():
        click.echo("secretsctl: nothing was changed", err=True)
        _finish(planned, "updated", summary=False)
        return
    expected = {p.path: p.describe() for p in changing}
    job = batch.UpdateJob(rt, rotate_key, input_type, o.order(decryption_order), apply=True,
                          expected=expected, threshold=shamir_threshold)
    outcome = _run([p.path for p in changing], job, "updatekeys", jobs, rt)
    outcome.results = [r for r in planned.results if not r.ok] + outcome.results
    _finish(outcome, "updated")


# ------------------------------------------------------------------ groups

def _group_keys(age: tuple[str, ...], pgp: tuple[str, ...], kms: tuple[str, ...],
                aws_profile: str, context: str) -> list:
    if context:
        parse_context(context)
    specs = ([KeySpec("age", a) for a in age] + [KeySpec("pgp", p) for p in pgp]
             + [KeySpec("kms", k, aws_profile, context) for k in kms])
    return [k for s in specs for k in build_key(s)]


def _change_groups(file: str, in_place: bool, input_type: str | None, decryption_order: str | None,
                   config_path: str | None,
                   change: Callable[[Decrypted, Runtime], bytes]) -> None:
    """Decrypt FILE (MAC checked), apply a key-group change, print or write it."""
    rt = o.runtime(config_path)
    # In place: the file stays locked from the read to the rename (fileio.updating).
    with (updating(file) if in_place else nullcontext(reading(file))) as upd:
        dec = api.decrypt_data(upd.before, input_type=input_type, filename=file,
                               decryption_order=o.order(decryption_order), runtime=rt)
        out = change(dec, rt)
        if in_place:
            batch.write_back(upd, out)
        else:
            o.write_stdout(out)


group_file = click.option("-f", "--file", "file", required=True, type=click.Path(),
                          help="The encrypted file.")


@click.group("groups")
def groups_cmd() -> None:
    """Add or delete key groups (Shamir secret sharing), as sops."""


@groups_cmd.command("add")
@group_file
@click.option("--age", multiple=True, help="age recipient(s) of the new group (repeatable, comma lists allowed).")
@click.option("--pgp", multiple=True, help="PGP fingerprint(s) of the new group (repeatable).")
@click.option("--kms", multiple=True, help="AWS KMS ARN(s) of the new group (repeatable).")
@click.option("--aws-profile", default="", help="AWS profile for the --kms keys.")
@click.option("--encryption-context", default="", help="KMS encryption context, k1:v1,k2:v2.")
@o.in_place
@o.shamir_threshold
@o.input_type
@o.decryption_order
@o.config_opt
def groups_add_cmd(file: str, age: tuple[str, ...], pgp: tuple[str, ...], kms: tuple[str, ...],
                   aws_profile: str, encryption_context: str, in_place: bool,
                   shamir_threshold: int | None, input_type: str | None,
                   decryption_order: str | None, config_path: str | None) -> None:
    """Append a key group to FILE and re-split the same data key."""
    keys = _group_keys(age, pgp, kms, aws_profile, encryption_context)
    _change_groups(file, in_place, input_type, decryption_order, config_path,
                   lambda dec, rt: keyops.add_group(dec, keys, shamir_threshold, runtime=rt))


@groups_cmd.command("delete")
@click.argument("index", type=click.IntRange(min=0))
@group_file
@o.in_place
@o.shamir_threshold
@o.input_type
@o.decryption_order
@o.config_opt
def groups_delete_cmd(index: int, file: str, in_place: bool, shamir_threshold: int | None,
                      input_type: str | None, decryption_order: str | None,
                      config_path: str | None) -> None:
    """Delete key group INDEX (from 0) of FILE; refused if the threshold could not be met."""
    _change_groups(file, in_place, input_type, decryption_order, config_path,
                   lambda dec, rt: keyops.delete_group(dec, index, shamir_threshold, runtime=rt))


# ------------------------------------------------------------------ keys

#: ``keys --fail-on-old`` when a data key is too old: not an error code of
#: sops (which has no such check), so one that none of them uses.
OLD_KEY_EXIT = 10

def _days(age: timedelta | None) -> str:
    return "unknown" if age is None else f"{age.days} days"


def _show_status(st: keyops.KeyStatus) -> None:
    click.echo(st.path)
    for k in st.keys:
        created = f"created {k.created_at}" if k.created_at else "no created_at"
        old = "  (older than the maximum age)" if k.needs_rotation else ""
        click.echo(f"    group {k.group}  {k.type_id:5} {k.label}  {created}{old}")
    basis = "oldest created_at" if st.basis == "created_at" else "lastmodified (age keys have no created_at)"
    click.echo(f"    data key: {_days(st.data_key_age)} old (from {basis})")
    if st.needs_rotation:
        click.echo(f"secretsctl: warning: {st.path}: data key is older than {st.max_age.days} days; "
                   f"rotate it: secretsctl rotate -i {st.path}", err=True)


@click.command("keys")
@files_arg
@click.option("--max-age", default="180d", show_default=True,
              help="Warn about data keys older than this (h, d, w, m=30 days, y).")
@click.option("--fail-on-old", is_flag=True,
              help=f"Exit {OLD_KEY_EXIT} when a data key is older than --max-age (for CI).")
@o.input_type
@recursive
@jobs
@o.config_opt
def keys_cmd(files: tuple[str, ...], max_age: str, fail_on_old: bool, input_type: str | None,
             recursive: bool, jobs: int | None, config_path: str | None) -> None:
    """Show each FILE's master keys, their created_at and the data key's age."""
    limit = keyops.parse_max_age(max_age)
    rt = o.runtime(config_path)
    paths = batch.expand_targets(list(files), recursive=recursive, runtime=rt)
    outcome = batch.run(paths, batch.status_job(rt, limit, input_type), workers=jobs)
    old = 0
    for r in outcome.results:
        if r.ok:
            _show_status(r.detail)
            old += r.detail.needs_rotation
    if old:
        click.echo(f"secretsctl: {old} of {len(paths)} file(s) need a data key rotation", err=True)
    _finish(outcome, "checked", summary=False)
    if old and fail_on_old:
        click.get_current_context().exit(OLD_KEY_EXIT)
