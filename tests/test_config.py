"""`.sops.yaml` discovery and creation rules, checked against the sops binary."""
from __future__ import annotations

from pathlib import Path

import pytest

from secretsctl.config import find_config, parse_config
from secretsctl.errors import ConfigError

from conftest import age_recipient


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "prod").mkdir()
    (tmp_path / "dev").mkdir()
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        f"  - path_regex: ^prod/.*\\.yaml$\n    age: '{age_recipient(1)}'\n    encrypted_regex: ^pass\n"
        f"  - path_regex: ^dev/\n    age: '{age_recipient(2)}'\n")
    for d in ("prod", "dev"):
        (tmp_path / d / "s.yaml").write_text("password: p\nuser: u\n")
    return tmp_path


def test_path_regex_is_relative_to_the_config_file(tmp_path, cli, sops):
    root = _tree(tmp_path)
    for d, recipient, rule in (("prod", age_recipient(1), b"encrypted_regex: ^pass"),
                               ("dev", age_recipient(2), b"unencrypted_suffix: _unencrypted")):
        ours = cli(["encrypt", f"{d}/s.yaml"], cwd=root)
        theirs = sops(["encrypt", f"{d}/s.yaml"], cwd=root)
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        for out in (ours.stdout, theirs.stdout):
            assert recipient.encode() in out and rule in out


def test_discovery_starts_at_the_file_then_the_cwd(tmp_path, cli):
    root = _tree(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # sops would find no config from `elsewhere`; we start at the file's directory.
    ours = cli(["encrypt", str(root / "prod" / "s.yaml")], cwd=elsewhere)
    assert ours.returncode == 0 and age_recipient(1).encode() in ours.stdout
    assert find_config(str(root / "prod" / "s.yaml"), str(elsewhere)) == str(root / ".sops.yaml")


def test_no_matching_rule_is_an_error(tmp_path, cli, sops):
    root = _tree(tmp_path)
    (root / "other.yaml").write_text("a: 1\n")
    ours, theirs = cli(["encrypt", "other.yaml"], cwd=root), sops(["encrypt", "other.yaml"], cwd=root)
    assert ours.returncode == theirs.returncode == 1
    assert b"no matching creation rules found" in ours.stderr


def test_flags_replace_rule_keys_but_keep_its_rule(tmp_path, cli):
    root = _tree(tmp_path)
    out = cli(["encrypt", "--age", age_recipient(3), "prod/s.yaml"], cwd=root).stdout
    assert age_recipient(3).encode() in out and age_recipient(1).encode() not in out
    assert b"encrypted_regex: ^pass" in out


def test_explicit_config_and_sops_config_env(tmp_path, cli, base_env):
    root = _tree(tmp_path)
    alt = tmp_path / "alt.yaml"
    alt.write_text(f"creation_rules:\n  - age: '{age_recipient(3)}'\n")
    for args, env in ((["--config", str(alt)], base_env), ([], dict(base_env, SOPS_CONFIG=str(alt)))):
        out = cli(["encrypt", *args, "prod/s.yaml"], cwd=root, env=env)
        assert out.returncode == 0 and age_recipient(3).encode() in out.stdout


def test_stores_indent(tmp_path, cli, sops):
    (tmp_path / ".sops.yaml").write_text(
        f"stores:\n  yaml: {{indent: 2}}\n  json: {{indent: 2}}\ncreation_rules:\n  - age: '{age_recipient(1)}'\n")
    (tmp_path / "a.yaml").write_text("a:\n    b: [1, 2]\n")
    (tmp_path / "a.json").write_text('{"a": {"b": [1, 2]}}')
    for name in ("a.yaml", "a.json"):
        enc = cli(["encrypt", name], cwd=tmp_path).stdout
        (tmp_path / f"e-{name}").write_bytes(enc)
        ours = cli(["decrypt", f"e-{name}"], cwd=tmp_path).stdout
        assert ours == sops(["decrypt", f"e-{name}"], cwd=tmp_path).stdout
        assert b"\n  " in ours


@pytest.mark.parametrize("text,needle", [
    (b"creation_rules: 3\n", "creation_rules must be a list"),
    (b"stores: {yaml: {indent: -1}}\n", "stores.yaml.indent"),
    (b"a: [\n", "invalid YAML"),
])
def test_bad_config(text, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/x/.sops.yaml")
    assert needle in info.value.user_message() and "/x/.sops.yaml" in info.value.user_message()


def test_key_groups_with_merge_and_dedup():
    cfg = parse_config(
        b"creation_rules:\n  - key_groups:\n    - age: ['a1,a2']\n      merge:\n        - age: [a1]\n          pgp: [F1]\n", None)  # noqa: E501
    settings = cfg.creation_for("x.yaml")
    assert [(k.type_id, k.spec) for k in settings.key_groups[0]] == [("age", "a1"), ("pgp", "F1"), ("age", "a2")]
