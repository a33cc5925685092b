"""Key sources (age, PGP, opaque types) and the registry.

``KeySourceContract`` is the keyring-style contract every key type's test
class subclasses: it only needs fixtures for a key, an environment that can
unwrap it and one that cannot.  Age and PGP run for real (pyrage, gpg).
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from secretsctl.errors import IncorrectKeyError, KeySourceError
from secretsctl import keytypes
from secretsctl.keysources import (
    DEFAULT_DECRYPTION_ORDER, KEY_TYPE_ORDER_IN_GROUP, AgeKey, OpaqueKey, PgpKey,
    key_class, key_from_tree, keys_from_string, sort_for_decryption,
)
from secretsctl.keysources.age import load_identities, parse_recipient
from secretsctl.keysources.base import KeyEnv
from secretsctl.tree import Branch, Item, bytes_to_str, from_python
from conftest import KEYS, age_identity, age_recipient, pgp_fpr

DATA_KEY = bytes(range(32))
FIXED_NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def fixed_env(environ: dict[str, str]) -> KeyEnv:
    return KeyEnv(environ=environ, now=lambda: FIXED_NOW)


def assert_no_secret(text: str, *secrets: str | bytes) -> None:
    for s in secrets:
        if isinstance(s, bytes):
            for form in (s.hex(), s.hex().upper(), base64.b64encode(s).decode()):
                assert form not in text
        else:
            assert s not in text


class KeySourceContract:
    """Behaviour every master key type must have.

    Subclasses provide fixtures ``key`` (a fresh key), ``env`` (can unwrap
    it), ``foreign_env`` (cannot), and the class attributes below.
    """

    type_id: str = ""
    entry_keys: list[str] = []
    can_wrap: bool = True
    secrets_in_env: tuple[str, ...] = ()

    def test_registered(self, key):
        assert key.type_id == self.type_id
        assert isinstance(key, key_class(self.type_id))

    def test_identifier(self, key):
        assert key.identifier()

    def test_roundtrip_data_key_and_share(self, key, env):
        if not self.can_wrap:
            with pytest.raises(KeySourceError):
                key.encrypt(DATA_KEY, env)
            return
        for payload in (DATA_KEY, DATA_KEY + b"\x01"):  # 32-byte key and 33-byte share
            key.encrypt(payload, env)
            assert key.enc
            assert key.decrypt(env) == payload

    def test_tree_order_and_reload(self, key, env):
        if self.can_wrap:
            key.encrypt(DATA_KEY, env)
        tree = key.to_tree()
        assert isinstance(tree, Branch)
        assert tree.keys() == self.entry_keys
        assert all(isinstance(i.value, (str, Branch)) for i in tree.items_())
        again = key_from_tree(self.type_id, tree)
        assert again.to_tree() == tree
        assert again.identifier() == key.identifier()
        if self.can_wrap:
            assert again.decrypt(env) == DATA_KEY

    def test_foreign_env_is_incorrect_key(self, key, env, foreign_env):
        if self.can_wrap:
            key.encrypt(DATA_KEY, env)
        with pytest.raises(IncorrectKeyError) as exc:
            key.decrypt(foreign_env)
        assert_no_secret(exc.value.message, DATA_KEY, *self.secrets_in_env)

    def test_encryption_is_randomised(self, key, env):
        if not self.can_wrap:
            return
        key.encrypt(DATA_KEY, env)
        first = key.enc
        key.encrypt(DATA_KEY, env)
        assert key.enc != first
        assert_no_secret(key.enc, DATA_KEY)


# --------------------------------------------------------------------- age

class TestAgeKey(KeySourceContract):
    type_id = "age"
    entry_keys = ["recipient", "enc"]
    secrets_in_env = (age_identity(1), age_identity(2))

    @pytest.fixture
    def key(self):
        return AgeKey(age_recipient(1))

    @pytest.fixture
    def env(self, tmp_path):
        return fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(1)})

    @pytest.fixture
    def foreign_env(self, tmp_path):
        return fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(2)})

    def test_enc_is_armored_like_sops(self, key, env):
        key.encrypt(DATA_KEY, env)
        lines = key.enc.split("\n")
        assert key.enc.endswith("-----END AGE ENCRYPTED FILE-----\n")
        assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
        body = lines[1:-2]
        assert all(len(l) == 64 for l in body[:-1]) and 0 < len(body[-1]) <= 64
        assert key.created_at() is None

    def test_binary_enc_decrypts(self, key, env):
        key.encrypt(DATA_KEY, env)
        body = "".join(key.enc.strip().split("\n")[1:-1])
        key.enc = bytes_to_str(base64.b64decode(body))  # raw (unarmored) age file
        assert key.decrypt(env) == DATA_KEY

    def test_key_file_and_xdg_and_home_config(self, tmp_path):
        home = tmp_path / "h"
        conf = home / ".config" / "sops" / "age"
        conf.mkdir(parents=True)
        shutil.copy(KEYS / "age-test-2.txt", conf / "keys.txt")
        xdg = tmp_path / "xdg" / "sops" / "age"
        xdg.mkdir(parents=True)
        shutil.copy(KEYS / "age-test-3.txt", xdg / "keys.txt")
        keys = {n: AgeKey(age_recipient(n)) for n in (1, 2, 3)}
        enc_env = fixed_env({})
        for k in keys.values():
            k.encrypt(DATA_KEY, enc_env)
        # SOPS_AGE_KEY_FILE + ~/.config (no XDG): keys 1 and 2, not 3
        env = fixed_env({"HOME": str(home), "SOPS_AGE_KEY_FILE": str(KEYS / "age-test-1.txt")})
        assert keys[1].decrypt(env) == DATA_KEY
        assert keys[2].decrypt(env) == DATA_KEY
        with pytest.raises(IncorrectKeyError) as exc:
            keys[3].decrypt(env)
        assert "SOPS_AGE_KEY_FILE" in exc.value.message
        assert str(conf / "keys.txt") in exc.value.message
        assert_no_secret(exc.value.message, age_identity(1), age_identity(2))
        # XDG_CONFIG_HOME replaces ~/.config
        env = fixed_env({"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        assert keys[3].decrypt(env) == DATA_KEY
        with pytest.raises(IncorrectKeyError):
            keys[2].decrypt(env)

    def test_no_identities_lists_sources(self, key, tmp_path):
        key.encrypt(DATA_KEY, fixed_env({}))
        env = fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY_FILE": str(tmp_path / "missing.txt")})
        with pytest.raises(IncorrectKeyError) as exc:
            key.decrypt(env)
        msg = exc.value.message
        assert "SOPS_AGE_KEY_FILE" in msg and "not found" in msg
        assert str(tmp_path / ".config" / "sops" / "age" / "keys.txt") in msg

    def test_key_cmd_injected_runner(self, key, tmp_path):
        key.encrypt(DATA_KEY, fixed_env({}))
        calls = []

        def runner(argv, environ):
            calls.append((argv, environ.get("SOPS_AGE_RECIPIENT")))
            return f"# comment\n\n{age_identity(1)}\n".encode()

        key.runner = runner
        env = fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY_CMD": "my-tool --get 'a b'"})
        assert key.decrypt(env) == DATA_KEY
        assert key.decrypt(env) == DATA_KEY  # cached per invocation
        assert calls == [(["my-tool", "--get", "a b"], age_recipient(1))]

    def test_key_cmd_real_subprocess(self, key, tmp_path):
        key.encrypt(DATA_KEY, fixed_env({}))
        script = tmp_path / "cmd.sh"
        script.write_text('#!/bin/sh\n[ -n "$SOPS_AGE_RECIPIENT" ] || exit 3\n'
                          f'cat "{KEYS / "age-test-1.txt"}"\n')
        script.chmod(0o755)
        env = fixed_env({"HOME": str(tmp_path), "PATH": os.environ["PATH"],
                         "SOPS_AGE_KEY_CMD": str(script)})
        assert key.decrypt(env) == DATA_KEY
        failing = fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY_CMD": "/bin/false"})
        with pytest.raises(KeySourceError, match="exit status 1"):
            key.decrypt(failing)

    def test_all_sources_are_collected(self, tmp_path):
        k1, k2 = AgeKey(age_recipient(1)), AgeKey(age_recipient(2))
        for k in (k1, k2):
            k.encrypt(DATA_KEY, fixed_env({}))
        env = fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(2),
                         "SOPS_AGE_KEY_FILE": str(KEYS / "age-test-1.txt")})
        assert k1.decrypt(env) == DATA_KEY and k2.decrypt(env) == DATA_KEY

    def test_identities_parsed_once(self, tmp_path):
        environ = {"HOME": str(tmp_path), "SOPS_AGE_KEY": age_identity(1)}
        env = fixed_env(environ)
        first = load_identities(env, age_recipient(1))
        environ["SOPS_AGE_KEY"] = age_identity(2)
        assert load_identities(env, age_recipient(1)) is first

    def test_bad_identity_line_does_not_leak(self, key, tmp_path):
        key.encrypt(DATA_KEY, fixed_env({}))
        secret_line = "AGE-SECRET-KEY-1NOTVALIDNOTVALIDNOTVALID"
        env = fixed_env({"HOME": str(tmp_path), "SOPS_AGE_KEY": f"# x\n{secret_line}\n"})
        with pytest.raises(KeySourceError) as exc:
            key.decrypt(env)
        assert "line 2" in exc.value.message
        assert secret_line not in exc.value.message

    def test_ssh_ed25519(self, tmp_path):
        if not shutil.which("ssh-keygen"):
            pytest.skip("ssh-keygen not available")
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        keyfile = home / ".ssh" / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keyfile)], check=True)
        pub = " ".join(Path(f"{keyfile}.pub").read_text().split()[:2])
        key = AgeKey(pub)
        key.encrypt(DATA_KEY, fixed_env({}))
        assert key.decrypt(fixed_env({"HOME": str(home)})) == DATA_KEY
        moved = tmp_path / "elsewhere"
        keyfile.rename(moved)
        env = fixed_env({"HOME": str(home), "SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(moved)})
        assert key.decrypt(env) == DATA_KEY

    def test_encrypted_ssh_key_skipped(self, key, tmp_path):
        if not shutil.which("ssh-keygen"):
            pytest.skip("ssh-keygen not available")
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pw123456",
                        "-f", str(home / ".ssh" / "id_ed25519")], check=True)
        key.encrypt(DATA_KEY, fixed_env({}))
        env = fixed_env({"HOME": str(home), "SOPS_AGE_KEY": age_identity(1)})
        assert key.decrypt(env) == DATA_KEY

    @pytest.mark.parametrize("recipient", [
        "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "age1yubikey1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "age1notbech32", "ssh-ed25519 AAAAnotakey", "nonsense",
    ])
    def test_unsupported_recipients(self, recipient):
        with pytest.raises(KeySourceError):
            AgeKey(recipient).encrypt(DATA_KEY, fixed_env({}))

    def test_parse_recipient_trims(self):
        assert parse_recipient(f"  {age_recipient(1)} \n") is not None


# --------------------------------------------------------------------- pgp

from gpg_fixtures import VECTOR_PGP_FPR, kill_agent, make_pgp_home  # noqa: E402, F401


def test_fixture_keys_round_trip(gnupg_home, tmp_path):
    """The fixture keys (ed25519 + cv25519 encryption subkey) wrap and unwrap."""
    env = fixed_env({"GNUPGHOME": gnupg_home, "HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    for n in (1, 2):
        key = PgpKey(pgp_fpr(n))
        key.encrypt(DATA_KEY, env)
        assert key.decrypt(env) == DATA_KEY


class TestPgpKey(KeySourceContract):
    type_id = "pgp"
    entry_keys = ["created_at", "enc", "fp"]

    @pytest.fixture
    def key(self, pgp_home):
        return PgpKey(pgp_home[1][0])

    @pytest.fixture
    def env(self, pgp_home, tmp_path):
        return fixed_env({"GNUPGHOME": pgp_home[0], "HOME": str(tmp_path), "PATH": os.environ["PATH"]})

    @pytest.fixture
    def foreign_env(self, empty_gnupg_home, tmp_path):
        return fixed_env({"GNUPGHOME": empty_gnupg_home, "HOME": str(tmp_path),
                          "PATH": os.environ["PATH"]})

    def test_enc_and_created_at_like_sops(self, key, env):
        key.encrypt(DATA_KEY, env)
        assert key.enc.startswith("-----BEGIN PGP MESSAGE-----\n")
        assert key.enc.endswith("-----END PGP MESSAGE-----")  # trimmed: no final newline
        assert key.created_at() == "2024-05-06T07:08:09Z"
        assert key.to_tree().get("created_at") == "2024-05-06T07:08:09Z"

    def test_second_key_and_spaces(self, env, pgp_home):
        fp = pgp_home[1][1]
        spaced = " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))
        key = PgpKey(spaced)
        assert key.fingerprint == fp
        key.encrypt(DATA_KEY, env)
        assert key.decrypt(env) == DATA_KEY

    def test_home_from_injected_home(self, key, pgp_home, tmp_path):
        home = tmp_path / "userhome"
        home.mkdir()
        os.symlink(pgp_home[0], home / ".gnupg")
        env = fixed_env({"HOME": str(home), "PATH": os.environ["PATH"]})
        key.encrypt(DATA_KEY, env)
        assert key.decrypt(env) == DATA_KEY

    def test_sops_gpg_exec(self, key, env, tmp_path):
        log = tmp_path / "calls.log"
        wrapper = tmp_path / "mygpg"
        wrapper.write_text(f'#!/bin/sh\necho called >> "{log}"\nexec {shutil.which("gpg")} "$@"\n')
        wrapper.chmod(0o755)
        env.environ["SOPS_GPG_EXEC"] = str(wrapper)
        key.encrypt(DATA_KEY, env)
        assert key.decrypt(env) == DATA_KEY
        assert log.read_text().count("called") >= 2
        bad = fixed_env({**env.environ, "SOPS_GPG_EXEC": str(tmp_path / "nope")})
        with pytest.raises(KeySourceError):
            key.encrypt(DATA_KEY, bad)

    def test_unknown_recipient_fails(self, env):
        with pytest.raises(KeySourceError):
            PgpKey("0" * 40).encrypt(DATA_KEY, env)

    def test_garbage_enc_is_incorrect_key(self, env):
        key = PgpKey(VECTOR_PGP_FPR, enc="-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----")
        with pytest.raises(IncorrectKeyError):
            key.decrypt(env)


# ------------------------------------------------------------------ opaque

OPAQUE_ENTRIES = {
    "gcp_kms": ({"resource_id": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                 "created_at": "2024-01-01T00:00:00Z", "enc": "QUJD"},
                "projects/p/locations/l/keyRings/r/cryptoKeys/k"),
    "hckms": ({"key_id": "cn-north-4:0000-1111", "created_at": "2024-01-01T00:00:00Z", "enc": "x"},
              "cn-north-4:0000-1111"),
    "azure_kv": ({"vault_url": "https://v.vault.azure.net", "name": "k", "version": "v1",
                  "created_at": "2024-01-01T00:00:00Z", "enc": "x"},
                 "https://v.vault.azure.net/keys/k/v1"),
    "hc_vault": ({"vault_address": "http://127.0.0.1:8200", "engine_path": "transit",
                  "key_name": "k", "created_at": "2024-01-01T00:00:00Z", "enc": "vault:v1:x"},
                 "http://127.0.0.1:8200/v1/transit/keys/k"),
}


class TestOpaqueKey(KeySourceContract):
    can_wrap = False

    @pytest.fixture(params=sorted(OPAQUE_ENTRIES))
    def key(self, request):
        self.type_id = request.param
        self.entry_keys = list(OPAQUE_ENTRIES[request.param][0])
        return key_from_tree(request.param, from_python(OPAQUE_ENTRIES[request.param][0]))

    @pytest.fixture
    def env(self):
        return fixed_env({})

    @pytest.fixture
    def foreign_env(self):
        return fixed_env({})

    def test_verbatim_and_identifier(self, key):
        entry, ident = OPAQUE_ENTRIES[key.type_id]
        assert key.to_tree() == from_python(entry)
        assert key.identifier() == ident
        assert key.created_at() == "2024-01-01T00:00:00Z"
        assert key.enc == entry["enc"]
        assert isinstance(key, OpaqueKey)

    def test_decrypt_message(self, key, env):
        with pytest.raises(IncorrectKeyError, match="not supported by secretsctl"):
            key.decrypt(env)


# ---------------------------------------------------------------- registry

def test_registry_and_orders():
    assert set(keytypes.names()) == set(KEY_TYPE_ORDER_IN_GROUP)
    assert all(key_class(t).type_id == t for t in KEY_TYPE_ORDER_IN_GROUP)
    assert KEY_TYPE_ORDER_IN_GROUP == ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "age"]
    assert DEFAULT_DECRYPTION_ORDER == ["age", "pgp"]


class FakeKms(OpaqueKey):
    """A stand-in KMS class, registered by module path as a third party would."""

    type_id = "kms"

    @classmethod
    def from_tree(cls, entry):
        return cls("kms", entry)

    @classmethod
    def from_string(cls, text, **opts):
        return [cls("kms", Branch([Item("arn", a)])) for a in text.split(",")]


def test_register_replaces_kms_slot():
    import dataclasses
    old = keytypes.get("kms")
    try:
        keytypes.register(dataclasses.replace(old, cls=f"{__name__}:FakeKms"))
        key_class.cache_clear()
        assert isinstance(key_from_tree("kms", Branch([Item("arn", "x")])), FakeKms)
        assert [k.identifier() for k in keys_from_string("kms", "a,b")] == ["a", "b"]
    finally:
        keytypes.register(old)
        key_class.cache_clear()
    with pytest.raises(KeySourceError):
        key_from_tree("nope", Branch())


def test_keys_from_string():
    ages = keys_from_string("age", f" {age_recipient(1)} , {age_recipient(2)},")
    assert [k.identifier() for k in ages] == [age_recipient(1), age_recipient(2)]
    pgps = keys_from_string("pgp", "AAAA BBBB, CCCC")
    assert [k.identifier() for k in pgps] == ["AAAABBBB", "CCCC"]
    with pytest.raises(KeySourceError):
        keys_from_string("gcp_kms", "projects/x")


def test_key_from_tree_errors():
    with pytest.raises(KeySourceError):
        key_from_tree("nope", Branch())
    with pytest.raises(KeySourceError):
        key_from_tree("age", "not a mapping")  # type: ignore[arg-type]


def test_sort_for_decryption_is_stable():
    keys = [key_from_tree("kms", from_python({"arn": "k1"})), PgpKey("P1"), AgeKey("A1"),
            key_from_tree("hc_vault", from_python({"vault_address": "v"})), PgpKey("P2"), AgeKey("A2")]
    ids = lambda ks: [k.identifier() for k in ks]  # noqa: E731
    assert ids(sort_for_decryption(keys)) == ["A1", "A2", "P1", "P2", "k1", "v/v1//keys/"]
    assert ids(sort_for_decryption(keys, ["pgp"])) == ["P1", "P2", "k1", "A1", "v/v1//keys/", "A2"]
    assert ids(sort_for_decryption(keys, ["kms", "age"]))[:3] == ["k1", "A1", "A2"]
