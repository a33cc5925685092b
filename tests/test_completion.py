"""``completion bash|zsh|fish``: the scripts, sourced in the real shells, complete commands.

Each shell runs the printed script and then its completion function (bash:
``COMP_WORDS``/``COMP_CWORD``; zsh: ``words``/``CURRENT`` with the compsys
builtins replaced by printers, since compsys needs a terminal; fish: its own
``complete -C``), which calls the installed ``secretsctl`` console script
back through click's ``_SECRETSCTL_COMPLETE`` protocol.  The same is done
for a ``sops`` symlink to secretsctl.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secretsctl.cli.completioncmd import invoked_name

CONSOLE_SCRIPT = Path(sys.executable).parent / "secretsctl"


@pytest.fixture(scope="module")
def bindir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``secretsctl`` and a ``sops`` symlink to it, as a user installs them."""
    assert CONSOLE_SCRIPT.exists(), "scripts/setup installs the secretsctl console script"
    d = tmp_path_factory.mktemp("completion-bin")
    (d / "secretsctl").symlink_to(CONSOLE_SCRIPT)
    (d / "sops").symlink_to(CONSOLE_SCRIPT)
    return d


@pytest.fixture
def shell_env(base_env: dict[str, str], bindir: Path) -> dict[str, str]:
    return dict(base_env, PATH=f"{bindir}{os.pathsep}{base_env.get('PATH', '')}")


def shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: scripts/setup installs it")
    return path


def run_shell(argv: list[str], env: dict[str, str]) -> list[str]:
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


BASH_COMPLETE = """
source <({prog} completion bash)
complete -p {prog}
COMP_WORDS=({words}); COMP_CWORD={cword}
_{prog}_completion {prog}
printf 'reply:%s\\n' "${{COMPREPLY[@]}}"
"""


def bash_complete(env: dict[str, str], prog: str, line: str) -> list[str]:
    """COMPREPLY for the command line ``line`` (a trailing space starts a new word)."""
    words = line.split(" ")
    script = BASH_COMPLETE.format(prog=prog, words=" ".join(f"'{w}'" for w in words),
                                  cword=len(words) - 1)
    lines = run_shell([shell("bash"), "--norc", "--noprofile", "-c", script], env)
    assert lines[0] == f"complete -o nosort -F _{prog}_completion {prog}"
    return [line[len("reply:"):] for line in lines[1:]]


def test_bash_completes_commands_and_options(shell_env):
    assert bash_complete(shell_env, "secretsctl", "secretsctl enc") == ["encrypt"]
    assert bash_complete(shell_env, "secretsctl", "secretsctl ex") == ["exec-env", "exec-file", "export"]
    assert set(bash_complete(shell_env, "secretsctl", "secretsctl exec-env --pr")) == {"--pristine", "--prefix"}
    assert bash_complete(shell_env, "secretsctl", "secretsctl completion ") == \
        ["bash", "zsh", "fish"]


def test_bash_script_for_sops_symlink(shell_env):
    # Run as `sops` (a symlink), the script completes `sops`, not `secretsctl`.
    assert bash_complete(shell_env, "sops", "sops dec") == ["decrypt"]
    assert bash_complete(shell_env, "sops", "sops rot") == ["rotate"]


def test_zsh_completes(shell_env):
    # compsys needs a terminal; its three entry points are replaced by printers.
    stubs = ('compdef() { print -r -- "compdef $*" }; '
             '_describe() { print -rl -- ${(P)3} }; '
             'compadd() { print -rl -- ${(P)${@[-1]}} }; ')
    for prog, words, current, want in (
            ("secretsctl", "secretsctl enc", 2, ["encrypt:"]),
            ("sops", "sops exec-env --pr", 3, ["--pristine:", "--prefix:"])):
        script = (stubs + f"source <({prog} completion zsh); words=({words}); CURRENT={current}; "
                  f"_{prog}_completion")
        lines = run_shell([shell("zsh"), "-f", "-c", script], shell_env)
        assert lines[0] == f"compdef _{prog}_completion {prog}"
        assert [line.split(":")[0] + ":" for line in lines[1:]] == want, lines


def test_fish_completes(shell_env):
    script = ("secretsctl completion fish | source; complete -C 'secretsctl enc'; "
              "sops completion fish | source; complete -C 'sops dec'; complete -C 'sops completion '")
    lines = run_shell([shell("fish"), "--no-config", "-c", script], shell_env)
    assert [line.split("\t")[0] for line in lines] == ["encrypt", "decrypt", "bash", "fish", "zsh"]


@pytest.mark.parametrize("prog", ["secretsctl", "sops"])
def test_protocol_answers_under_either_name(shell_env, prog):
    # What the scripts run: the variable is _SECRETSCTL_COMPLETE for both names.
    env = dict(shell_env, _SECRETSCTL_COMPLETE="bash_complete", COMP_WORDS=f"{prog} decr",
               COMP_CWORD="1")
    assert run_shell([prog], env) == ["plain,decrypt"]


def test_prog_name_option_and_unknown_shell(cli):
    res = cli(["completion", "bash", "--prog-name", "sops"])
    assert res.returncode == 0 and b"complete -o nosort -F _sops_completion sops\n" in res.stdout
    res = cli(["completion", "tcsh"])
    assert res.returncode != 0 and res.stdout == b""


@pytest.mark.parametrize("argv0,name", [
    ("/usr/local/bin/secretsctl", "secretsctl"), ("/home/u/bin/sops", "sops"), ("sops", "sops"),
    ("/x/secretsctl/__main__.py", "secretsctl"), ("-c", "secretsctl"), ("", "secretsctl"),
    ("/tmp/my prog", "secretsctl")])
def test_invoked_name(argv0, name):
    assert invoked_name(argv0) == name
