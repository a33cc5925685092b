"""Shared click options (pip-tools style) and the flag -> API mapping."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from .. import keytypes
from ..api import EncryptOptions, Runtime
from ..config import KeySpec
from ..datakey import parse_decryption_order
from ..formats import FORMATS
from ..rules import RULE_NAMES, rule_from
from ..stdguard import write_stdout  # noqa: F401 - the commands call o.write_stdout
from .subargs import META_CONFIG, META_INDENT, META_SERVICES

#: keysources.kms_client.TIMEOUT_VAR, spelled out so that every command's
#: start-up does not import the KMS modules (tests/test_startup.py pins it).
KMS_TIMEOUT_VAR = "SECRETSCTL_KMS_TIMEOUT"

F = Callable[..., Any]


def compose(*decorators: F) -> F:
    """Apply several option decorators as one."""
    def wrap(fn: F) -> F:
        for d in reversed(decorators):
            fn = d(fn)
        return fn
    return wrap


# Paths are plain: a directory is reported by the read or write itself, in
# one line with sops's exit code (click would print a usage error, exit 2).
config_opt = click.option("--config", "config_path", type=click.Path(),
                          envvar="SOPS_CONFIG", help="Path to .sops.yaml (no search).")
input_type = click.option("--input-type", type=click.Choice(FORMATS),
                          help="Input format (default: by file extension).")
output_type = click.option("--output-type", type=click.Choice(FORMATS),
                           help="Output format (default: the input format).")
in_place = click.option("-i", "--in-place", is_flag=True, help="Write the result back to FILE (atomically).")
output = click.option("--output", type=click.Path(), help="Write the result to this file.")
filename_override = click.option("--filename-override", help="Use this name for format detection and creation rules.")
ignore_mac = click.option("--ignore-mac", is_flag=True, help="Do not check the MAC (recovery only).")
KMS_TIMEOUT_META = "secretsctl.kms_timeout"


def _remember_kms_timeout(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    # Not a command parameter: runtime() puts it into the Runtime's environ,
    # where the KMS key source reads SECRETSCTL_KMS_TIMEOUT.
    if value is not None:
        ctx.meta[KMS_TIMEOUT_META] = value


kms_timeout = click.option("--kms-timeout", type=click.FloatRange(min=0, min_open=True),
                           expose_value=False, callback=_remember_kms_timeout,
                           help=f"Seconds per AWS KMS call before giving up on that key "
                                f"(default 5; env {KMS_TIMEOUT_VAR}).")
decryption_order_flag = click.option("--decryption-order", envvar="SOPS_DECRYPTION_ORDER",
                                     help="Comma list of key types to try first (default: age,pgp).")
# Every command that recovers a data key takes both options.
decryption_order = compose(decryption_order_flag, kms_timeout)
# Shamir over GF(256) has at most 255 shares, so no threshold above 255 can
# ever be met (sops's int flag refuses values beyond 64 bits and writes a file
# it cannot read for the rest).  No lower bound here: a negative value gets
# the API's own error (exit 1), the same one .sops.yaml gives.
SHAMIR_MAX = 255
shamir_threshold = click.option("--shamir-secret-sharing-threshold", "shamir_threshold",
                                type=click.IntRange(max=SHAMIR_MAX),
                                help=f"Number of key groups needed to decrypt (at most {SHAMIR_MAX}).")

# One flag per key type the registry gives one (--age/-a, --pgp/-p, --kms/-k).
key_flags = compose(
    *(click.option(*[n for n in (k.short_flag, f"--{k.flag}") if n], k.name, envvar=k.env,
                   help=f"Comma list of {k.flag_help}.")
      for k in keytypes.flag_types()),
    click.option("--aws-profile", default="", help="AWS profile for the --kms keys."),
    click.option("--encryption-context", default="", help="KMS encryption context, k1:v1,k2:v2."),
    kms_timeout,
)

rule_flags = compose(*[
    click.option("--" + name.replace("_", "-"), name, default=None,
                 help=f"Selection rule: {name.replace('_', ' ')}.")
    for name in RULE_NAMES
], click.option("--mac-only-encrypted", is_flag=True, default=None,
                help="Compute the MAC over encrypted values only."))


KEY_FLAG_TYPES = tuple(k.name for k in keytypes.flag_types())

#: ``rotate``'s --add-TYPE / --rm-TYPE for each key type with a flag.
add_rm_flags = compose(*(
    click.option(f"--{op}-{k.flag}", f"{op}_{k.name}",
                 help=f"{k.flag_help[0].upper()}{k.flag_help[1:]} to {verb}.")
    for k in keytypes.flag_types()
    for op, verb in (("add", "add to key group 0"), ("rm", "remove from every group"))))


def flag_specs(texts: dict[str, Any], *, aws_profile: str = "", context: str = "") -> list[KeySpec]:
    """One :class:`KeySpec` per non-empty ``--age``/``--pgp``/``--kms`` comma list.

    ``aws_profile`` and ``context`` only concern the KMS spec.
    """
    return [KeySpec(t, texts[t], aws_profile, context) if t == "kms" else KeySpec(t, texts[t])
            for t in KEY_FLAG_TYPES if texts.get(t)]


def encrypt_options(kw: dict[str, Any]) -> EncryptOptions:
    """Build :class:`EncryptOptions` from the key/rule flags (popped from ``kw``)."""
    specs = flag_specs({t: kw.pop(t, None) for t in KEY_FLAG_TYPES}, aws_profile=kw.pop("aws_profile", ""))
    context = kw.pop("encryption_context", "")
    from ..keyspec import check_context  # encrypt and edit only: decrypt's start-up skips it
    check_context(context)
    rule = rule_from({n: kw.pop(n, None) for n in RULE_NAMES})
    return EncryptOptions(key_groups=[specs] if specs else None,
                          shamir_threshold=kw.pop("shamir_threshold", None),
                          rule=rule, mac_only_encrypted=kw.pop("mac_only_encrypted", None),
                          encryption_context=context or None)


def runtime(config_path: str | None) -> Runtime:
    """The process's runtime (real environment, clock, randomness).

    ``--kms-timeout`` reaches the KMS key source as ``SECRETSCTL_KMS_TIMEOUT``
    in the injected environment (the flag wins over the variable).
    """
    environ = dict(os.environ)
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    timeout = meta.get(KMS_TIMEOUT_META)
    if timeout is not None:
        environ[KMS_TIMEOUT_VAR] = repr(timeout)
    # `sops --config C decrypt F`: the flag before the command beats
    # SOPS_CONFIG, as in sops, but not a --config given to the command itself.
    given = meta.get(META_CONFIG)
    if given is not None and ctx is not None and (
            config_path is None
            or ctx.get_parameter_source("config_path") is click.core.ParameterSource.ENVIRONMENT):
        config_path = given
    return Runtime(environ=environ, config_path=config_path, indent=meta.get(META_INDENT),
                   key_services=meta.get(META_SERVICES, ()), warn=_warn)


def _warn(message: str) -> None:
    click.echo(f"secretsctl: warning: {message}", err=True)


def order(text: str | None) -> list[str] | None:
    """The ``--decryption-order`` value as a list; None (not given) means sops's default order."""
    return parse_decryption_order(text) if text else None


#: ``-i``/``--output``/types/``--filename-override``: encrypt and decrypt.
io_options = compose(in_place, output, input_type, output_type, filename_override)
#: What commands that rewrite a file in place (set, unset) share.
rewrite_options = compose(input_type, output_type, shamir_threshold, ignore_mac, decryption_order, config_opt)
