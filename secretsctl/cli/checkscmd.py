"""``validate``, ``check-encrypted``, ``config explain`` and ``keygen``."""
from __future__ import annotations

import os
import sys

import click

from .. import checks
from . import options as o


def _report(results: list[checks.Check]) -> None:
    """OK/FAIL per file; exit 1 when any failed (the failure's own code when there is one)."""
    for r in results:
        if r.ok:
            click.echo(f"OK   {r.path}")
        else:
            click.echo(f"FAIL {r.path}: {r.stage}: {r.reason}")
    code = checks.exit_code(results)
    if code:
        sys.exit(code)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--sops-files-only", is_flag=True, help="Skip files that are not sops files (for hooks).")
@o.config_opt
def validate_cmd(files: tuple[str, ...], sops_files_only: bool, config_path: str | None) -> None:
    """Check each FILE: structure, metadata, an available key, every value, the MAC."""
    _report(checks.validate_files(list(files), sops_files_only=sops_files_only,
                                  runtime=o.runtime(config_path)))


@click.command("check-encrypted")
@click.argument("files", nargs=-1, type=click.Path())
@o.config_opt
def check_encrypted_cmd(files: tuple[str, ...], config_path: str | None) -> None:
    """Fail for each FILE a creation rule's path_regex claims that is not encrypted (pre-commit)."""
    rt = o.runtime(config_path)
    results = [checks.check_encrypted(f, runtime=rt) for f in files]
    _report([r for r in results if not r.ok])


@click.group("config")
def config_cmd() -> None:
    """Inspect .sops.yaml."""


@config_cmd.command("explain")
@click.argument("file", type=click.Path())
@o.config_opt
def explain_cmd(file: str, config_path: str | None) -> None:
    """Which .sops.yaml applies to FILE, which creation rule matches, and why earlier ones did not."""
    for line in checks.explain_config(file, runtime=o.runtime(config_path)):
        click.echo(line)


@click.command("keygen")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Identity file to create (default: where sops looks, SOPS_AGE_KEY_FILE or "
                   "~/.config/sops/age/keys.txt).")
def keygen_cmd(output: str | None) -> None:
    """Create an age identity (0600, never overwriting) and print its recipient."""
    path = output or checks.default_identity_path(dict(os.environ))
    recipient = checks.keygen(path)  # refuses to overwrite
    click.echo(f"secretsctl: wrote a new age identity to {path}", err=True)
    click.echo(recipient)
