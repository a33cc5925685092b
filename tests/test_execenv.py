"""Unit tests: selection, names and value rendering (execenv), export formats, runner pieces.

The byte-level expectations for the default mode come from sops 3.11's
``exec-env`` (docs/format.md §9.3, §12.8) and for ``--vars`` from
``sops -d --output-type json | jq -erc``; both are also checked against the
real tools in tests/test_exec_cli.py.
"""
from __future__ import annotations

import io
import signal
import subprocess

import pytest
from dotenv import dotenv_values

from secretsctl import exportfmt, runner
from secretsctl.errors import SecretsctlError, TreePathError
from secretsctl.execenv import Selection, tree_to_env
from secretsctl.tree import Branch, Comment, Item, Timestamp, from_python

SECRET = "s3cr3t-value-never-in-errors"


def doc(data: dict) -> Branch:
    return from_python(data)


def test_default_mode_sops_value_rules() -> None:
    d = Branch([Comment(" c"), Item("s", "x y"), Item("i", 42), Item("neg", -7), Item("f", 1.5),
                Item("f1", 1.0), Item("fe", 1e20), Item("fs", 1e-07), Item("t", True),
                Item("b", False), Item("n", None), Item("d", Timestamp("2024-01-02T00:00:00Z"))])
    assert tree_to_env(d) == {"s": "x y", "i": "42", "neg": "-7", "f": "1.5", "f1": "1.0",
                              "fe": "1E+20", "fs": "1E-07", "t": "true", "b": "false",
                              "n": "<nil>", "d": "2024-01-02T00:00:00Z"}


def test_default_mode_keeps_order_and_prefix() -> None:
    env = tree_to_env(doc({"b": "1", "a": "2"}), Selection(prefix="APP_"))
    assert list(env.items()) == [("APP_b", "1"), ("APP_a", "2")]


@pytest.mark.parametrize("value", [{"k": SECRET}, [SECRET]])
def test_default_mode_rejects_complex_value_naming_key(value: object) -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc({"ok": "1", "nested": value}))
    assert err.value.tree_path == "nested"
    assert "complex value" in err.value.user_message()
    assert SECRET not in err.value.user_message()


@pytest.mark.parametrize("key", ["my-key", "export B", "1abc", "a.b", "", "é"])
def test_invalid_names_rejected(key: str) -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc({key: SECRET}))
    assert err.value.tree_path == key
    assert SECRET not in err.value.user_message()


def test_nul_in_value_rejected() -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc({"A": "x\0" + SECRET}))
    assert err.value.tree_path == "A" and SECRET not in err.value.user_message()


NESTED = {"top": "t", "db": {"user": "u", "port": 5432, "ratio": 0.25, "on": False,
                             "nothing": None, "big": 1e20},
          "list": ["a", {"k": "v"}, 3], "obj": {"z": 1, "a": ["é\u2028\x7f\x01\"\\"]},
          "num": {"0": "zero-key"}}


@pytest.mark.parametrize("var,name,value", [
    ("top", "top", "t"),
    ("db.user", "db__user", "u"),
    ("db.port", "db__port", "5432"),
    ("db.ratio", "db__ratio", "0.25"),
    ("db.on", "db__on", "false"),
    ("db.nothing", "db__nothing", "null"),
    ("db.big", "db__big", "100000000000000000000"),  # sops's JSON text (Go encoding/json)
    ("list.0", "list__0", "a"),
    ("list.1", "list__1", '{"k":"v"}'),
    ("list.1.k", "list__1__k", "v"),
    ("list.2", "list__2", "3"),
    ("list", "list", '["a",{"k":"v"},3]'),
    ("obj", "obj", '{"z":1,"a":["é\u2028\\u007f\\u0001\\"\\\\"]}'),  # jq -c escapes
    ("num.0", "num__0", "zero-key"),  # a numeric component is a key in a mapping
])
def test_vars_paths_names_and_json_values(var: str, name: str, value: str) -> None:
    assert tree_to_env(doc(NESTED), Selection(vars=(var,))) == {name: value}


