"""exec-env / exec-file / export end to end, against the real sops binary, bash and jq.

Every file is encrypted by the real sops 3.11 binary, so these tests also
check that what sops writes is what secretsctl hands to the child.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from conftest import age_recipient

JQ = "/usr/bin/jq"
BASH = "/bin/bash"

# Top-level scalars of every type sops's exec-env handles (no trailing newline
# in values: sops and makes both pass them through a shell or $(...)).
SCALARS_YAML = """\
s: "hé llo 🙂"
multi: "line1\\nline2 'q' \\"dq\\" $HOME `x` \\\\"
empty: ""
spaces: "  lead and trail  "
i: 42
neg: -7
big: 12345678901
f: 1.5
f1: 1.0
fe: 1.0e+20
fs: 0.0000001
t: true
b: false
n: null
d: 2024-01-02
ts: 2024-01-02T03:04:05.5+02:00
# a comment is not a variable
"""

TRICKY = {"Q1": "it's", "Q2": '"dq"', "ONLYQ": "'", "NL": "a\nb", "TRAILNL": "x\n\n",
          "DOLLAR": "$HOME ${HOME} $(touch pwned)", "BT": "`touch pwned`", "BS": "back\\slash\\",
          "BSQ": "\\'", "UNI": "é🙂\u2028中", "EMPTY": "", "SP": "  lead trail  ", "DASH": "-n",
          "DASH2": "--", "EQ": "a=b=c", "TAB": "\tx\t", "CR": "x\r\ny", "HASH": "# c",
          "BANG": "!!", "GLOB": "*", "PCT": "%s %0A"}


def _encrypt(sops, tmp_path: Path, name: str, text: str | bytes) -> Path:
    plain = tmp_path / name
    plain.write_bytes(text.encode() if isinstance(text, str) else text)
    out = sops(["encrypt", "--age", age_recipient(1), str(plain)])
    assert out.returncode == 0, out.stderr
    enc = tmp_path / ("enc." + name)
    enc.write_bytes(out.stdout)
    plain.unlink()
    return enc


def _env0(data: bytes) -> dict[bytes, bytes]:
    return dict(e.split(b"=", 1) for e in data.split(b"\0") if e)


def _py() -> list[str]:
    return [sys.executable, "-m", "secretsctl"]


# ---- exec-env against sops exec-env ----------------------------------------

@pytest.mark.parametrize("name,text", [
    ("scalars.yaml", SCALARS_YAML),
    ("nums.json", '{"a": 1, "b": 1.5, "c": 1e20, "n": null, "t": true, "s": "x\\ny"}'),
    ("vars.env", "A=x\nB=has spaces and 'quotes'\nC=multi\\nline\n"),
])
def test_exec_env_matches_sops(sops, cli, base_env, tmp_path, name, text) -> None:
    enc = _encrypt(sops, tmp_path, name, text)
    theirs = sops(["exec-env", str(enc), "env -0"], cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    sops_env = _env0(theirs.stdout)
    base = {k.encode(): v.encode() for k, v in base_env.items()}
    secret_names = set(sops_env) - set(base) - {b"PWD"}
    assert secret_names  # the file did produce variables

    # One-string form: the same /bin/sh -c, so the whole environment is identical.
    shell = cli(["exec-env", str(enc), "env -0"], cwd=tmp_path)
    assert shell.returncode == 0, shell.stderr
    assert _env0(shell.stdout) == sops_env

    # argv form: no shell in between.  Same secrets, and the rest is exactly our
    # environment (dash adds PWD for sops; env does not).
    direct = cli(["exec-env", str(enc), "--", "env", "-0"], cwd=tmp_path)
    assert direct.returncode == 0, direct.stderr
    ours = _env0(direct.stdout)
    assert {k: ours[k] for k in secret_names} == {k: sops_env[k] for k in secret_names}
    assert {k: v for k, v in ours.items() if k not in secret_names} == base
    assert set(sops_env) - set(ours) <= {b"PWD"}

    # --pristine: sops's child sees the secrets plus the PWD dash adds; ours exactly the secrets.
    p_sops = _env0(sops(["exec-env", "--pristine", str(enc), "env -0"], cwd=tmp_path).stdout)
    p_ours = _env0(cli(["exec-env", "--pristine", str(enc), "--", "env", "-0"], cwd=tmp_path).stdout)
    assert set(p_sops) - set(p_ours) == {b"PWD"}
    assert p_ours == {k: p_sops[k] for k in p_ours}
    assert _env0(cli(["exec-env", "--pristine", str(enc), "env -0"], cwd=tmp_path).stdout) == p_sops


def test_one_string_form_runs_through_sh_like_sops(sops, cli, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "a.yaml", "A: 'x y'\nB: '2'\n")
    cmd = 'echo "$A|$B"; echo $0; exit 3'
    ours, theirs = cli(["exec-env", str(enc), cmd]), sops(["exec-env", str(enc), cmd])
    assert ours.stdout == theirs.stdout == b"x y|2\n/bin/sh\n"
    assert ours.returncode == theirs.returncode == 3


def test_complex_top_level_value_is_an_error_naming_the_key(sops, cli, tmp_path) -> None:
    secret = "nested-secret-do-not-print"
    enc = _encrypt(sops, tmp_path, "c.yaml", f"ok: fine\ndb:\n  password: {secret}\n")
    ours = cli(["exec-env", str(enc), "--", "true"])
    theirs = sops(["exec-env", str(enc), "true"])
    assert ours.returncode == theirs.returncode == 1
    assert b"db" in ours.stderr and b"complex value" in ours.stderr
    assert secret.encode() not in ours.stderr + ours.stdout
    exported = cli(["export", str(enc)])
    assert exported.returncode == 1 and secret.encode() not in exported.stderr + exported.stdout


def test_exit_codes_propagate(sops, cli, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "a.yaml", "A: x\n")
    assert cli(["exec-env", str(enc), "--", "sh", "-c", "exit 7"]).returncode == 7
    assert cli(["exec-env", str(enc), "--", "sh", "-c", "kill -9 $$"]).returncode == 137
    # sops reports a signal death as 255 (Go's ExitCode() == -1); we follow the shell.
    assert sops(["exec-env", str(enc), "kill -9 $$"]).returncode == 255
    missing = cli(["exec-env", str(enc), "--", "no-such-program-xyz"])
    assert missing.returncode == 127 and b"no-such-program-xyz" in missing.stderr


def test_sigterm_is_forwarded_to_the_child(sops, base_env, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "a.yaml", "A: x\n")
    ready = tmp_path / "ready"
    script = ('trap "exit 42" TERM; echo "$A" > "$READY"; '
              'while :; do sleep 5 & wait $!; done')
    env = dict(base_env, READY=str(ready))
    # Own session, so the finally can remove every leftover (the loop's sleep) by group.
    proc = subprocess.Popen([*_py(), "exec-env", str(enc), "--", BASH, "-c", script], env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text() == "x\n"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 42
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def test_same_process_replaces_secretsctl(sops, base_env, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "a.yaml", "A: x\n")
    proc = subprocess.Popen([*_py(), "exec-env", "--same-process", "--pristine", str(enc), "--",
                             "sh", "-c", 'echo "$$ $A"'], env=base_env, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    assert out.decode() == f"{proc.pid} x\n"
    assert proc.returncode == 0


# ---- export -----------------------------------------------------------------

def _tricky_file(sops, tmp_path: Path) -> Path:
    return _encrypt(sops, tmp_path, "tricky.json", json.dumps(TRICKY))


def test_export_sh_eval_under_strict_bash_is_byte_exact(sops, base_env, tmp_path) -> None:
    enc = _tricky_file(sops, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    script = f"""
