"""Helpers shared by the key-management tests (rotate, updatekeys, groups)."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from conftest import age_identity, age_recipient
from secretsctl import api

PLAIN = (b"# comment\ndb:\n    user: admin\n    password: hunter2\napi_key: s3cr3t\n"
         b"ports:\n    - 1\n    - 2\nratio: 0.5\nenabled: true\npublic_unencrypted: hello\n")
ENC_RE = re.compile(rb"ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type:\w+\]")


def sha(p: Path) -> str:
    """SHA-256 of a file's bytes: "not touched" checks."""
    return hashlib.sha256(p.read_bytes()).hexdigest()


def ok(proc: subprocess.CompletedProcess) -> bytes:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def age_env(env: dict[str, str], *numbers: int) -> dict[str, str]:
    """``env`` whose only age identities are test keys ``numbers`` (none: no age key)."""
    out = {k: v for k, v in env.items() if not k.startswith("SOPS_AGE_KEY")}
    if numbers:
        out["SOPS_AGE_KEY"] = "\n".join(age_identity(n) for n in numbers)
    return out


def no_keys_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """No age identity and an empty GNUPGHOME: only KMS (if configured) can work."""
    home = tmp_path / "empty-gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    return {**age_env(env), "GNUPGHOME": str(home)}


def runtime(env: dict[str, str]) -> api.Runtime:
    return api.Runtime(environ=dict(env), config_path=os.devnull)


def data_key(path: Path, env: dict[str, str]) -> bytes:
    return api.decrypt_file(str(path), runtime=runtime(env)).data_key


def plaintext(path: Path, env: dict[str, str]) -> bytes:
    return api.emit_plain(api.decrypt_file(str(path), runtime=runtime(env)))


def encrypt_lib(plain: bytes, name: str, env: dict[str, str], groups: list[list[api.KeySpec]],
                threshold: int | None = None) -> bytes:
    """Encrypt in-process (fast: no interpreter start per file)."""
    return api.encrypt_data(plain, filename=name, runtime=runtime(env),
                            options=api.EncryptOptions(key_groups=groups, shamir_threshold=threshold))


def assert_rotated(before: bytes, after: bytes) -> None:
    """Every value's ciphertext changed, every IV is the one it had (docs/format.md §3.5)."""
    old, new = ENC_RE.findall(before), ENC_RE.findall(after)
    assert len(old) == len(new) > 0
    # The MAC (last ENC of a YAML file is in the metadata) gets a new IV with the new lastmodified.
    for (d0, iv0, t0), (d1, iv1, t1) in zip(old[:-1], new[:-1]):
        assert iv0 == iv1
        assert (d0, t0) != (d1, t1)


def shamir_file(tmp_path: Path, sops, env: dict[str, str]) -> Path:
    """``s.yaml`` (PLAIN) encrypted by sops for 3 age groups, threshold 2, via .sops.yaml."""
    cfg = tmp_path / ".sops.yaml"
    cfg.write_text("creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
                   + "".join(f"      - age: ['{age_recipient(n)}']\n" for n in (1, 2, 3)))
    f = tmp_path / "s.yaml"
    f.write_bytes(PLAIN)
    ok(sops(["encrypt", "-i", str(f)], env=env, cwd=tmp_path))
    return f
