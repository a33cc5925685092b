"""``.sops.yaml``: discovery, ``stores`` options and ``creation_rules``.

Discovery differs from sops on purpose: sops searches from the *current
directory*, so the same command finds different rules depending on where
it is run.  We search upward from the target file's directory (the issue's
contract), then fall back to sops's CWD search, so every layout that works
with sops also works here.  ``--config``/``SOPS_CONFIG`` bypass the search.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import keytypes
from .errors import ConfigError, InputError, SecretsctlError
from .formats import StoreOptions
from .goregex import RegexError, compile_go
from .rules import CryptRule, rule_from, RULE_NAMES

CONFIG_NAME = ".sops.yaml"
MAX_DEPTH = 100

# Rule and key-group fields -> key type, in sops's reading order (age,
# pgp, kms, …), from the key-type registry.
_RULE_KEY_FIELDS = keytypes.rule_fields()
_GROUP_KEY_FIELDS = tuple((f, t) for f, t, _ in keytypes.group_fields())


@dataclass(frozen=True)
class KeySpec:
    """A master key as configured: type plus its string or mapping form."""

    type_id: str
    spec: Any  # str for "age1…"/FPR/ARN(+ROLE), dict for key_groups mappings
    aws_profile: str = ""
    context: str = ""  # KMS encryption context as typed: "k1:v1,k2:v2"


@dataclass
class CreationSettings:
    """What a matching creation rule (or the flags) says about a new file."""

    key_groups: list[list[KeySpec]] = field(default_factory=list)
    shamir_threshold: int = 0
    rule: CryptRule | None = None
    mac_only_encrypted: bool = False
    #: The rule these settings come from (``creation_rules[2]``), "" for flags only.
    source: str = ""


@dataclass
class SopsConfig:
    """A parsed ``.sops.yaml`` (path None when no file was found)."""

    path: str | None = None
    stores: StoreOptions = field(default_factory=StoreOptions)
    creation_rules: list[dict] | None = None
    #: ``destination_rules`` as read; only ``publish`` uses them (and checks their shapes).
    destination_rules: Any = None

    def creation_for(self, file_path: str | None) -> CreationSettings | None:
        """The first matching creation rule for ``file_path`` (None: no rules at all)."""
        if self.creation_rules is None:
            return None
        n = self.rule_index(file_path)
        if n is None:
            raise ConfigError("error loading config: no matching creation rules found", file=self.path)
        return _settings_from_rule(self.creation_rules[n], f"creation_rules[{n}]", self.path)

    def rule_index(self, file_path: str | None) -> int | None:
        """Index of the first creation rule whose ``path_regex`` matches (or that has none)."""
        target = relative_target(file_path, self.path)
        for n, raw in enumerate(self.creation_rules or []):
            regex = raw.get("path_regex") or ""  # a str: parse_config checked the shapes
            try:
                if regex and not compile_go(regex).search(target):
                    continue
            except RegexError as exc:
                # sops: "can not compile regexp: error parsing regexp: …", exit 1
                raise ConfigError(f"creation_rules[{n}].path_regex is invalid: {exc}", file=self.path) from None
            return n
        return None


def find_config(file_path: str | None, cwd: str | None = None) -> str | None:
    """Find ``.sops.yaml`` upward from the file's directory, then from ``cwd``."""
    starts = []
    if file_path:
        starts.append(os.path.dirname(os.path.abspath(file_path)))
    starts.append(os.path.abspath(cwd or os.getcwd()))
    for start in starts:
        d = start
        for _ in range(MAX_DEPTH):
            candidate = os.path.join(d, CONFIG_NAME)
            if os.path.isfile(candidate):
                return candidate
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    return None


def trust_problem(path: str) -> str | None:
    """Why the config at ``path`` may not be the user's own choice of keys, or None.

    Whoever can write the ``.sops.yaml`` that supplies the keys chooses who
    can decrypt what is encrypted with them.  Suspicious: a file owned by
    neither us nor root, one that is group- or world-writable, or one in a
    world-writable directory without the sticky bit (anyone may replace it).
    """
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None
    if st.st_uid not in (os.geteuid(), 0):
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "is writable by other users (group or world)"
    if parent.st_mode & 0o002 and not parent.st_mode & stat.S_ISVTX:
        return "is in a world-writable directory without the sticky bit"
    return None


def load_config(file_path: str | None, explicit: str | None = None,
                environ: Mapping[str, str] | None = None, cwd: str | None = None,
                cache: dict[tuple[str, bytes], SopsConfig] | None = None) -> SopsConfig:
    """Load the config that applies to ``file_path`` (``--config`` > ``SOPS_CONFIG`` > search).

    ``cache`` (path and bytes -> parsed config) skips the YAML parse when the
    same file is read again with the same content; the file itself is always
    re-read, so an edit between two calls is seen.  Parsed configs are
    shared and must not be modified.
    """
    env = os.environ if environ is None else environ
    path = explicit or env.get("SOPS_CONFIG") or find_config(file_path, cwd)
    if not path:
        return SopsConfig()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=path) from None
    if cache is None:
        return parse_config(raw, path)
    key = (path, raw)
    if key not in cache:
        cache[key] = parse_config(raw, path)
    return cache[key]


