"""``secretsctl edit`` with real editor processes (small scripts set as $EDITOR).

Every test checks the file bytes and exit code, and that no temporary
plaintext is left behind in the temp root (``/dev/shm`` here).
"""
from __future__ import annotations

import difflib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from secretsctl import editor
from secretsctl.errors import EditorError

from conftest import KEYS, age_recipient, sops_encrypted

ROOT = editor.temp_root()
OPENED = "opened.log"  # every editor script appends the path it was given


@pytest.fixture(autouse=True)
def no_temp_left(tmp_path):
    """Every temp file an editor saw is gone with its directory afterwards.

    (Checked per path, not by listing /dev/shm: other test runs may be
    editing at the same moment.)
    """
    yield
    log = tmp_path / OPENED
    for path in (log.read_text().splitlines() if log.exists() else []):
        assert path.startswith(ROOT + "/" + editor.DIR_PREFIX)
        assert not os.path.exists(os.path.dirname(path)), "temp dir left behind"


def script(tmp_path: Path, name: str, body: str) -> str:
    """An editor: a Python script; gets the temp file path as its last argument."""
    path = tmp_path / f"{name}.py"
    path.write_text("import os, sys, json, subprocess, time\n"
                    "target = sys.argv[-1]\n"
                    f"open({str(tmp_path / OPENED)!r}, 'a').write(target + '\\n')\n"
                    "text = open(target).read()\n" + textwrap.dedent(body))
    return f"{sys.executable} {path}"


def encrypt_with_sops(sops, tmp_path: Path, name: str, plain: str) -> Path:
    return sops_encrypted(sops, tmp_path, name, plain)


def sops_plain(sops, path: Path) -> str:
    res = sops(["decrypt", str(path)])
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


FIFTY = "".join(f"key{n:02d}: value-{n:02d}\n" for n in range(50))


