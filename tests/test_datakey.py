"""Data key wrap/unwrap, decryption order, the exit-128 report, and interop
with the real sops binary and the known-answer vectors."""
from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secretsctl import datakey
from secretsctl.datakey import DataKeyUnavailable, KeyAttempt, parse_decryption_order
from secretsctl.errors import DataKeyError, ExitCode, IncorrectKeyError, KeySourceError, SecretsctlError
from secretsctl.keysources import KEY_TYPE_ORDER_IN_GROUP, AgeKey, PgpKey, key_from_tree
from secretsctl.keysources.base import KeyEnv
from secretsctl.tree import Branch, Item, from_python
from conftest import VECTORS, age_identity, age_recipient
from gpg_fixtures import VECTOR_PGP_FPR

DATA_KEY = bytes(range(32))
V_ID_1 = (VECTORS / "age-identity.txt").read_text()
V_ID_2 = (VECTORS / "age-identity-2.txt").read_text()


def secret_lines(text: str) -> list[str]:
    return [l.strip() for l in text.splitlines() if l.startswith("AGE-SECRET-KEY-")]


def assert_no_key_material(msg: str, *extra: str) -> None:
    for form in (DATA_KEY.hex(), DATA_KEY.hex().upper(), base64.b64encode(DATA_KEY).decode()):
        assert form not in msg
    for s in extra:
        assert s not in msg


# ------------------------------------------------------------------ helpers

def groups_from_sops(sops: dict) -> tuple[list[list], int]:
    """Key groups from a parsed ``sops`` mapping (flat lists win, §7.2)."""
    def group(mapping: dict) -> list:
        return [key_from_tree(t, from_python(e)) for t in KEY_TYPE_ORDER_IN_GROUP
                for e in (mapping.get(t) or [])]
    if any(sops.get(t) for t in KEY_TYPE_ORDER_IN_GROUP):
        return [group(sops)], int(sops.get("shamir_threshold") or 0)
    return [group(g) for g in sops["key_groups"]], int(sops.get("shamir_threshold") or 0)


def load_sops(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["sops"]


ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type:(\w+)\]$")


def decrypt_value(enc: str, key: bytes, aad: str) -> bytes:
    """Inline sops value decryption: AES-256-GCM, 32-byte IV, AAD = path + ':'."""
    data, iv, tag, _ = ENC_RE.match(enc).groups()
    return AESGCM(key).decrypt(base64.b64decode(iv), base64.b64decode(data) + base64.b64decode(tag),
                               aad.encode())


def env_of(**environ: str) -> KeyEnv:
    return KeyEnv(environ=dict(environ))


class FakeKey:
    """A scripted master key that records when it is asked to decrypt."""

    def __init__(self, type_id: str, name: str, log: list, payload: bytes | None = None,
                 error: Exception | None = None) -> None:
        self.type_id, self.name, self.log = type_id, name, log
        self.payload, self.error, self.enc = payload, error, ""

    def encrypt(self, data_key: bytes, env: KeyEnv) -> None:
        self.payload, self.enc = data_key, "wrapped"

    def decrypt(self, env: KeyEnv) -> bytes:
        self.log.append(self.name)
        if self.error is not None:
            raise self.error
        if self.payload is None:
            raise IncorrectKeyError(f"{self.name} has no access")
        return self.payload

    def to_tree(self) -> Branch:
        return Branch([Item("name", self.name)])

    def identifier(self) -> str:
        return self.name

    def created_at(self) -> str | None:
        return None


# --------------------------------------------------------------- unit tests

def test_generate():
    a, b = datakey.generate(), datakey.generate()
    assert len(a) == 32 and a != b
    assert datakey.generate(lambda n: bytes(n)) == bytes(32)


def test_wrap_single_group_wraps_full_key():
    log: list = []
    keys = [FakeKey("age", "a", log), FakeKey("pgp", "p", log)]
    datakey.wrap(DATA_KEY, [keys], 0, env_of())
    assert [k.payload for k in keys] == [DATA_KEY, DATA_KEY]
    assert datakey.unwrap([keys], 0, env_of()) == DATA_KEY