set -euo pipefail
cd "$WORK"
eval "$("$@" export "$FILE")"
for n in {' '.join(TRICKY)}; do printf '%s' "${{!n}}" > "$OUT/$n"; done
bash -c 'printf "%s" "$UNI"' > "$OUT/child_UNI"   # exported, not just set
"""
    env = dict(base_env, FILE=str(enc), OUT=str(out), WORK=str(tmp_path))
    proc = subprocess.run([BASH, "-c", script, "bash", *_py()], env=env, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name, value in TRICKY.items():
        assert (out / name).read_bytes() == value.encode(), name
    assert (out / "child_UNI").read_bytes() == TRICKY["UNI"].encode()
    assert not (tmp_path / "pwned").exists()


def test_export_dotenv_reads_back_byte_exact(sops, cli, tmp_path) -> None:
    enc = _tricky_file(sops, tmp_path)
    proc = cli(["export", "--format", "dotenv", str(enc)])
    assert proc.returncode == 0, proc.stderr
    assert dict(dotenv_values(stream=io.StringIO(proc.stdout.decode(), newline=""),
                              interpolate=False)) == TRICKY


def test_export_json_github_gitlab(sops, cli, base_env, tmp_path) -> None:
    enc = _tricky_file(sops, tmp_path)
    assert json.loads(cli(["export", "--format", "json", str(enc)]).stdout) == TRICKY

    ghenv = tmp_path / "github_env"
    ghenv.write_text("EXISTING=1\n")
    gh = cli(["export", "--format", "github", str(enc)], env=dict(base_env, GITHUB_ENV=str(ghenv)))
    assert gh.returncode == 0, gh.stderr
    masks = gh.stdout.decode().split("\n")[:-1]  # (splitlines would split at U+2028)
    assert all(m.startswith("::add-mask::") for m in masks)
    assert "::add-mask::a" in masks and "::add-mask::b" in masks  # one per line of NL
    assert "::add-mask::%25s %250A" in masks
    from test_execenv import _runner_env_file
    assert _runner_env_file(ghenv.read_bytes().decode()) == dict(EXISTING="1", **TRICKY)
    no_env = cli(["export", "--format", "github", str(enc)])
    assert no_env.returncode != 0 and b"GITHUB_ENV" in no_env.stderr

    gl = cli(["export", "--format", "gitlab", str(enc)])
    assert gl.returncode != 0 and b"NL" in gl.stderr and b"multi-line" in gl.stderr
    assert gl.stdout == b"" and b"touch" not in gl.stderr
    ok = cli(["export", "--format", "gitlab", "--vars", "Q1,Q2,EQ,DOLLAR", str(enc)])
    assert ok.stdout.decode() == f"Q1=it's\nQ2=\"dq\"\nEQ=a=b=c\nDOLLAR={TRICKY['DOLLAR']}\n"


# ---- makes equivalence --------------------------------------------------------

NESTED_YAML = """\
top: plain
spaced: " a  b "
quoted: "it's \\"q\\" $HOME `x` \\\\"
uni: "é🙂"
multi: "l1\\nl2"
count: 42
ratio: 3.25
flag: false
yes_flag: true
nothing: null
db:
  user: admin
  password: "p@ss word'\\""
  port: 5432
  opts: {ssl: true, modes: [a, b]}