def test_edit_one_value_minimal_diff(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "big.yaml", FIFTY)
    before = target.read_bytes()
    seen = tmp_path / "seen.json"
    env = dict(base_env, EDITOR=script(tmp_path, "ed", f"""
        d = os.path.dirname(target)
        json.dump({{"path": target, "dmode": os.stat(d).st_mode & 0o777,
                   "fmode": os.stat(target).st_mode & 0o777}}, open({str(seen)!r}, "w"))
        open(target, "w").write(text.replace("key17: value-17", "key17: changed"))
    """))
    res = cli(["edit", str(target)], env=env)
    assert res.returncode == 0, res.stderr
    info = json.loads(seen.read_text())
    assert os.path.basename(info["path"]) == "big.yaml"
    assert info["path"].startswith(ROOT + "/")
    assert (info["dmode"], info["fmode"]) == (0o700, 0o600)
    assert not os.path.exists(os.path.dirname(info["path"]))
    old, new = before.decode().splitlines(), target.read_bytes().decode().splitlines()
    changed = [l for l in difflib.unified_diff(old, new, n=0, lineterm="")
               if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    names = sorted(l.split(":")[0].strip("+- ") for l in changed)
    # lastmodified has one-second resolution: within the second sops wrote
    # the file it may be unchanged; nothing else may differ.
    assert names in (["key17", "key17", "lastmodified", "lastmodified", "mac", "mac"],
                     ["key17", "key17", "mac", "mac"]), changed
    assert sops_plain(sops, target) == FIFTY.replace("key17: value-17", "key17: changed")


def test_unchanged_is_200_and_file_untouched(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    st, data = os.stat(target), target.read_bytes()
    res = cli(["edit", str(target)], env=dict(base_env, EDITOR=script(tmp_path, "noop", "pass\n")))
    assert res.returncode == 200
    assert b"File has not changed" in res.stderr
    assert target.read_bytes() == data and os.stat(target).st_mtime_ns == st.st_mtime_ns


def test_editor_failure_is_201_and_nothing_written(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    st, data = os.stat(target), target.read_bytes()
    env = dict(base_env, EDITOR=script(tmp_path, "fail", """
        open(target, "w").write("a: 2\\n")
        sys.exit(1)
    """))
    res = cli(["edit", str(target)], env=env)
    assert res.returncode == 201
    assert res.stderr.decode().strip().endswith("could not run editor: exit status 1")
    assert target.read_bytes() == data and os.stat(target).st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("signum,name", [(signal.SIGUSR1, "SIGUSR1"), (signal.SIGRTMIN + 1, None)])
def test_editor_killed_by_a_signal_is_201(cli, sops, base_env, tmp_path, signum, name):
    # Real-time signals have no signal.Signals member (this used to be an internal error).
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    data = target.read_bytes()
    env = dict(base_env, EDITOR=script(tmp_path, "killed", f"""
        open(target, "w").write("a: 2\\n")
        os.kill(os.getpid(), {int(signum)})
    """))
    res = cli(["edit", str(target)], env=env)
    assert res.returncode == 201 and target.read_bytes() == data
    assert res.stderr.decode().strip().endswith(f"could not run editor: killed by {name or f'signal {int(signum)}'}")


@pytest.mark.parametrize("bad,reason", [("a: [unclosed\n", "invalid"),
                                        ("a: 1\nsops: mine\n", "'sops'")])
def test_invalid_edit_without_tty_fails_without_writing(cli, sops, base_env, tmp_path, bad, reason):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    data = target.read_bytes()
    count = tmp_path / "count"
    env = dict(base_env, EDITOR=script(tmp_path, "bad", f"""
        open({str(count)!r}, "a").write("x")
        open(target, "w").write({bad!r})
    """))
    res = cli(["edit", str(target)], input=b"\n", env=env)
    assert res.returncode == 2, res.stderr
    assert reason in res.stderr.decode()
    assert len(res.stderr.decode().splitlines()) == 1
    assert count.read_text() == "x"  # not re-opened: stdin is not a terminal
    assert target.read_bytes() == data
    assert b"mine" not in res.stderr and b"unclosed" not in res.stderr


def _run_on_pty(argv: list[str], env: dict[str, str], answers: dict[bytes, object],
                timeout: float = 60) -> tuple[int, bytes]:
    """Run ``argv`` with a pty as stdin/stdout/stderr; answer prompts as they appear."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    out, answered, deadline = b"", set(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            out += chunk
            for prompt, answer in answers.items():
                if prompt not in answered and out.count(prompt) > 0:
                    answered.add(prompt)
                    if callable(answer):
                        answer(proc)
                    else:
                        os.write(master, answer)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), out


def test_invalid_then_valid_on_a_terminal(sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\nb: keep\n")
    count = tmp_path / "count"
    env = dict(base_env, EDITOR=script(tmp_path, "twice", f"""
        n = len(open({str(count)!r}).read()) if os.path.exists({str(count)!r}) else 0
        open({str(count)!r}, "a").write("x")
        if n == 0:
            open(target, "w").write("a: [unclosed\\n" + text)
        else:
            assert text.startswith("a: [unclosed"), "re-opened on other text"
            open(target, "w").write(text.replace("a: [unclosed\\n", "").replace("a: 1", "a: 2"))
    """))
    rc, out = _run_on_pty([sys.executable, "-m", "secretsctl", "edit", str(target)], env,
                          {b"Press Enter": b"\n"})
    assert rc == 0, out
    assert b"the edited file is invalid" in out
    assert count.read_text() == "xx"
    assert sops_plain(sops, target) == "a: 2\nb: keep\n"


def test_sigint_at_the_prompt_cleans_up(sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    data = target.read_bytes()
    env = dict(base_env, EDITOR=script(tmp_path, "bad", """
        open(target, "w").write("a: [unclosed\\n")
    """))
    rc, out = _run_on_pty([sys.executable, "-m", "secretsctl", "edit", str(target)], env,
                          {b"Press Enter": lambda proc: proc.send_signal(signal.SIGINT)})
    assert rc == 128 + signal.SIGINT, out
    assert b"interrupted by SIGINT" in out
    assert target.read_bytes() == data


def test_equal_values_in_a_list_keep_distinct_ciphertexts(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "l.yaml",
                               "pw:\n    - same\n    - same\n    - same\n    - same\n    - same\nother: x\n")
    before = [l for l in target.read_text().splitlines() if l.startswith("    - ENC[")]
    env = dict(base_env, EDITOR=script(tmp_path, "other", """
        open(target, "w").write(text.replace("other: x", "other: y"))
    """))
    assert cli(["edit", str(target)], env=env).returncode == 0
    after = [l for l in target.read_text().splitlines() if l.startswith("    - ENC[")]
    assert after == before and len(set(after)) == 5
    # Insert one in front: every "same" moved position, none may share an IV.
    env = dict(base_env, EDITOR=script(tmp_path, "shift", """
        open(target, "w").write(text.replace("pw:\\n", "pw:\\n    - same\\n"))
    """))
    assert cli(["edit", str(target)], env=env).returncode == 0
    after = [l for l in target.read_text().splitlines() if l.startswith("    - ENC[")]
    assert len(after) == 6 and len(set(after)) == 6
    assert len({l.split("iv:")[1] for l in after}) == 6
    assert sops_plain(sops, target).startswith("pw:\n" + "    - same\n" * 6)


def test_concurrent_change_is_kept_and_edit_saved_beside(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "prod.yaml", "token: old\nother: x\n")
    env = dict(base_env, EDITOR=script(tmp_path, "race", f"""
        r = subprocess.run([{sys.executable!r}, "-m", "secretsctl", "set", {str(target)!r},
                            '["other"]', '"from-set"'], capture_output=True)
        assert r.returncode == 0, r.stderr
        open(target, "w").write(text.replace("token: old", "token: mine"))
    """))
    res = cli(["edit", str(target)], env=env)
    assert res.returncode == 1, res.stderr
    assert sops_plain(sops, target) == "token: old\nother: from-set\n"
    siblings = list(tmp_path.glob("prod.conflict-*.yaml"))
    assert len(siblings) == 1
    assert str(siblings[0]) in res.stderr.decode()
    assert b"mine" not in siblings[0].read_bytes()  # encrypted, not plaintext
    assert sops_plain(sops, siblings[0]) == "token: mine\nother: x\n"
    assert len(res.stderr.decode().strip().splitlines()) == 1


def test_sigterm_while_editing_removes_temp_dir(base_env, sops, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    data = target.read_bytes()
    marker = tmp_path / "ready.json"
    env = dict(base_env, EDITOR=script(tmp_path, "sleepy", f"""
        json.dump({{"path": target, "pid": os.getpid()}}, open({str(marker)!r} + ".tmp", "w"))
        os.rename({str(marker)!r} + ".tmp", {str(marker)!r})
        time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, "-m", "secretsctl", "edit", str(target)], env=env,
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    info = json.loads(marker.read_text())
    assert os.path.exists(info["path"])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"interrupted by SIGTERM" in err
    assert not os.path.exists(os.path.dirname(info["path"]))
    assert not os.path.exists(f"/proc/{info['pid']}")  # the editor was stopped too
    assert target.read_bytes() == data


def test_new_file_with_age_flag(cli, sops, base_env, tmp_path):
    target = tmp_path / "new.yaml"
    seen = tmp_path / "seen.txt"
    env = dict(base_env, EDITOR=script(tmp_path, "new", f"""
        open({str(seen)!r}, "w").write(text)
        open(target, "w").write(text.replace("example_key: example_value", "example_key: mine"))
    """))
    res = cli(["edit", str(target), "--age", age_recipient(2)],
              env=dict(env, SOPS_AGE_KEY_FILE=str(KEYS / "age-test-2.txt")))
    assert res.returncode == 0, res.stderr
    assert seen.read_text().startswith("hello: Welcome to SOPS! Edit this file as you please!\n")
    assert os.stat(target).st_mode & 0o777 == 0o600
    env2 = dict(base_env, SOPS_AGE_KEY_FILE=str(KEYS / "age-test-2.txt"))
    plain = sops(["decrypt", str(target)], env=env2)
    assert plain.returncode == 0, plain.stderr
    assert b"example_key: mine\n" in plain.stdout and b"# Example comment\n" in plain.stdout


def test_new_file_unchanged_or_without_keys_creates_nothing(cli, base_env, tmp_path):
    target = tmp_path / "new.yaml"
    env = dict(base_env, EDITOR=script(tmp_path, "noop", "pass\n"))
    res = cli(["edit", str(target), "--age", age_recipient(1)], env=env)
    assert res.returncode == 200 and not target.exists()
    res = cli(["edit", str(target)], env=env, cwd=tmp_path)
    assert res.returncode == 1 and b"no master keys" in res.stderr and not target.exists()


def test_bare_file_argument_means_edit(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\n")
    env = dict(base_env, EDITOR=script(tmp_path, "ed", """
        open(target, "w").write(text.replace("a: 1", "a: 3"))
    """))
    assert cli([str(target)], env=env).returncode == 0
    assert sops_plain(sops, target) == "a: 3\n"
    res = cli(["decryt"], env=env, cwd=tmp_path)  # a typo is not a new file
    assert res.returncode == 1 and b"No such command" in res.stderr  # a usage error: 1, as sops


def test_show_master_keys_round_trip(cli, sops, base_env, tmp_path):
    target = encrypt_with_sops(sops, tmp_path, "s.yaml", "a: 1\nb: 2\n")
    before = target.read_text()
    enc_block = before[before.index("enc: |"):before.index("lastmodified")]
    env = dict(base_env, EDITOR=script(tmp_path, "keys", """
        assert "\\nsops:\\n" in text and "recipient:" in text
        open(target, "w").write(text.replace("a: 1", "a: 5"))
    """))
    res = cli(["edit", "-s", str(target)], env=env)
    assert res.returncode == 0, res.stderr
    after = target.read_text()
    assert enc_block in after  # the wrapped data key is kept byte for byte
    assert sops_plain(sops, target) == "a: 5\nb: 2\n"


# ------------------------------------------------------------- in-process units

def test_editor_resolution_order_and_vim_flags():
    assert editor.editor_command({"SOPS_EDITOR": "a -x", "EDITOR": "b", "VISUAL": "c"}) == ["a", "-x"]
    assert editor.editor_command({"EDITOR": "code --wait", "VISUAL": "c"}) == ["code", "--wait"]
    assert editor.editor_command({"VISUAL": "'my ed'"}) == ["my ed"]
    vim = editor.editor_command({"EDITOR": "/usr/bin/vim -p"})
    assert vim[:5] == ["/usr/bin/vim", "-n", "-i", "NONE", "--cmd"] and vim[-1] == "-p"
    assert vim[6] == "-c" and "viminfofile=NONE" in vim[7]
    assert "shadafile=NONE" in editor.editor_command({"EDITOR": "nvim"})[7]
    with pytest.raises(EditorError):
        editor.editor_command({"PATH": "/nonexistent"})


def test_temp_root_falls_back_when_shm_is_missing(tmp_path):
    assert editor.temp_root(str(tmp_path / "nope")) == __import__("tempfile").gettempdir()
    assert editor.temp_root(str(tmp_path)) == str(tmp_path)
