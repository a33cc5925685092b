"""``edit``, ``set`` and ``unset``: parse flags, call :mod:`secretsctl.editing`."""
from __future__ import annotations

import sys

import click

from .. import editing, editor
from . import options as o


def _notify(message: str) -> None:
    click.echo(f"secretsctl: {message}", err=True)


@click.command("edit")
@click.argument("file", type=click.Path())
@o.key_flags
@o.input_type
@o.output_type
@o.rule_flags
@o.shamir_threshold
@click.option("-s", "--show-master-keys", is_flag=True,
              help="Show the sops metadata in the editor too (edits to it are kept).")
@o.ignore_mac
# key_flags already carries --kms-timeout, which o.decryption_order adds too;
# a command with both needs the bare option (click rejects duplicates).
@o.decryption_order_flag
@o.config_opt
def edit_cmd(file: str, input_type: str | None, output_type: str | None, show_master_keys: bool,
             ignore_mac: bool, decryption_order: str | None, config_path: str | None,
             **kw: object) -> None:
    """Edit FILE decrypted in $SOPS_EDITOR/$EDITOR; a new FILE starts from an example."""
    rt = o.runtime(config_path)
    settings = editing.EditSettings(prompt=editor.tty_prompt(_notify),
                                    show_master_keys=show_master_keys)
    editing.edit_file(file, input_type=input_type, output_type=output_type,
                      options=o.encrypt_options(dict(kw)), ignore_mac=ignore_mac,
                      decryption_order=o.order(decryption_order), settings=settings, runtime=rt)


@click.command("set")
@click.argument("file", type=click.Path())
@click.argument("path")
@click.argument("value", required=False)
@click.option("--value-file", is_flag=True, help="VALUE is a file holding the JSON value.")
@click.option("--value-stdin", is_flag=True, help="Read the JSON value from stdin.")
@click.option("--idempotent", is_flag=True, help="Do not write the file if the value is already set.")
@o.rewrite_options
def set_cmd(file: str, path: str, value: str | None, value_file: bool, value_stdin: bool,
            idempotent: bool, input_type: str | None, output_type: str | None,
            shamir_threshold: int | None, ignore_mac: bool, decryption_order: str | None,
            config_path: str | None) -> None:
    """Set PATH in FILE to the JSON VALUE (PATH like '["a"][0]'), re-encrypting in place."""
    text = editing.value_text(value, value_file=value_file, value_stdin=value_stdin,
                              stdin=lambda: sys.stdin.buffer.read())
    parsed = editing.parse_json_value(text)
    editing.set_value(file, path, parsed, idempotent=idempotent, input_type=input_type,
                      output_type=output_type, ignore_mac=ignore_mac,
                      decryption_order=o.order(decryption_order), runtime=o.runtime(config_path))


@click.command("unset")
@click.argument("file", type=click.Path())
@click.argument("path")
@click.option("--idempotent", is_flag=True, help="A missing PATH is not an error.")
@o.rewrite_options
def unset_cmd(file: str, path: str, idempotent: bool, input_type: str | None,
              output_type: str | None, shamir_threshold: int | None, ignore_mac: bool,
              decryption_order: str | None, config_path: str | None) -> None:
    """Remove PATH from FILE (PATH like '["a"]'), re-encrypting in place."""
    editing.unset_value(file, path, idempotent=idempotent, input_type=input_type,
                        output_type=output_type, ignore_mac=ignore_mac,
                        decryption_order=o.order(decryption_order), runtime=o.runtime(config_path))
