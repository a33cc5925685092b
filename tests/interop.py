"""Helpers for tests that run secretsctl and the real sops binary on the same data."""
from __future__ import annotations

import re

_ENC = re.compile(r"ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:(\w+)\]")
_AGE = re.compile(r"-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----(\\n|\n)?", re.S)
_PGP = re.compile(r"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", re.S)
_LIST_COMMENT = re.compile(r"^( *)- (ENC\[len=\d+,type:comment\])$", re.M)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

SAMPLES: dict[str, bytes] = {
    "yaml": (
        b"# top comment\n"
        b"name: Alice\n"
        b"age: 42\n"
        b"height: 1.75\n"
        b"admin: true\n"
        b"empty: \"\"\n"
        b"nothing: null\n"
        b"when: 2024-01-02\n"
        b"notes: |\n    line one\n    line two\n"
        b"servers:\n    # in a list\n    - alpha\n    - port: 8080\n      tls: false\n"
        b"nested:\n    deep:\n        key: value # trailing\n"
        b"public_unencrypted: visible\n"
        b"yes_string: \"yes\"\n"
        b"unicode: h\xc3\xa9llo \xe2\x98\x83\n"
    ),
    "json": (
        b'{\n\t"name": "Alice",\n\t"n": 42,\n\t"f": 0.5,\n\t"big": 1e21,\n\t"b": false,\n'
        b'\t"html": "<b>&</b>",\n\t"arr": [1, "two", [true], {"k": null}],\n'
        b'\t"obj": {"x": {"y": "z"}},\n\t"empty_obj": {},\n\t"plain_unencrypted": 12\n}\n'
    ),
    "dotenv": (
        b"# dotenv comment\nFOO=bar\nNUM=42\nEMPTY=\nMULTI=line1\\nline2\n"
        b"QUOTED=\"kept quotes\"\nexport EXPORTED=x\nPLAIN_unencrypted=visible\n"
    ),
    "ini": (
        b"top = level\n\n; section comment\n[database]\nuser = admin\npassword = hunter2\n"
        b"; key comment\nport_unencrypted = 5432\n\n[other]\nspaced = \"  padded  \"\n"
    ),
    "binary": b"binary\x00\xff\xfe payload\n\x01\x02",
}
SUFFIX = {"yaml": "yaml", "json": "json", "dotenv": "env", "ini": "ini", "binary": "bin"}


def mask(data: bytes) -> list[str]:
    """Normalise the random parts of an encrypted file so two tools' outputs compare.

    Ciphertext, IVs and tags are random, wrapped keys and times too; the
    ciphertext *length* (same plaintext) and every byte of layout are kept.
    INI's [sops] section is written in random order by sops: its lines are sorted.
    """
    text = data.decode("utf-8", "replace")
    text = _ENC.sub(lambda m: f"ENC[len={len(m.group(1))},type:{m.group(2)}]", text)
    text = _AGE.sub("<AGE>", text)
    text = _PGP.sub("<PGP>", text)
    text = _TIME.sub("<TIME>", text)
    # Our one deliberate layout difference (docs/format.md §16): sops writes an
    # encrypted comment inside a YAML list as a list element, we keep a comment.
    text = _LIST_COMMENT.sub(r"\1#\2", text)
    lines = text.split("\n")
    if "[sops]" in lines:
        at = lines.index("[sops]")
        lines = lines[:at + 1] + sorted(lines[at + 1:])
    return lines