list: [x, {k: v}, 3]
"""
MAKES_VARS = ["top", "spaced", "quoted", "uni", "multi", "count", "ratio", "flag", "yes_flag",
              "nothing", "db", "db.user", "db.password", "db.port", "db.opts", "db.opts.ssl",
              "db.opts.modes", "list"]

MAKES_LOOP = r"""
set -euo pipefail
decrypted="$(sops -d --output-type json "$FILE")"
for var in "$@"; do
  export "${var//./__}=$(echo "$decrypted" | jq -erc ".${var}")"
done
for var in "$@"; do n="${var//./__}"; printf '%s' "${!n}" > "$OUT/$n"; done
"""

OURS_LOOP = r"""
set -euo pipefail
exports="$(secretsctl export --format sh --vars "$VARS" $EXTRA "$FILE")"
eval "$exports"
for var in "$@"; do n="${var//./__}"; printf '%s' "${!n}" > "$OUT/$n"; done
"""


def _bash(script: str, env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, "-c", script, "bash", *args], env=env, capture_output=True,
                          timeout=120)


def _dump(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir()}


@pytest.mark.parametrize("extra,vars_", [("", MAKES_VARS),
                                         ("--missing=null", MAKES_VARS + ["nope", "db.nope"])])
def test_makes_equivalence(sops, sops_bin, base_env, tmp_path, extra, vars_) -> None:
    assert Path(JQ).exists(), "jq is required (scripts/setup installs it)"
    enc = _encrypt(sops, tmp_path, "nested.yaml", NESTED_YAML)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sops").symlink_to(sops_bin)
    (bindir / "secretsctl").write_text(f'#!/bin/sh\nexec {sys.executable} -m secretsctl "$@"\n')
    (bindir / "secretsctl").chmod(0o755)
    env = dict(base_env, FILE=str(enc), VARS=",".join(vars_), EXTRA=extra,
               PATH=f"{bindir}:{base_env['PATH']}")
    results = []
    for script in (MAKES_LOOP, OURS_LOOP):
        out = tmp_path / f"out{len(results)}"
        out.mkdir()
        proc = _bash(script, dict(env, OUT=str(out)), vars_)
        assert proc.returncode == 0, proc.stderr
        results.append(_dump(out))
    makes, ours = results
    assert set(makes) == {v.replace(".", "__") for v in vars_}
    assert ours == makes
    assert makes["db__opts"] == b'{"ssl":true,"modes":["a","b"]}' and makes["flag"] == b"false"


def test_missing_var_fails_naming_the_path(sops, cli, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "nested.yaml", NESTED_YAML)
    proc = cli(["export", "--vars", "top,db.nope", str(enc)])
    assert proc.returncode != 0 and proc.stdout == b""
    assert b"db.nope" in proc.stderr and b"does not exist" in proc.stderr
    run = cli(["exec-env", "--vars", "db.nope", str(enc), "--", "true"])
    assert run.returncode != 0 and b"db.nope" in run.stderr


def test_vars_flatten_prefix_through_exec_env(sops, cli, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "nested.yaml", NESTED_YAML)
    proc = cli(["exec-env", "--pristine", "--vars", "db", "--vars", "list.1.k", "--flatten",
                "--prefix", "APP_", str(enc), "--", "env", "-0"])
    assert proc.returncode == 0, proc.stderr
    assert _env0(proc.stdout) == {
        b"APP_db__user": b"admin", b"APP_db__password": b"p@ss word'\"", b"APP_db__port": b"5432",
        b"APP_db__opts__ssl": b"true", b"APP_db__opts__modes__0": b"a",
        b"APP_db__opts__modes__1": b"b", b"APP_list__1__k": b"v"}


# ---- exec-file ----------------------------------------------------------------

def _private_tmp(base_env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    return dict(base_env, TMPDIR=str(tmpdir)), tmpdir


def test_exec_file_fifo_leaves_nothing(sops, cli, base_env, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "nested.yaml", NESTED_YAML)
    env, tmpdir = _private_tmp(base_env, tmp_path)
    got, where = tmp_path / "got", tmp_path / "where"
    script = ('test -p "$1" || exit 9; [ "$(stat -c %a "$(dirname "$1")")" = 700 ] || exit 10; '
              f'cat "$1" > {got}; printf %s "$1" > {where}')
    proc = cli(["exec-file", str(enc), "--", "sh", "-c", script, "sh", "{}"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert got.read_bytes() == sops(["decrypt", str(enc)]).stdout
    path = Path(where.read_text())
    assert path.name == "tmp-file" and path.parent.parent == tmpdir
    assert not path.parent.exists() and list(tmpdir.iterdir()) == []

    # A child that never opens the FIFO must not hang secretsctl or leave the directory.
    assert cli(["exec-file", str(enc), "--", "true"], env=env).returncode == 0
    assert list(tmpdir.iterdir()) == []


def test_exec_file_no_fifo_and_sops_form(sops, cli, base_env, tmp_path) -> None:
    enc = _encrypt(sops, tmp_path, "nested.yaml", NESTED_YAML)
    env, tmpdir = _private_tmp(base_env, tmp_path)
    cmd = 'test -f {} && stat -c %a {} && cat {} && cat {} >/dev/null && exit 5'
    ours = cli(["exec-file", "--no-fifo", "--filename", "my.json", "--output-type", "json",
                str(enc), cmd], env=env)
    theirs = sops(["exec-file", "--no-fifo", "--filename", "my.json", "--output-type", "json",
                   str(enc), cmd])
    assert ours.returncode == theirs.returncode == 5
    assert ours.stdout == theirs.stdout and ours.stdout.startswith(b"600\n{")
    assert list(tmpdir.iterdir()) == []
    fifo = cli(["exec-file", str(enc), "cat {}"], env=env)
    assert fifo.stdout == sops(["exec-file", str(enc), "cat {}"]).stdout
    assert list(tmpdir.iterdir()) == []


def test_data_key_unwrapped_once(sops, cli, base_env, gnupg_home, tmp_path) -> None:
    """One invocation decrypts the data key once: count gpg decryptions through SOPS_GPG_EXEC."""
    from conftest import pgp_fpr
    log = tmp_path / "gpg.log"
    wrapper = tmp_path / "gpg-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec gpg "$@"\n')
    wrapper.chmod(0o755)
    env = dict(base_env, GNUPGHOME=gnupg_home, SOPS_GPG_EXEC=str(wrapper))
    env.pop("SOPS_AGE_KEY_FILE")
    plain = tmp_path / "p.yaml"
    plain.write_text("A: x\nB: y\n")
    enc = tmp_path / "e.yaml"
    enc.write_bytes(sops(["encrypt", "--pgp", pgp_fpr(1), str(plain)], env=env).stdout)
    for args in (["exec-env", str(enc), "--", "true"], ["export", str(enc)],
                 ["exec-file", str(enc), "--", "cat", "{}"]):
        log.write_text("")
        proc = cli(args, env=env)
        assert proc.returncode == 0, proc.stderr
        assert sum("--decrypt" in line for line in log.read_text().splitlines()) == 1, args


CHILD_COUNTING_SIGNALS = r"""
import os, signal, sys
sigs = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
open(os.environ["READY"], "w").close()
codes = []
while True:
    info = signal.sigwaitinfo(sigs)
    if info.si_signo == signal.SIGTERM:
        sys.exit(len(codes))
    codes.append(info.si_code)
    with open(os.environ["LOG"], "w") as fh:
        fh.write(" ".join(map(str, codes)))