def test_wrap_groups_wrap_shares_and_threshold():
    log: list = []
    groups = [[FakeKey("age", f"g{i}", log)] for i in range(3)]
    datakey.wrap(DATA_KEY, groups, 2, env_of())
    shares = [g[0].payload for g in groups]
    assert [s[-1] for s in shares] == [1, 2, 3] and all(len(s) == 33 for s in shares)
    groups[1][0].payload = None  # one group lost: 2 of 3 still enough
    assert datakey.unwrap(groups, 2, env_of()) == DATA_KEY
    groups[2][0].payload = None
    with pytest.raises(DataKeyUnavailable) as exc:
        datakey.unwrap(groups, 2, env_of())
    assert exc.value.exit_code == 128
    assert "at least 2 groups" in exc.value.message.replace("\n", " ")


def test_threshold_zero_means_all_groups():
    log: list = []
    groups = [[FakeKey("age", f"g{i}", log)] for i in range(3)]
    datakey.wrap(DATA_KEY, groups, 0, env_of())
    assert datakey.unwrap(groups, 0, env_of()) == DATA_KEY
    groups[0][0].payload = None
    with pytest.raises(DataKeyUnavailable):
        datakey.unwrap(groups, 0, env_of())


def test_wrap_errors():
    with pytest.raises(KeySourceError):
        datakey.wrap(DATA_KEY, [], 0, env_of())
    log: list = []
    with pytest.raises(SecretsctlError):
        datakey.wrap(DATA_KEY, [[FakeKey("age", "a", log)], [FakeKey("age", "b", log)]], 3, env_of())


def test_decryption_order_default_and_custom():
    log: list = []
    group = [FakeKey("kms", "kms1", log), FakeKey("pgp", "pgp1", log),
             FakeKey("hc_vault", "vault1", log), FakeKey("age", "age1", log),
             FakeKey("age", "age2", log, payload=DATA_KEY)]
    assert datakey.unwrap([group], 0, env_of()) == DATA_KEY
    assert log == ["age1", "age2"]
    log.clear()
    group[4].payload = None
    group[2].payload = DATA_KEY
    assert datakey.unwrap([group], 0, env_of(), order=["pgp", "kms"]) == DATA_KEY
    assert log == ["pgp1", "kms1", "vault1"]


def test_all_groups_attempted():
    log: list = []
    groups = [[FakeKey("age", f"g{i}", log)] for i in range(3)]
    datakey.wrap(DATA_KEY, groups, 2, env_of())
    assert datakey.unwrap(groups, 2, env_of()) == DATA_KEY
    assert log == ["g0", "g1", "g2"]


def test_parse_decryption_order():
    assert parse_decryption_order("age, pgp,kms") == ["age", "pgp", "kms"]
    assert parse_decryption_order("") == []
    with pytest.raises(SecretsctlError) as exc:
        parse_decryption_order("age,pgp,age")
    assert exc.value.exit_code == ExitCode.DUPLICATE_DECRYPTION_KEY_TYPE == 112
    assert exc.value.message == "Duplicate decryption key type: age"


def test_report_shape_and_structure():
    log: list = []
    long_reason = "failed to create reader for decrypting sops data key with age: " * 3
    group = [FakeKey("age", "age1abc", log, error=IncorrectKeyError(long_reason)),
             FakeKey("pgp", "FPR1", log, error=KeySourceError("gpg exploded")),
             FakeKey("kms", "arn:k", log, error=IncorrectKeyError("AccessDenied"))]
    with pytest.raises(DataKeyError) as exc:
        datakey.unwrap([group], 0, env_of())
    err = exc.value
    assert isinstance(err, DataKeyUnavailable) and err.exit_code == 128
    lines = err.message.split("\n")
    assert lines[0] == "Failed to get the data key required to decrypt the SOPS file."
    assert lines[1] == "" and lines[2] == "Group 0: FAILED"
    assert lines[3] == "  age1abc: FAILED"
    assert lines[4].startswith("    - | failed to create reader")
    assert lines[5].startswith("      | ")
    assert all(len(l) <= 8 + 60 for l in lines if l.startswith("    "))
    assert "  FPR1: FAILED" in lines and "    - | gpg exploded" in lines
    assert "  arn:k: FAILED" in lines
    assert err.message.endswith(  # the trailer exactly as docs/format.md §12.9 shows it
        "\n\nRecovery failed because no master key was able to decrypt the file. In\n"
        "order for SOPS to recover the file, at least one key has to be successful,\n"
        "but none were.")
    assert all(len(l) <= 75 for l in lines[-3:])
    assert_no_key_material(err.message)
    assert err.attempts == [
        KeyAttempt(0, "age1abc", False, long_reason),
        KeyAttempt(0, "FPR1", False, "gpg exploded"),
        KeyAttempt(0, "arn:k", False, "AccessDenied"),
    ]


