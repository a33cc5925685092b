"""``rotate``, ``updatekeys``, ``groups add|delete`` and ``keys``: thin click commands.

The decisions are in :mod:`secretsctl.keyflows` (single file or batch,
plan/confirm/apply, process count, exit codes), the work in
:mod:`secretsctl.keyops` and :mod:`secretsctl.batch`.  This module parses
flags, draws the progress bar (stderr, only on a terminal), turns the first
Ctrl-C into "finish the files in progress, start no new ones", asks for
confirmation and prints plans, summaries and errors.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator

import click

from .. import batch, keyflows, keyops
from ..batch import FileResult
from ..errors import SecretsctlError
from ..keyflows import Hooks, Report
from . import options as o
from . import report

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


def batch_hooks(label: str) -> Hooks:
    """A progress bar on stderr and Ctrl-C handling, for the library's batch runs."""
    progress = Progress(label)
    return Hooks(on_done=progress, on_end=progress.finish, guard=stop_on_sigint)


def _finish(rep: Report) -> None:
    """Print the summary and errors of a run; exit with the code the library chose."""
    line = rep.summary_line()
    if line:
        click.echo(f"secretsctl: {line}", err=True)
    for err in rep.errors():
        report(err)
    code = rep.exit_code()
    if code:
        click.get_current_context().exit(code)


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
    add = o.flag_specs({t: keys[f"add_{t}"] for t in o.KEY_FLAG_TYPES}, context=encryption_context)
    remove = o.flag_specs({t: keys[f"rm_{t}"] for t in o.KEY_FLAG_TYPES})
    result = keyflows.rotate_files(
        files, add=add, remove=remove, in_place=in_place, output=output, input_type=input_type,
        output_type=output_type, ignore_mac=ignore_mac, decryption_order=o.order(decryption_order),
        recursive=recursive, dry_run=dry_run, jobs=jobs, encryption_context=encryption_context,
        runtime=o.runtime(config_path), stdout=o.write_stdout, hooks=batch_hooks("rotate"))
    if result.report is None:
        return  # one file, written to stdout or --output
    if dry_run:
        for plan in result.plans:
            _show_plan(plan)
        click.echo(f"secretsctl: dry run: {result.report.total} file(s) would be rotated; "
                   "nothing was written", err=True)
    _finish(result.report)


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


def _show_update(plan: keyops.KeyPlan, dry_run: bool) -> None:
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
    plan = keyflows.plan_updatekeys(files, rotate_key=rotate_key, threshold=shamir_threshold,
                                    input_type=input_type, recursive=recursive, jobs=jobs, runtime=rt)
    for p in plan.plans:
        _show_update(p, dry_run)
    if plan.loses_keys:
        click.echo(f"secretsctl: warning: {plan.loses_keys} file(s) lose a master key. A removed "
                   "key can still open the current data key from the file's history (git, "
                   "backups): rotate the data key too — run again with --rotate to do both at "
                   "once.", err=True)
    if dry_run:
        click.echo(f"secretsctl: dry run: {len(plan.changing)} file(s) would change; nothing was "
                   "written", err=True)
    if dry_run or not plan.changing:
        _finish(plan.report())
        return
    if not yes and not _confirm():
        click.echo("secretsctl: nothing was changed", err=True)
        _finish(plan.report())
        return
    _finish(keyflows.apply_updatekeys(plan, threshold=shamir_threshold, input_type=input_type,
                                      decryption_order=o.order(decryption_order), jobs=jobs,
                                      runtime=rt, hooks=batch_hooks("updatekeys")))


# ------------------------------------------------------------------ groups

group_file = click.option("-f", "--file", "file", required=True, type=click.Path(),
                          help="The encrypted file.")
group_opts = o.compose(o.in_place, o.shamir_threshold, o.input_type, o.decryption_order,
                       o.config_opt)


def _change_groups(file: str, change: keyflows.GroupChange, in_place: bool,
                   input_type: str | None, decryption_order: str | None,
                   config_path: str | None) -> None:
    keyflows.change_groups(file, change, in_place=in_place, input_type=input_type,
                           decryption_order=o.order(decryption_order),
                           runtime=o.runtime(config_path), stdout=o.write_stdout)


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
@group_opts
def groups_add_cmd(file: str, age: tuple[str, ...], pgp: tuple[str, ...], kms: tuple[str, ...],
                   aws_profile: str, encryption_context: str, in_place: bool,
                   shamir_threshold: int | None, input_type: str | None,
                   decryption_order: str | None, config_path: str | None) -> None:
    """Append a key group to FILE and re-split the same data key."""
    specs = o.flag_specs({"age": ",".join(age), "pgp": ",".join(pgp), "kms": ",".join(kms)},
                         aws_profile=aws_profile, context=encryption_context)
    keys = keyflows.group_keys(specs, encryption_context)
    _change_groups(file, keyflows.adding_group(keys, shamir_threshold), in_place, input_type,
                   decryption_order, config_path)


@groups_cmd.command("delete")
@click.argument("index", type=click.IntRange(min=0))
@group_file
@group_opts
def groups_delete_cmd(index: int, file: str, in_place: bool, shamir_threshold: int | None,
                      input_type: str | None, decryption_order: str | None,
                      config_path: str | None) -> None:
    """Delete key group INDEX (from 0) of FILE; refused if the threshold could not be met."""
    _change_groups(file, keyflows.deleting_group(index, shamir_threshold), in_place, input_type,
                   decryption_order, config_path)


# ------------------------------------------------------------------ keys

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
              help=f"Exit {keyflows.OLD_KEY_EXIT} when a data key is older than --max-age (for CI).")
@o.input_type
@recursive
@jobs
@o.config_opt
def keys_cmd(files: tuple[str, ...], max_age: str, fail_on_old: bool, input_type: str | None,
             recursive: bool, jobs: int | None, config_path: str | None) -> None:
    """Show each FILE's master keys, their created_at and the data key's age."""
    statuses, rep = keyflows.key_status(files, max_age=max_age, fail_on_old=fail_on_old,
                                        input_type=input_type, recursive=recursive, jobs=jobs,
                                        runtime=o.runtime(config_path))
    for st in statuses:
        _show_status(st)
    old = sum(1 for st in statuses if st.needs_rotation)
    if old:
        click.echo(f"secretsctl: {old} of {rep.total} file(s) need a data key rotation", err=True)
    _finish(rep)
