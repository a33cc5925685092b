"""``publish``: upload sops files to their ``destination_rules`` S3 destination (sops 3.11).

The library (:mod:`secretsctl.publish`) prepares every file first; this
command shows the key changes, asks (unless ``-y``) and uploads.  Like
sops, the key changes and the question go to standard output and the
answer is read from standard input, a terminal or not (``yes | secretsctl
publish ...`` works); standard input ending without an answer is an error.
"""
from __future__ import annotations

import os
import sys

import click

from .. import publish
from ..errors import NoFileSpecified, SecretsctlError
from . import options as o


def _ask(pub: publish.Publication) -> bool:
    """sops's prompt, repeated until the answer is ``y`` or ``n``."""
    while True:
        click.echo(f"uploading {os.path.abspath(pub.path)} to {pub.url} ? (y/n): ", nl=False)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            click.echo("")
            raise SecretsctlError("no answer: standard input ended; pass -y to publish "
                                  "without asking", file=pub.path)
        if line.strip() in ("y", "n"):
            return line.strip() == "y"


@click.command("publish")
@click.argument("path", required=False, type=click.Path())
@click.option("-y", "--yes", is_flag=True, help="Upload without asking for each file.")
@click.option("--omit-extensions", is_flag=True,
              help="Drop the file extension from the object name (as omit_extensions: true).")
@click.option("--recursive", is_flag=True,
              help="PATH is a directory: publish every file under it (names relative to PATH).")
@click.option("--verbose", is_flag=True, hidden=True, help="Accepted for sops; no effect.")
@o.decryption_order
@o.config_opt
def publish_cmd(path: str | None, yes: bool, omit_extensions: bool, recursive: bool, verbose: bool,
                decryption_order: str | None, config_path: str | None) -> None:
    """Upload PATH to the S3 destination of its destination_rules in .sops.yaml.

    With keys in the rule's recreation_rule, the file is decrypted and
    encrypted again for those keys only (new data key) before it is
    uploaded; without, it is uploaded as it is.  Only s3_bucket
    destinations are supported (not gcs_bucket, not vault_path).
    """
    if not path:
        raise NoFileSpecified("no file specified")
    pubs = publish.plan(path, recursive=recursive, omit_extensions=omit_extensions,
                        decryption_order=o.order(decryption_order), runtime=o.runtime(config_path))

    def confirm(pub: publish.Publication) -> bool:
        if pub.key_changes:
            click.echo("The following changes will be made to the file's key groups:")
            click.echo("\n".join(pub.key_changes))
        return yes or _ask(pub)

    publish.publish_all(pubs, recursive=recursive, confirm=confirm, on_canceled=click.echo,
                        on_published=lambda pub: click.echo(
                            f"secretsctl: published {pub.path} to {pub.url}", err=True))