def test_a_bug_in_a_key_source_is_not_a_failed_line():
    """IncorrectKeyError/KeySourceError: this key failed, try the next; anything else is a bug."""
    log: list = []
    group = [FakeKey("kms", "arn:k", log, error=RuntimeError(DATA_KEY.hex())),
             FakeKey("age", "age1abc", log, payload=DATA_KEY)]
    with pytest.raises(RuntimeError):
        datakey.unwrap([group], 0, env_of(), order=["kms", "age"])


# -------------------------------------------------- real keys: our wrapping

def test_wrap_unwrap_real_age_and_pgp(pgp_home, tmp_path):
    home, fprs = pgp_home
    env = KeyEnv(environ={"HOME": str(tmp_path), "GNUPGHOME": home, "PATH": os.environ["PATH"]})
    groups = [[AgeKey(age_recipient(1)), PgpKey(fprs[0])], [AgeKey(age_recipient(2))]]
    datakey.wrap(DATA_KEY, groups, 2, env)
    # group 0 via PGP only (no age identity 1), group 1 via age identity 2
    env2 = KeyEnv(environ={**env.environ, "SOPS_AGE_KEY": age_identity(2)})
    assert datakey.unwrap(groups, 2, env2) == DATA_KEY


def test_wrong_age_identity_report(tmp_path):
    env = KeyEnv(environ={"HOME": str(tmp_path)})
    keys = [AgeKey(age_recipient(1)), AgeKey(age_recipient(2))]
    datakey.wrap(DATA_KEY, [keys], 0, env)
    bad = KeyEnv(environ={"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(3)})
    with pytest.raises(DataKeyError) as exc:
        datakey.unwrap([keys], 0, bad)
    msg = exc.value.message
    assert exc.value.exit_code == 128
    assert f"  {age_recipient(1)}: FAILED" in msg and f"  {age_recipient(2)}: FAILED" in msg
    assert "SOPS_AGE_KEY" in msg
    assert_no_key_material(msg, age_identity(1), age_identity(2), age_identity(3))
    assert [(a.group, a.key, a.ok) for a in exc.value.attempts] == [
        (0, age_recipient(1), False), (0, age_recipient(2), False)]


# ------------------------------------------------------------------ vectors

def test_vector_v1_age():
    groups, t = groups_from_sops(load_sops(VECTORS / "v1_basic.yaml"))
    env = KeyEnv(environ={"SOPS_AGE_KEY_FILE": str(VECTORS / "age-identity.txt")})
    assert datakey.unwrap(groups, t, env) == DATA_KEY


def test_vector_v7_shamir():
    groups, t = groups_from_sops(load_sops(VECTORS / "v7_shamir.yaml"))
    assert t == 2 and len(groups) == 2
    both = KeyEnv(environ={"SOPS_AGE_KEY_FILE": str(VECTORS / "age-identity.txt"),
                           "SOPS_AGE_KEY": V_ID_2})
    assert datakey.unwrap(groups, t, both) == DATA_KEY
    one = KeyEnv(environ={"SOPS_AGE_KEY_FILE": str(VECTORS / "age-identity.txt")})
    with pytest.raises(DataKeyError) as exc:
        datakey.unwrap(groups, t, one)
    msg = exc.value.message
    assert exc.value.exit_code == 128
    assert "Group 0: SUCCESS" in msg and "Group 1: FAILED" in msg
    assert_no_key_material(msg, *secret_lines(V_ID_1), *secret_lines(V_ID_2))
    assert "e2b974205cc6" not in msg  # no share bytes either


def test_vector_v8_pgp(pgp_home, tmp_path):
    groups, t = groups_from_sops(load_sops(VECTORS / "v8_pgp.yaml"))
    env = KeyEnv(environ={"HOME": str(tmp_path), "GNUPGHOME": pgp_home[0], "PATH": os.environ["PATH"]})
    assert datakey.unwrap(groups, t, env) == DATA_KEY


def test_vector_v8_without_secret_key(empty_gnupg_home, tmp_path):
    groups, t = groups_from_sops(load_sops(VECTORS / "v8_pgp.yaml"))
    env = KeyEnv(environ={"HOME": str(tmp_path), "GNUPGHOME": empty_gnupg_home,
                          "PATH": os.environ["PATH"]})
    with pytest.raises(DataKeyError) as exc:
        datakey.unwrap(groups, t, env)
    assert f"  {VECTOR_PGP_FPR}: FAILED" in exc.value.message


# ------------------------------------------------------ interop: real sops

@pytest.fixture
def sops_env(base_env, pgp_home):
    return {**base_env, "GNUPGHOME": pgp_home[0]}


def test_sops_encrypted_file_unwraps(sops, sops_env, tmp_path, pgp_home):
    plain = tmp_path / "s.yaml"
    plain.write_text("a: hello\n")
    r = sops(["encrypt", "--age", f"{age_recipient(1)},{age_recipient(2)}",
              "--pgp", pgp_home[1][0], str(plain)], env=sops_env)
    assert r.returncode == 0, r.stderr.decode()
    doc = yaml.safe_load(r.stdout)
    groups, t = groups_from_sops(doc["sops"])
    assert [k.type_id for k in groups[0]] == ["pgp", "age", "age"]
    assert [k.to_tree().keys() for k in groups[0]] == [
        ["created_at", "enc", "fp"], ["recipient", "enc"], ["recipient", "enc"]]
    # age identity 2 only; then PGP only (no age identities at all)
    for environ in ({"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(2)},
                    {"HOME": str(tmp_path), "GNUPGHOME": pgp_home[0], "PATH": os.environ["PATH"]}):
        key = datakey.unwrap(groups, t, KeyEnv(environ=environ))
        assert decrypt_value(doc["a"], key, "a:") == b"hello"


def test_sops_shamir_file_unwraps(sops, sops_env, tmp_path):
    conf = tmp_path / "sops-config.yaml"
    conf.write_text(yaml.safe_dump({"creation_rules": [{
        "shamir_threshold": 2,
        "key_groups": [{"age": [age_recipient(1)]}, {"age": [age_recipient(2)]},
                       {"age": [age_recipient(3)]}]}]}))
    plain = tmp_path / "s.yaml"
    plain.write_text("a: hello\n")
    r = sops(["--config", str(conf), "encrypt", str(plain)], env=sops_env)
    assert r.returncode == 0, r.stderr.decode()
    doc = yaml.safe_load(r.stdout)
    groups, t = groups_from_sops(doc["sops"])
    assert t == 2 and len(groups) == 3
    env = KeyEnv(environ={"HOME": str(tmp_path),
                          "SOPS_AGE_KEY": f"{age_identity(1)}\n{age_identity(3)}"})
    key = datakey.unwrap(groups, t, env)
    assert decrypt_value(doc["a"], key, "a:") == b"hello"


def _file_with_our_keys(tmp_path: Path, groups: list[list], threshold: int) -> Path:
    """v8's data (encrypted under key 00..1f) with a sops section we wrapped."""
    doc = yaml.safe_load((VECTORS / "v8_pgp.yaml").read_text())
    sops_meta = doc["sops"]
    for t in ("pgp", "age"):
        sops_meta.pop(t, None)

    def entries(group: list, type_id: str) -> list:
        return [{i.key: i.value for i in k.to_tree().items_()} for k in group if k.type_id == type_id]

    if len(groups) == 1:
        sops_meta["age"] = entries(groups[0], "age")
        sops_meta["pgp"] = entries(groups[0], "pgp")
    else:
        sops_meta["shamir_threshold"] = threshold
        sops_meta["key_groups"] = [{"pgp": entries(g, "pgp"), "age": entries(g, "age")} for g in groups]
    out = tmp_path / "ours.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


@pytest.mark.parametrize("shamir", [False, True])
def test_sops_decrypts_our_wrapping(sops, sops_env, tmp_path, pgp_home, shamir):
    env = KeyEnv(environ={"HOME": str(tmp_path), "GNUPGHOME": pgp_home[0], "PATH": os.environ["PATH"]})
    if shamir:
        groups = [[PgpKey(pgp_home[1][1])], [AgeKey(age_recipient(2))], [AgeKey(age_recipient(3))]]
    else:
        groups = [[AgeKey(age_recipient(2)), PgpKey(pgp_home[1][1])]]
    datakey.wrap(DATA_KEY, groups, 2, env)
    path = _file_with_our_keys(tmp_path, groups, 2)
    # sops env: base_env's age key 1 matches nothing; PGP + age identity 2 do
    r = sops(["decrypt", str(path)], env={**sops_env, "SOPS_AGE_KEY": age_identity(2)})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b'secret: wrapped for PGP\n"n": 1\n'