def test_vars_float_one_is_json_text_not_dotenv_text() -> None:
    # Default mode follows sops exec-env ("1.0"); --vars follows sops JSON + jq ("1").
    d = doc({"f": 1.0})
    assert tree_to_env(d) == {"f": "1.0"}
    assert tree_to_env(d, Selection(vars=("f",))) == {"f": "1"}


@pytest.mark.parametrize("var", ["nope", "db.nope", "list.9", "db.user2.x"])
def test_missing_path_is_an_error_naming_it(var: str) -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc(NESTED), Selection(vars=(var,)))
    assert err.value.tree_path == var
    assert "does not exist" in err.value.message


def test_missing_null_reproduces_makes() -> None:
    env = tree_to_env(doc(NESTED), Selection(vars=("top", "nope", "db.nope"), missing="null"))
    assert env == {"top": "t", "nope": "null", "db__nope": "null"}


@pytest.mark.parametrize("var", ["top.x", "list.x", "db.user.x"])
def test_walking_through_a_scalar_or_bad_index_is_an_error(var: str) -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc(NESTED), Selection(vars=(var,), missing="null"))
    assert err.value.tree_path == var


@pytest.mark.parametrize("var", ["", ".a", "a.", "a..b"])
def test_bad_var_syntax(var: str) -> None:
    with pytest.raises(TreePathError):
        tree_to_env(doc(NESTED), Selection(vars=(var,)))


def test_flatten_whole_tree() -> None:
    env = tree_to_env(doc({"a": {"b": [1, {"c": "x"}], "e": {}}, "s": 2.0}),
                      Selection(flatten=True, prefix="P_"))
    assert env == {"P_a__b__0": "1", "P_a__b__1__c": "x", "P_a__e": "{}", "P_s": "2"}


def test_flatten_selected_subtree() -> None:
    env = tree_to_env(doc(NESTED), Selection(vars=("db",), flatten=True))
    assert list(env) == ["db__user", "db__port", "db__ratio", "db__on", "db__nothing", "db__big"]


def test_collisions_are_errors_naming_both_paths() -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc({"a": {"b": "1"}, "a__b": "2"}), Selection(flatten=True))
    assert "a.b" in err.value.message and "a__b" in err.value.message


def test_inf_cannot_be_json() -> None:
    with pytest.raises(SecretsctlError) as err:
        tree_to_env(doc({"x": [float("inf")]}), Selection(vars=("x",)))
    assert err.value.tree_path == "x"


def test_bad_prefix_and_missing_mode() -> None:
    with pytest.raises(SecretsctlError):
        tree_to_env(doc({"a": "1"}), Selection(prefix="9"))
    with pytest.raises(SecretsctlError):
        tree_to_env(doc({"a": "1"}), Selection(missing="empty"))


def test_empty_or_absent_document() -> None:
    assert tree_to_env(None) == {}
    assert tree_to_env(Branch(), Selection(vars=("a",), missing="null")) == {"a": "null"}


# ---- export formats -------------------------------------------------------

TRICKY = {"Q1": "it's", "Q2": '"dq"', "NL": "a\nb\n", "DOLLAR": "$HOME ${HOME}", "BT": "`id`",
          "BS": "back\\slash\\", "BSQ": "\\'", "UNI": "é🙂\u2028", "EMPTY": "", "SP": "  x  ",
          "DASH": "-n", "EQ": "a=b=c", "CR": "x\r\ny", "HASH": "# not a comment"}


def test_dotenv_reads_back_with_python_dotenv() -> None:
    text = exportfmt.dotenv(TRICKY)
    assert dict(dotenv_values(stream=io.StringIO(text), interpolate=False)) == TRICKY


def test_sh_quoting_shape() -> None:
    assert exportfmt.sh({"A": "it's"}) == "export A='it'\\''s'\n"


def test_json_format() -> None:
    import json
    assert json.loads(exportfmt.render(TRICKY, "json")) == TRICKY


