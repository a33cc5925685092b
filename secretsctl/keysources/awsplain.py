"""Plain AWS credentials and the KMS endpoint, resolved without the AWS SDK.

:func:`plan` answers one question for :mod:`.kms_fast`: can this KMS call be
signed with static keys and sent to a known endpoint exactly as boto3 would
send it?  If anything is out of the ordinary it returns ``None`` with the
reason, and the caller uses boto3, which understands every credential source
(SSO, web identity, roles, ``credential_process``, ``source_profile``,
container and instance metadata …).  When in doubt: fall back.

What the fast path accepts, following botocore's default credential chain:

* no role (``ARN+ROLE`` needs STS AssumeRole);
* environment keys ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (token from
  ``AWS_SECURITY_TOKEN`` then ``AWS_SESSION_TOKEN``, botocore's order), used
  only when the key has no ``aws_profile``: botocore drops the environment
  provider when a profile is named explicitly, but not for ``AWS_PROFILE``;
* otherwise static keys of the selected profile (the key's ``aws_profile``,
  else ``AWS_PROFILE``, else ``default``): first the shared credentials
  file's section, then the config file's profile, the order of botocore's
  providers once SSO/web identity/process ones are ruled out;
* the selected profile (credentials and config sections merged, as
  botocore's ``full_config`` does) holds only :data:`SAFE_PROFILE_KEYS`; a
  ``role_arn``, ``sso_*``, ``credential_process``, ``endpoint_url``,
  ``services``, ``ca_bundle``, ``use_fips_endpoint`` … means boto3.

Endpoints, in botocore's order: the ``SECRETSCTL_KMS_ENDPOINT_<REGION>``
override (boto3's ``endpoint_url``), ``AWS_ENDPOINT_URL_KMS``,
``AWS_ENDPOINT_URL``, else ``https://kms.<region>.<partition suffix>`` for the
aws, aws-cn and aws-us-gov partitions (other partitions, FIPS and dual-stack
go to boto3).  TLS trusts ``AWS_CA_BUNDLE`` when set, as botocore does (a
``ca_bundle`` in the profile goes to boto3).

Everything is read from the injected environment (``KeyEnv.environ``, which
the CLI fills from the process environment).
"""
from __future__ import annotations

import os
import re
from typing import Mapping, NamedTuple

from .sigv4 import Credentials

__all__ = ["Plan", "plan", "FASTPATH_VAR", "SAFE_PROFILE_KEYS", "FALLBACK_VARS"]

FASTPATH_VAR = "SECRETSCTL_KMS_FASTPATH"  # "off": always use boto3 (an escape hatch)
SAFE_PROFILE_KEYS = frozenset({
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
    "aws_account_id", "region", "output", "cli_pager", "cli_timestamp_format",
    "cli_binary_format", "cli_auto_prompt",
    # Settings that cannot change this call: other services, instance metadata (unused
    # with static keys) and retries (secretsctl makes its own, boto3's are turned off).
    "s3", "sts_regional_endpoints", "metadata_service_timeout", "metadata_service_num_attempts",
    "max_attempts", "retry_mode"})
# Any of these set (even empty) changes how boto3 would sign, route or trust the call.
FALLBACK_VARS = (
    "AWS_DEFAULT_PROFILE",  # outranks AWS_PROFILE in botocore, even when empty
    "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CREDENTIAL_EXPIRATION", "AWS_DATA_PATH",
    "AWS_SIGV4A_SIGNING_REGION_SET", "AWS_AUTH_SCHEME_PREFERENCE")
