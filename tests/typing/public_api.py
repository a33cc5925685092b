"""A user's code against the public API, type-checked with ``mypy --strict`` by scripts/lint.

Not a test module (pytest does not collect it): it proves that the typed
surface (``secretsctl.load``, ``loads``, ``edit``, ``decrypt_file``,
``encrypt_data``, the errors) gives a strict caller real types, not Any.
"""
from __future__ import annotations

import secretsctl
from secretsctl import api
from secretsctl.errors import DataKeyError, SecretsctlError


def rotate_password(path: str, new: str) -> int:
    """Returns sops's exit code, as a CLI wrapper would."""
    try:
        with secretsctl.edit(path) as data:
            if isinstance(data, dict):
                db = data.setdefault("db", {})
                if isinstance(db, dict):
                    db["password"] = new
    except DataKeyError as exc:
        return int(exc.exit_code)
    except SecretsctlError as exc:
        message: str = exc.user_message()
        return int(exc.exit_code) if message else 1
    return 0


def read(path: str, blob: bytes) -> tuple[secretsctl.PlainData, secretsctl.PlainData]:
    return secretsctl.load(path), secretsctl.loads(blob, format="yaml")


def low_level(path: str) -> bytes:
    dec: api.Decrypted = secretsctl.decrypt_file(path)
    runtime = api.Runtime(environ={"SOPS_AGE_KEY_FILE": "keys.txt"})
    options = api.EncryptOptions(key_groups=[[api.KeySpec("age", "age1example")]])
    out: bytes = secretsctl.encrypt_data(b"a: 1\n", filename="x.yaml", options=options, runtime=runtime)
    return out + api.emit_plain(dec)
