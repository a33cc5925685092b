"""The hooks in .pre-commit-hooks.yaml, run by pre-commit itself on a temporary repository.

The temporary repository's ``.pre-commit-config.yaml`` holds our hook
definitions as they are in .pre-commit-hooks.yaml, as ``repo: local`` hooks
whose environment pip-installs this working tree: pre-commit builds that
environment once per test session (``try-repo`` would build one per call,
a minute each) and runs each hook on the repository's files.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, age_recipient

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


@pytest.fixture(scope="session")
def hook_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def _config() -> str:
    from ruamel.yaml import YAML
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    for h in hooks:
        h["additional_dependencies"] = [str(ROOT)]
    import json
    return json.dumps({"repos": [{"repo": "local", "hooks": hooks}]})   # JSON is YAML


@pytest.fixture
def repo(tmp_path, base_env, hook_home):
    env = {**base_env, "PRE_COMMIT_HOME": str(hook_home),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    r = tmp_path / "r"
    r.mkdir()
    subprocess.run(["git", "init", "-q", str(r)], check=True, env=env)
    (r / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: ^prod/\n    age: {age_recipient(1)}\n")
    (r / "prod").mkdir()
    (r / ".pre-commit-config.yaml").write_text(_config())
    return r, env


def hook(repo: Path, env: dict[str, str], hook_id: str) -> subprocess.CompletedProcess:
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    return subprocess.run([str(PRE_COMMIT), "run", hook_id, "--all-files"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=600)


def test_hooks_on_a_temporary_repository(repo, cli):
    r, env = repo
    secret = r / "prod" / "db.yaml"
    secret.write_text("password: plain-secret\n")
    (r / "notes.yaml").write_text("a: 1\n")
    res = hook(r, env, "secretsctl-check-encrypted")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL prod/db.yaml: not encrypted" in res.stdout and "notes.yaml" not in res.stdout
    assert "plain-secret" not in res.stdout
    assert cli(["encrypt", "-i", str(secret)], env=env, cwd=r).returncode == 0
    res = hook(r, env, "secretsctl-check-encrypted")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hook(r, env, "secretsctl-validate").returncode == 0
    # A tampered value: validate fails, naming the file, not the value.
    secret.write_text(secret.read_text().replace("password: ENC[AES256_GCM,data:", "password: ENC[AES256_GCM,data:AA"))
    res = hook(r, env, "secretsctl-validate")
    assert res.returncode != 0 and "FAIL prod/db.yaml" in res.stdout, res.stdout + res.stderr


def test_pre_commit_is_installed():
    assert PRE_COMMIT.exists() and shutil.which("git")