"""


def test_terminal_ctrl_c_reaches_the_child_and_secretsctl_waits(sops, base_env, tmp_path) -> None:
    """Ctrl-C on a terminal: the tty driver signals the whole foreground group.

    The child sees the kernel's SIGINT (si_code SI_KERNEL, the case
    runner._should_forward leaves alone so it is not delivered twice),
    secretsctl survives it and keeps waiting; a SIGTERM sent to secretsctl
    afterwards is forwarded and the child exits with its SIGINT count.
    """
    import pty
    enc = _encrypt(sops, tmp_path, "a.yaml", "A: x\n")
    ready, log = tmp_path / "ready", tmp_path / "ints"
    env = dict(base_env, READY=str(ready), LOG=str(log))
    argv = [*_py(), "exec-env", str(enc), "--", sys.executable, "-c", CHILD_COUNTING_SIGNALS]
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.execve(sys.executable, argv, env)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.write(master, b"\x03")
        while not log.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert log.read_text() == "128"  # one SIGINT, from the kernel (SI_KERNEL = 0x80)
        assert os.waitstatus_to_exitcode(status) == 1
    finally:
        os.close(master)
        try:
            os.killpg(pid, signal.SIGKILL)  # pty.fork made a new session: clean up leftovers
        except ProcessLookupError:
            pass