def parse_config(raw: bytes, path: str | None = None) -> SopsConfig:
    """Parse ``.sops.yaml`` bytes; every value of the wrong shape is a :class:`ConfigError`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .stores.yaml_load import check_depth
    try:
        # ruamel's pure loader took 14 s to fail on a 100 KB line of `[`,
        # with no word of the config: a planted .sops.yaml must fail fast.
        check_depth(raw)
    except InputError as exc:
        raise ConfigError(f"invalid YAML in config: {exc.message}", file=path) from None
    try:
        data = YAML(typ="safe", pure=True).load(raw) or {}
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML in config: {str(exc).splitlines()[0]}", file=path) from None
    if not isinstance(data, dict):
        raise _bad("the config", "must be a mapping", path)
    rules = data.get("creation_rules")
    if rules is not None:
        if not isinstance(rules, list):
            raise _bad("creation_rules", "must be a list", path)
        rules = [_checked_rule(r, f"creation_rules[{n}]", path) for n, r in enumerate(rules)]
    return SopsConfig(path=path, stores=_store_options(data.get("stores") or {}, path),
                      creation_rules=rules, destination_rules=data.get("destination_rules"))


# ---------------------------------------------------------------- shapes
#
# sops decodes .sops.yaml into typed Go structs, so a value of the wrong
# shape (`key_groups: 5`, `age: 5` in a key group, `path_regex: [a]`) is
# "error loading config" (exit 1) however the rules are used.  We check the
# same shapes once, when the file is parsed, instead of failing later with
# a TypeError in whichever rule happens to be read.

def _bad(where: str, what: str, path: str | None) -> ConfigError:
    return ConfigError(f"error loading config: {where} {what}", file=path)


def _text(value: Any, where: str, path: str | None) -> str:
    """A Go ``string`` field: go-yaml accepts any scalar there (``path_regex: 5``)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise _bad(where, "must be a string", path)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _key_field(value: Any, where: str, path: str | None) -> None:
    """A rule's ``age:``/``pgp:``/``kms:``…: a comma list string or a list of strings (sops)."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise _bad(where, "must be a string or a list of strings", path)
    for n, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"{where}[{n}]", "must be a string", path)


def _checked_rule(raw: Any, where: str, path: str | None) -> dict:
    """A copy of one creation rule with its shapes checked and string fields as str."""
    if not isinstance(raw, dict):
        raise _bad(where, "must be a mapping", path)
    rule = dict(raw)
    for name in ("path_regex", "aws_profile", *RULE_NAMES):
        rule[name] = _text(raw.get(name), f"{where}.{name}", path)
    for name, _ in _RULE_KEY_FIELDS:
        _key_field(raw.get(name), f"{where}.{name}", path)
    threshold = raw.get("shamir_threshold")
    # bool is an int in Python; sops refuses `shamir_threshold: true`.
    if threshold is not None and (not isinstance(threshold, int) or isinstance(threshold, bool)
                                  or threshold < 0):
        raise _bad(f"{where}.shamir_threshold", "must be a non-negative integer", path)
    if raw.get("mac_only_encrypted") is not None and not isinstance(raw["mac_only_encrypted"], bool):
        raise _bad(f"{where}.mac_only_encrypted", "must be true or false", path)
    groups = raw.get("key_groups")
    if groups is not None:
        if not isinstance(groups, list):
            raise _bad(f"{where}.key_groups", "must be a list", path)
        visits = [0]
        for n, group in enumerate(groups):
            _check_group(group, f"{where}.key_groups[{n}]", path, 0, visits)
    return rule


# Key-group fields sops decodes as []string and as lists of structs.
_GROUP_STRINGS = tuple(f for f, _, struct in keytypes.group_fields() if not struct)
_GROUP_STRUCTS = tuple(f for f, _, struct in keytypes.group_fields() if struct)
# YAML aliases can make `merge` recursive (&g {merge: [*g]}) or explode
# (each level merging the previous one ten times): bound depth and total.
_MAX_MERGED_GROUPS = 10_000


def _check_group(group: Any, where: str, path: str | None, depth: int, visits: list[int]) -> None:
    if not isinstance(group, dict):
        raise _bad(where, "must be a mapping", path)
    visits[0] += 1
    if depth > MAX_DEPTH or visits[0] > _MAX_MERGED_GROUPS:
        raise _bad(where.split(".merge[")[0], "nests or repeats `merge` too much", path)
    for name in ("merge", *_GROUP_STRINGS, *_GROUP_STRUCTS):
        value = group.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            # Not even a string: sops has no comma-list form inside key_groups.
            raise _bad(f"{where}.{name}", "must be a list", path)
        for n, entry in enumerate(value):
            at = f"{where}.{name}[{n}]"
            if name == "merge":
                _check_group(entry, at, path, depth + 1, visits)
            elif isinstance(entry, (dict, list)) and name in _GROUP_STRINGS:
                raise _bad(at, "must be a string", path)
            elif isinstance(entry, dict):
                _check_struct(entry, at, path)
            elif name in _GROUP_STRUCTS:
                # sops: "cannot unmarshal !!str into config.kmsKey".  Accepting
                # `kms: [arn:…]` here would give a .sops.yaml that works for us
                # and stops every sops user of the repository.
                raise _bad(at, "must be a mapping (e.g. {arn: …} for kms, "
                               "{resource_id: …} for gcp_kms)", path)


def _check_struct(entry: dict, where: str, path: str | None) -> None:
    """A kms/gcp_kms/… entry: string fields, plus a KMS ``context`` mapping."""
    for field_name, value in entry.items():
        if field_name == "context":
            if value is not None and not isinstance(value, dict):
                raise _bad(f"{where}.context", "must be a mapping", path)
        elif isinstance(value, (dict, list)):
            raise _bad(f"{where}.{field_name}", "must be a string", path)


def _indent(value: Any, default: int, name: str, path: str | None, minimum: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(f"stores.{name}.indent", f"must be an integer >= {minimum}", path)
    return value


def _store(stores: dict, name: str, path: str | None) -> dict:
    value = stores.get(name) or {}
    if not isinstance(value, dict):
        raise _bad(f"stores.{name}", "must be a mapping", path)
    return value


def _store_options(stores: Any, path: str | None) -> StoreOptions:
    if not isinstance(stores, dict):
        raise _bad("stores", "must be a mapping", path)
    y = _store(stores, "yaml", path).get("indent")
    yaml_indent = _indent(y, 4, "yaml", path, 0) or 4  # 0 means "default" for sops
    return StoreOptions(
        yaml_indent=yaml_indent,
        json_indent=_indent(_store(stores, "json", path).get("indent"), -1, "json", path, -1),
        json_binary_indent=_indent(_store(stores, "json_binary", path).get("indent"), -1,
                                   "json_binary", path, -1))


def relative_target(file_path: str | None, config_path: str | None) -> str:
    """The string ``path_regex`` is matched against: path relative to the config's directory."""
    if not file_path:
        return ""
    absolute = os.path.abspath(file_path)
    if config_path:
        base = os.path.dirname(os.path.abspath(config_path)) + os.sep
        if absolute.startswith(base):
            return absolute[len(base):]
    return absolute


