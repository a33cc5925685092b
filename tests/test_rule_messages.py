"""A creation rule that matches but gives no keys says so (issue 11, item 9).

sops refuses each of these with "Could not generate data key: [empty key
group provided]" and exit 1; secretsctl exits the same and names the rule
instead of suggesting to add one (one matched).
"""
from __future__ import annotations

import pytest

from conftest import age_recipient

RULES = {
    "no keys": "creation_rules:\n  - path_regex: \\.yaml$\n",
    "zero groups": "creation_rules:\n  - path_regex: \\.yaml$\n    key_groups: []\n",
    "one empty group": "creation_rules:\n  - path_regex: \\.yaml$\n    key_groups:\n      - {}\n",
    "empty group first": ("creation_rules:\n  - path_regex: \\.yaml$\n    key_groups:\n"
                          "      - age: []\n      - age: [" + age_recipient(1) + "]\n"),
    # An empty group beside a full one must not be dropped: a 2-of-2 rule
    # would become a file that one group's key opens.
    "empty group after a full one": ("creation_rules:\n  - path_regex: \\.yaml$\n    key_groups:\n"
                                     "      - age: [" + age_recipient(1) + "]\n      - {}\n"),
}
LEAD = "Could not generate data key: [empty key group provided]: "   # sops's own text first
EXPECTED = {
    "no keys": LEAD + "the creation rule creation_rules[0] in ",
    "zero groups": LEAD + "the creation rule creation_rules[0] in ",
    "one empty group": LEAD + "the creation rule creation_rules[0] in ",
    "empty group first": LEAD + "creation_rules[0].key_groups[0] in ",
    "empty group after a full one": LEAD + "creation_rules[0].key_groups[1] in ",
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_matching_rule_without_keys(case, cli, sops, tmp_path):
    (tmp_path / ".sops.yaml").write_text(RULES[case])
    (tmp_path / "f.yaml").write_text("a: secret\n")
    ours = cli(["encrypt", "f.yaml"], cwd=tmp_path)
    theirs = sops(["encrypt", "f.yaml"], cwd=tmp_path)
    assert theirs.stderr == b"Could not generate data key: [empty key group provided]\n"
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == b""
    err = ours.stderr.decode()
    assert err.count("\n") == 1 and "add a creation rule" not in err
    assert err.startswith("secretsctl: error: f.yaml: " + EXPECTED[case]), err
    assert "no master keys" in err
    assert (tmp_path / "f.yaml").read_text() == "a: secret\n"


def test_no_rule_at_all_still_suggests_one(cli, sops, tmp_path):
    (tmp_path / "f.yaml").write_text("a: secret\n")
    ours = cli(["encrypt", "f.yaml"], cwd=tmp_path)
    theirs = sops(["encrypt", "f.yaml"], cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    assert b"add a creation rule" in ours.stderr


def test_flags_override_a_keyless_rule(cli, tmp_path):
    # Flag keys replace the rule's keys entirely (sops), so no error here.
    (tmp_path / ".sops.yaml").write_text(RULES["no keys"])
    (tmp_path / "f.yaml").write_text("a: secret\n")
    res = cli(["encrypt", "--age", age_recipient(1), "f.yaml"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
