"""git diff and merge of sops files, in real git repositories with real merges.

The repository is set up by ``secretsctl git setup``; the merged files are
checked with the sops binary.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import age_recipient

R1 = age_recipient(1)
BASE = "db:\n    host: db.internal\n    password: base-pw\napi:\n    token: t0\n# a comment\nport: 5432\n"


def git(repo: Path, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr + res.stdout
    return res


@pytest.fixture
def repo(tmp_path, base_env, cli):
    env = {**base_env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main", env=env)
    (r / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {R1}\n")
    (r / "secrets").mkdir()
    (r / "secrets" / "app.yaml").write_text(BASE)
    (r / "README").write_text("not a secret\n")
    assert cli(["encrypt", "-i", str(r / "secrets" / "app.yaml")], env=env, cwd=r).returncode == 0
    res = cli(["git", "setup", "--repo", str(r)], env=env, cwd=r)
    assert res.returncode == 0, res.stderr
    assert (r / ".gitattributes").read_text().count("diff=secretsctl merge=secretsctl") == 1
    assert "/secrets/app.yaml" in (r / ".gitattributes").read_text()
    git(r, "add", "-A", env=env)
    git(r, "commit", "-qm", "base", env=env)
    return r, env


def _set(cli, repo, env, path: str, value: str) -> None:
    res = cli(["set", str(repo / "secrets" / "app.yaml"), path, value], env=env, cwd=repo)
    assert res.returncode == 0, res.stderr


def _branch(cli, repo, env, name: str, changes: list[tuple[str, str]], rotate: bool = False) -> None:
    git(repo, "checkout", "-q", "-b", name, "main", env=env)
    if rotate:
        assert cli(["rotate", "-i", str(repo / "secrets" / "app.yaml")], env=env, cwd=repo).returncode == 0
    for path, value in changes:
        _set(cli, repo, env, path, value)
    git(repo, "commit", "-qam", name, env=env)


def _plain(sops, repo, env) -> str:
    res = sops(["decrypt", str(repo / "secrets" / "app.yaml")], env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


@pytest.mark.parametrize("rotate", [False, True], ids=["same-key", "theirs-rotated"])
def test_different_keys_merge_cleanly(rotate, repo, cli, sops):
    r, env = repo
    _branch(cli, r, env, "a", [('["db"]["password"]', '"pw-from-a"')])
    _branch(cli, r, env, "b", [('["api"]["token"]', '"t-from-b"'), ('["new"]', "1")], rotate=rotate)
    git(r, "checkout", "-q", "a", env=env)
    before = (r / "secrets" / "app.yaml").read_text().splitlines()
    res = git(r, "merge", "-q", "--no-edit", "b", env=env, check=False)
    assert res.returncode == 0, res.stderr + res.stdout
    assert _plain(sops, r, env) == BASE.replace("base-pw", "pw-from-a").replace(
        "token: t0", "token: t-from-b").replace("port: 5432\n", "port: 5432\nnew: 1\n")
    after = (r / "secrets" / "app.yaml").read_text().splitlines()
    # ours' data key: the values ours did not change keep their ciphertext lines.
    kept = [line for line in before if "host:" in line or "port:" in line or "password:" in line]
    assert all(line in after for line in kept)


def test_same_key_changed_on_both_sides_conflicts_by_path(repo, cli, sops):
    r, env = repo
    _branch(cli, r, env, "a", [('["db"]["password"]', '"secret-a"')])
    _branch(cli, r, env, "b", [('["db"]["password"]', '"secret-b"'), ('["api"]["token"]', '"t2"')])
    git(r, "checkout", "-q", "a", env=env)
    ours = (r / "secrets" / "app.yaml").read_bytes()
    res = git(r, "merge", "--no-edit", "b", env=env, check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "CONFLICT" in out
    assert '["db"]["password"]' in out and "secret-a" not in out and "secret-b" not in out
    assert (r / "secrets" / "app.yaml").read_bytes() == ours   # ours' file, valid
    assert "secret-a" in _plain(sops, r, env)


def test_git_diff_shows_only_the_changed_value(repo, cli):
    r, env = repo
    _set(cli, r, env, '["db"]["password"]', '"changed-pw"')
    res = git(r, "diff", env=env)
    assert '@@ ["db"]["password"] @@\n-"base-pw"\n+"changed-pw"\n' in res.stdout
    for unchanged in ("db.internal", "t0", "5432"):
        assert unchanged not in res.stdout
    assert "ENC[" not in res.stdout and "mac" not in res.stdout
    shown = git(r, "diff", env={**env, "SECRETSCTL_DIFF_SHOW_UNCHANGED": "1"}).stdout
    assert "db.internal" in shown   # asked for: unchanged values too


def test_setup_is_idempotent_and_keeps_other_attributes(repo, cli):
    r, env = repo
    (r / ".gitattributes").write_text((r / ".gitattributes").read_text() + "*.png binary\n")
    for _ in range(2):
        assert cli(["git", "setup", "--repo", str(r)], env=env, cwd=r).returncode == 0
    text = (r / ".gitattributes").read_text()
    assert text.count("# BEGIN secretsctl") == 1 and "*.png binary" in text
    assert "README" not in text


def test_merge_driver_alone_on_files(tmp_path, base_env, sops):
    """The driver without git: a conflict exits 1 and writes nothing."""
    plain = tmp_path / "p.yaml"
    plain.write_text("a: 1\nb: 2\n")
    base = tmp_path / "base.yaml"
    base.write_bytes(sops(["encrypt", "--age", R1, str(plain)]).stdout)
    sides = {}
    for name, text in (("ours", "a: 10\nb: 2\n"), ("theirs", "a: 20\nb: 2\n")):
        plain.write_text(text)
        sides[name] = tmp_path / f"{name}.yaml"
        sides[name].write_bytes(sops(["encrypt", "--age", R1, str(plain)]).stdout)
    ours_bytes = sides["ours"].read_bytes()
    res = subprocess.run([sys.executable, "-m", "secretsctl", "git", "merge-driver", str(base),
                          str(sides["ours"]), str(sides["theirs"]), "x.yaml"], env=base_env,
                         capture_output=True)
    assert res.returncode == 1 and b'["a"]' in res.stderr and b"10" not in res.stderr
    assert sides["ours"].read_bytes() == ours_bytes
