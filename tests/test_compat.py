"""Files from other sops versions and key types we cannot use still work, both ways."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import age_recipient

AGE = ["--age", age_recipient(1)]
GCP_AND_VAULT = (
    "    gcp_kms:\n"
    "        - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k\n"
    "          created_at: \"2024-01-01T00:00:00Z\"\n"
    "          enc: CiQAgcp+ZmFrZS1ibG9i\n"
    "    hc_vault:\n"
    "        - vault_address: http://127.0.0.1:8200\n"
    "          engine_path: transit\n"
    "          key_name: k\n"
    "          created_at: \"2024-01-01T00:00:00Z\"\n"
    "          enc: vault:v1:ZmFrZQ==\n"
)


def _encrypted(tmp_path: Path, cli, body: bytes = b"a: secret\nb: 2\n") -> Path:
    f = tmp_path / "f.yaml"
    f.write_bytes(body)
    assert cli(["encrypt", *AGE, "-i", str(f)]).returncode == 0
    return f


def test_unusable_key_types_survive_a_rewrite(tmp_path, cli, sops):
    """gcp_kms / hc_vault entries (metadata is outside the MAC) are kept byte for byte."""
    f = _encrypted(tmp_path, cli)
    text = f.read_text().replace("sops:\n", "sops:\n" + GCP_AND_VAULT, 1)
    f.write_text(text)
    assert sops(["decrypt", str(f)]).returncode == 0
    assert cli(["decrypt", str(f)]).stdout == sops(["decrypt", str(f)]).stdout
    assert cli(["set", str(f), '["b"]', "3"]).returncode == 0
    after = f.read_text()
    assert GCP_AND_VAULT in after
    assert sops(["decrypt", "--extract", '["b"]', str(f)]).stdout == b"3\n"


def test_sops_3_7_style_metadata_loads(tmp_path, cli, sops):
    """sops 3.7 wrote every key list, empty ones as `[]`, and an older version."""
    f = _encrypted(tmp_path, cli)
    text = f.read_text()
    text = text.replace("sops:\n", "sops:\n    kms: []\n    gcp_kms: []\n    azure_kv: []\n    hc_vault: []\n", 1)
    text = text.replace("    unencrypted_suffix:", "    pgp: []\n    unencrypted_suffix:")
    text = text.replace("version: 3.11.0", "version: 3.7.3")
    f.write_text(text)
    assert sops(["decrypt", str(f)]).returncode == 0
    assert cli(["decrypt", str(f)]).stdout == sops(["decrypt", str(f)]).stdout
    # Re-encrypting bumps the version as sops does, and drops the empty lists.
    assert cli(["set", str(f), '["b"]', "5"]).returncode == 0
    out = f.read_text()
    assert "version: 3.11.0" in out and "kms: []" not in out
    assert sops(["decrypt", "--extract", '["b"]', str(f)]).stdout == b"5\n"


def test_integers_beyond_int64_round_trip(tmp_path, cli, sops):
    big = 2**70 + 1
    f = _encrypted(tmp_path, cli, f"big: {big}\nneg: -{big}\nok: 9223372036854775807\n".encode())
    out = cli(["decrypt", str(f)])
    assert out.returncode == 0
    assert out.stdout == f"big: {big}\nneg: -{big}\nok: 9223372036854775807\n".encode()
    # sops parses type:int as a 64-bit int and cannot read such a value (README says so).
    assert sops(["decrypt", str(f)]).returncode != 0
    assert re.search(rb"big: ENC\[[^\]]*type:int\]", f.read_bytes())


def test_sops_files_with_unencrypted_plain_comment_in_encrypted_file(tmp_path, cli, sops):
    """A hand-added plain comment in an encrypted file is kept, as sops keeps it."""
    f = _encrypted(tmp_path, cli)
    f.write_text("# added later by hand\n" + f.read_text())
    assert cli(["decrypt", str(f)]).stdout == sops(["decrypt", str(f)]).stdout
