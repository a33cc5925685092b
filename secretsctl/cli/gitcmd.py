"""``git setup|diff-driver|merge-driver|textconv``: sops files that git can diff and merge."""
from __future__ import annotations

import os
import sys

import click

from .. import gitdrivers
from . import options as o


@click.group("git")
def git_cmd() -> None:
    """git integration: plaintext diffs and tree merges of sops files."""


@git_cmd.command("setup")
@click.option("--repo", default=".", type=click.Path(file_okay=False), help="The repository (default: here).")
def setup_cmd(repo: str) -> None:
    """Mark the repository's sops files in .gitattributes and configure the drivers."""
    command = [sys.executable, "-m", "secretsctl"]   # works without secretsctl on PATH
    marked = gitdrivers.setup(repo, command, runtime=o.runtime(None))
    for name in marked:
        click.echo(f"secretsctl: marked {name}", err=True)
    click.echo(f"secretsctl: configured the {gitdrivers.DRIVER} diff and merge drivers "
               f"({len(marked)} file(s) in .gitattributes)", err=True)


@git_cmd.command("diff-driver", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--show-unchanged", is_flag=True, envvar="SECRETSCTL_DIFF_SHOW_UNCHANGED",
              help="Print unchanged values too.")
def diff_driver_cmd(args: tuple[str, ...], show_unchanged: bool) -> None:
    """git's external diff: PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE."""
    if len(args) < 7:
        click.echo(f"secretsctl: {args[0] if args else 'file'} is unmerged", err=True)
        return
    name, old, new = args[0], args[1], args[4]
    text = gitdrivers.diff_files(old, new, name=name, show_unchanged=show_unchanged,
                                 runtime=o.runtime(None))
    o.write_stdout(text.encode("utf-8"))


@git_cmd.command("merge-driver")
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("name")
def merge_driver_cmd(base: str, ours: str, theirs: str, name: str) -> None:
    """git's merge driver (%O %A %B %P): merge the decrypted trees into OURS."""
    conflicts = gitdrivers.merge_driver(base, ours, theirs, name=name, runtime=o.runtime(None))
    if conflicts:
        for path in conflicts:
            click.echo(f"secretsctl: merge conflict in {name} at {path}", err=True)
        click.echo(f"secretsctl: {name} keeps our version; resolve with `secretsctl edit {name}`", err=True)
        sys.exit(1)


@git_cmd.command("textconv")
@click.argument("file", type=click.Path())
def textconv_cmd(file: str) -> None:
    """Print FILE decrypted (for `diff.<driver>.textconv`: shows every value)."""
    o.write_stdout(gitdrivers.textconv(file, environ=os.environ, runtime=o.runtime(None)))