# botocore's partitions.json: region pattern -> DNS suffix (the KMS rule is kms.{region}.{suffix}).
_PARTITIONS = (
    (re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$"), "amazonaws.com"),
    (re.compile(r"^cn-\w+-\d+$"), "amazonaws.com.cn"),
    (re.compile(r"^us-gov-\w+-\d+$"), "amazonaws.com"),
)
_REGION = re.compile(r"^[a-z0-9-]{1,40}$")


class Plan(NamedTuple):
    """How to send one KMS call without boto3."""

    creds: Credentials
    scheme: str  # "http" / "https"
    host: str
    port: int | None
    url: str  # for messages ("from https://kms.eu-west-1.amazonaws.com")
    ca_bundle: str | None = None  # AWS_CA_BUNDLE (botocore's ``verify``); None: botocore's default


class _Fallback(Exception):
    """Internal: the reason this call goes through boto3."""


def plan(region: str, profile: str, role: str, endpoint: str | None,
         environ: Mapping[str, str]) -> tuple[Plan | None, str]:
    """(plan, "") when the fast path applies, else (None, why not)."""
    try:
        return _plan(region, profile, role, endpoint, environ), ""
    except _Fallback as why:
        return None, str(why)


def _plan(region: str, profile: str, role: str, endpoint: str | None,
          environ: Mapping[str, str]) -> Plan:
    if environ.get(FASTPATH_VAR, "").strip().lower() in ("off", "0", "false", "no"):
        raise _Fallback(f"{FASTPATH_VAR} is off")
    if role:
        raise _Fallback("a role is assumed through STS")
    _check_environment(environ)
    creds = _credentials(profile, environ)
    url = endpoint or environ.get("AWS_ENDPOINT_URL_KMS") or environ.get("AWS_ENDPOINT_URL") \
        or _standard_endpoint(region)
    if not _REGION.match(region):
        raise _Fallback(f"unusual region {region!r}")
    return Plan(creds, *_split_url(url), url.rstrip("/"), environ.get("AWS_CA_BUNDLE") or None)


def _check_environment(environ: Mapping[str, str]) -> None:
    for var in FALLBACK_VARS:
        if var in environ:
            raise _Fallback(f"{var} is set")
    if "AWS_PROFILE" in environ and not environ["AWS_PROFILE"]:
        raise _Fallback("AWS_PROFILE is empty")
    for var in environ:  # botocore honours every *_proxy variable (urllib's getproxies)
        if var.lower().endswith("_proxy") and var.lower() != "no_proxy" and environ[var]:
            raise _Fallback(f"{var} is set")


# ----------------------------------------------------------------- credentials

def _credentials(explicit_profile: str, environ: Mapping[str, str]) -> Credentials:
    name = explicit_profile or environ.get("AWS_PROFILE") or "default"
    config = _profiles(_read_ini(_path(environ, "AWS_CONFIG_FILE", "config")))
    creds_file = _read_ini(_path(environ, "AWS_SHARED_CREDENTIALS_FILE", "credentials"))
    if name not in config and name not in creds_file and name != "default":
        raise _Fallback(f"AWS profile {name!r} not found")  # boto3 reports it
    merged = {**config.get(name, {}), **creds_file.get(name, {})}
    odd = sorted(set(merged) - SAFE_PROFILE_KEYS)
    if odd:
        raise _Fallback(f"AWS profile {name!r} sets {odd[0]}")
    if not explicit_profile and environ.get("AWS_ACCESS_KEY_ID"):
        return _static(environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY"),
                       environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN"))
    for section in (creds_file.get(name), config.get(name)):
        if section and "aws_access_key_id" in section:
            token = next((section[k] for k in ("aws_security_token", "aws_session_token")
                          if k in section), None)
            return _static(section["aws_access_key_id"], section.get("aws_secret_access_key"), token)
    raise _Fallback(f"no static keys for AWS profile {name!r}")


def _static(access: str | None, secret: str | None, token: str | None) -> Credentials:
    values = (access or "", secret or "", token or "")
    if not values[0] or not values[1] or any(v != v.strip() or "\n" in v for v in values):
        raise _Fallback("incomplete or odd static keys")  # boto3 says what is wrong
    return Credentials(values[0], values[1], values[2] or None)


def _path(environ: Mapping[str, str], var: str, default: str) -> str:
    """botocore's file location: the variable or ``~/.aws/<default>``, vars and ``~`` expanded."""
    raw = environ.get(var) or os.path.join("~", ".aws", default)
    home = environ.get("HOME")
    raw = os.path.expandvars(raw)
    if raw.startswith("~") and home:
        raw = home + raw[1:]
    return os.path.expanduser(raw)


def _read_ini(path: str) -> dict[str, dict[str, str]]:
    """Sections of an INI file parsed exactly as botocore parses it ({} if absent)."""
    if not os.path.isfile(path):
        return {}
    import configparser  # deferred: only KMS keys need it
    cp = configparser.RawConfigParser()
    try:
        cp.read([path])
    except (configparser.Error, UnicodeDecodeError, OSError):
        raise _Fallback(f"cannot parse {path}") from None  # boto3 reports the parse error
    return {s: {o: cp.get(s, o) for o in cp.options(s)} for s in cp.sections()}


def _profiles(sections: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Config-file profiles as botocore's ``build_profile_map`` names them."""
    import shlex
    out: dict[str, dict[str, str]] = {}
    for key, values in sections.items():
        if key.startswith("profile"):
            try:
                parts = shlex.split(key)
            except ValueError:
                continue
            if len(parts) == 2:
                out[parts[1]] = values
        elif key == "default":
            out[key] = values
    return out


# ----------------------------------------------------------------- endpoint

def _standard_endpoint(region: str) -> str:
    for pattern, suffix in _PARTITIONS:
        if pattern.match(region):
            return f"https://kms.{region}.{suffix}"
    raise _Fallback(f"region {region!r} is in no partition the fast path knows")


def _split_url(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a bare ``http(s)://host[:port][/]`` endpoint.

    Parsed by hand (``urllib.parse`` costs more to import than this); anything
    with user info, a path, a query or a non-ASCII host goes to boto3.
    """
    scheme, sep, rest = url.partition("://")
    rest = rest[:-1] if rest.endswith("/") else rest
    bad = (not sep or scheme not in ("http", "https") or not rest or not rest.isascii()
           or any(c in rest for c in "/?#@ \t\\"))
    host, port_text = rest, ""
    if not bad and rest.startswith("["):  # IPv6 literal
        end = rest.find("]")
        host, tail = rest[:end + 1], rest[end + 1:]
        bad = end < 0 or (tail != "" and not tail.startswith(":"))
        port_text = tail[1:]
    elif not bad and ":" in rest:
        host, _, port_text = rest.partition(":")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if bad or not host or (port_text and port is None):
        raise _Fallback(f"endpoint {url!r} is not a plain http(s)://host[:port] URL")
    return scheme, host.lower(), port