def split_list(value: Any) -> list[str]:
    """A comma-separated string or a YAML list -> trimmed, non-empty strings."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


def _group_from_mapping(group: Any, where: str, path: str | None) -> list[KeySpec]:
    if not isinstance(group, dict):
        raise ConfigError(f"{where} must be a mapping", file=path)
    specs: list[KeySpec] = []
    for n, merged in enumerate(group.get("merge") or []):
        specs.extend(_group_from_mapping(merged, f"{where}.merge[{n}]", path))
    for field_name, type_id in _GROUP_KEY_FIELDS:
        for entry in group.get(field_name) or []:
            if isinstance(entry, dict):
                specs.append(KeySpec(type_id, dict(entry), str(entry.get("aws_profile") or "")))
            else:
                specs.extend(KeySpec(type_id, s) for s in split_list(entry))
    unique: list[KeySpec] = []
    for s in specs:  # sops drops duplicates of the same type and string form
        if all((u.type_id, repr(u.spec)) != (s.type_id, repr(s.spec)) for u in unique):
            unique.append(s)
    return unique


def rule_settings(raw: Any, where: str, path: str | None) -> CreationSettings:
    """The settings of a rule-shaped mapping (a destination's ``recreation_rule``), checked."""
    return _settings_from_rule(_checked_rule(raw, where, path), where, path)


def _settings_from_rule(raw: dict, where: str, path: str | None) -> CreationSettings:
    if raw.get("key_groups"):
        groups = [_group_from_mapping(g, f"{where}.key_groups[{n}]", path)
                  for n, g in enumerate(raw["key_groups"])]
    else:
        profile = str(raw.get("aws_profile") or "")
        group = [KeySpec(type_id, s, profile if type_id == "kms" else "")
                 for field_name, type_id in _RULE_KEY_FIELDS for s in split_list(raw.get(field_name))]
        groups = [group] if group else []
    try:
        rule = rule_from({k: raw.get(k) for k in RULE_NAMES})
    except SecretsctlError as exc:
        raise exc.with_file(path)
    threshold = raw.get("shamir_threshold") or 0  # checked by _checked_rule
    return CreationSettings(key_groups=groups, shamir_threshold=threshold, rule=rule,
                            mac_only_encrypted=bool(raw.get("mac_only_encrypted")), source=where)