def _runner_env_file(text: str) -> dict[str, str]:
    """Parse $GITHUB_ENV the way the Actions runner does (NAME=value and NAME<<DELIM)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def test_github_env_and_masks() -> None:
    tokens = iter(["aa", "aa", "bb"] + ["cc"] * 20)
    env = {"A": "x ghadelimiter_aa y", "B": "l1\nl2%\n\n", "C": ""}
    masks, entries = exportfmt.github(env, token=lambda n: next(tokens))
    assert "A<<ghadelimiter_bb\n" in entries  # 'aa' occurs in the value: a new one is drawn
    assert _runner_env_file(entries) == env
    assert masks.splitlines() == ["::add-mask::x ghadelimiter_aa y", "::add-mask::l1",
                                  "::add-mask::l2%25"]


def test_github_default_delimiters_are_random() -> None:
    a = exportfmt.github_env({"A": "v"})
    b = exportfmt.github_env({"A": "v"})
    assert a != b and _runner_env_file(a) == {"A": "v"}


@pytest.mark.parametrize("value", [SECRET + "a\nb", SECRET + "a\rb", " lead" + SECRET,
                                   SECRET + "trail\t"])
def test_gitlab_rejects_values_it_would_change(value: str) -> None:
    with pytest.raises(SecretsctlError) as err:
        exportfmt.gitlab({"OK": "fine", "BAD": value})
    assert err.value.tree_path == "BAD" and SECRET not in err.value.user_message()


def test_gitlab_plain_lines() -> None:
    assert exportfmt.gitlab({"A": "'quoted' $x", "B": ""}) == "A='quoted' $x\nB=\n"


# ---- runner pieces --------------------------------------------------------

def test_build_argv_and_env() -> None:
    assert runner.build_argv(["echo $A"], shell=True) == ["/bin/sh", "-c", "echo $A"]
    assert runner.build_argv(["env", "-0"], shell=False) == ["env", "-0"]
    with pytest.raises(SecretsctlError):
        runner.build_argv([], shell=False)
    assert runner.child_env({"A": "1"}, {"A": "0", "B": "2"}, pristine=False) == {"A": "1", "B": "2"}
    assert runner.child_env({"A": "1"}, {"B": "2"}, pristine=True) == {"A": "1"}


def test_substitute_path() -> None:
    assert runner.substitute_path(["cat", "{}", "x{}y"], "/t/p", shell=False) == ["cat", "/t/p", "x/t/py"]
    assert runner.substitute_path(["cat {}"], "/t/a b", shell=True) == ["cat '/t/a b'"]


def test_exit_status_conventions() -> None:
    assert runner.run(["sh", "-c", "exit 7"], {}) == 7
    assert runner.run(["sh", "-c", "kill -9 $$"], {}) == 128 + signal.SIGKILL


def test_run_uses_injected_spawn() -> None:
    seen, procs = [], []

    def spawn(path, argv, env):
        seen.append((path, list(argv), dict(env)))
        # Keep the Popen referenced: a dropped one is reaped by subprocess's own cleanup.
        procs.append(subprocess.Popen(["sh", "-c", "exit 3"]))
        return procs[-1].pid

    assert runner.run(["prog", "arg"], {"A": "1"}, spawn=spawn) == 3
    assert seen == [("prog", ["prog", "arg"], {"A": "1"})]


def test_command_not_found_is_127() -> None:
    with pytest.raises(SecretsctlError) as err:
        runner.run(["no-such-command-secretsctl"], {})
    assert err.value.exit_code == 127


def test_served_file_rejects_paths_in_filename() -> None:
    with pytest.raises(SecretsctlError):
        runner.ServedFile(b"x", filename="../x")


def _siginfo(signo: int, code: int) -> signal.struct_siginfo:
    return signal.struct_siginfo((signo, code, 0, 1, 0, 0, 0))


def test_forwarding_decision() -> None:
    """Kernel (tty) signals already reached a child in our process group: not again."""
    import os
    import sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)
    try:
        for sig in runner.FORWARDED:
            assert runner._should_forward(_siginfo(sig, 0), child.pid)          # SI_USER: kill(1)
            assert not runner._should_forward(_siginfo(sig, 0x80), child.pid)  # SI_KERNEL, same group
            assert runner._should_forward(_siginfo(sig, 0x80), other.pid)      # child has its own group
        assert not runner._should_forward(_siginfo(signal.SIGCHLD, 0), child.pid)
        assert os.getpgid(child.pid) == os.getpgrp()
    finally:
        for p in (child, other):
            p.kill()
            p.wait()
