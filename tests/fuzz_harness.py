"""The fuzzing harness behind ``scripts/fuzz`` and tests/test_fuzz.py (in-process, hypothesis).

Targets: every store (yaml, json, dotenv, ini, binary) in both directions:

* ``plain:FMT``: generated documents, rendered in the format and then
  byte-mutated, are encrypted; what encrypts must decrypt again;
* ``enc:FMT``: files we encrypted, mutated four ways (bytes, one field of
  an ``ENC[...]`` value, a metadata line, the structure: lines duplicated,
  swapped, dropped, re-indented), are decrypted (MAC checked, or ignored),
  printed and re-encrypted.

Every value carries a planted marker (``ZQXMARK1234``).  A finding is:
an exception that is not a ``SecretsctlError`` (``crash``: the CLI would
print "internal error"), a marker in an error message or hint (``leak``),
our own ciphertext that does not decrypt (``roundtrip``) or decrypts to
something else than the input prints as (``roundtrip-differs``).  Findings are
collected, not raised, so one run reports every class with a first example.

    scripts/fuzz --cases 50000 [--seed N]      # locally, more cases
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, seed as hyp_seed, settings, strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secretsctl import api  # noqa: E402
from secretsctl.config import KeySpec  # noqa: E402
from secretsctl.errors import SecretsctlError  # noqa: E402
from secretsctl.formats import StoreOptions, make_store  # noqa: E402

KEYS = ROOT / "fixtures" / "keys"
MARK = "ZQXMARK"
MARKER = re.compile(MARK + r"\d{4}")
FORMATS = ("yaml", "json", "dotenv", "ini", "binary")
EXT = {"yaml": "yaml", "json": "json", "dotenv": "env", "ini": "ini", "binary": "bin"}
TOKENS = [b"[", b"]", b"{", b"}", b":", b": ", b"\n", b"- ", b'"', b"'", b"&a ", b"*a", b"<<: ",
          b"!!binary ", b"!!int ", b"\x00", b"\xff", b"\xef\xbb\xbf", b"ENC[AES256_GCM,data:", b"sops",
          b"# ", b"=", b"\t", b"\r", b"[" * 40, b"\\", b"%YAML 1.2\n", b"---\n", b"...\n", b"null",
          b"1e999", b"-9223372036854775809", b"\xed\xa0\x80", b"\\ud800", b"[sops]\n", b"sops_mac=",
          b'"sops": {}', b"~", b"? ", b"|", b">-\n"]
FIELD_VALUES = ["", "x", "AAAA", "====", "not base64!", "A" * 64, "str", "int", "float", "bool",
                "bytes", "comment", "xyz", "AES256_GCM", "0", "-1"]
META_VALUES = ["", "x", "0", "3.0.0", "99.0", "1e999", "[]", "{}", "null", "a", "(", "[", "foo.*",
               "2006-01-02T15:04:05Z", "not a date", "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]"]
ENC_VALUE = re.compile(rb"ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:([^\]]*)\]")


def marker(n: int) -> str:
    return f"{MARK}{n:04d}"


# ------------------------------------------------------------------ findings

@dataclass
class Findings:
    """Counts per target, findings per class with the first example of each."""

    cases: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, cls: str, data: bytes, detail: str) -> None:
        self.found[cls] += 1
        self.examples.setdefault(cls, f"{detail}\n    input: {data[:400]!r}")

    def report(self) -> str:
        lines = [f"{sum(self.cases.values())} cases: " +
                 ", ".join(f"{t} {n}" for t, n in sorted(self.cases.items())),
                 f"clean errors (SecretsctlError): {sum(self.errors.values())}: " +
                 ", ".join(f"{c} {n}" for c, n in self.errors.most_common(12))]
        lines.append(f"findings: {sum(self.found.values())} in {len(self.found)} class(es)")
        for cls, n in self.found.most_common():
            lines.append(f"  {cls}: {n}\n    {self.examples[cls]}")
        return "\n".join(lines)


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "secretsctl" in f.filename]
    last = frames[-1] if frames else None
    return f"{Path(last.filename).name}:{last.lineno}" if last else "?"


class Harness:
    """The in-process targets; one age key, an empty config, no environment."""

    def __init__(self) -> None:
        self.findings = Findings()
        self._dir = tempfile.mkdtemp(prefix="secretsctl-fuzz-")
        config = Path(self._dir) / "empty.yaml"
        config.write_text("{}\n")
        self.runtime = api.Runtime(environ={"SOPS_AGE_KEY_FILE": str(KEYS / "age-test-1.txt")},
                                   config_path=str(config), cwd=self._dir)
        recipient = next(l.split(": ", 1)[1] for l in (KEYS / "age-test-1.txt").read_text().splitlines()
                         if l.startswith("# public key: "))
        self.options = api.EncryptOptions(key_groups=[[KeySpec("age", recipient)]])
        self.seeds: dict[str, list[bytes]] = {}

    def _name(self, fmt: str) -> str:
        return os.path.join(self._dir, f"f.{EXT[fmt]}")

    def _guard(self, target: str, data: bytes, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SecretsctlError as exc:
            self.findings.errors[type(exc).__name__] += 1
            text = " ".join(filter(None, (exc.message, exc.hint)))
            if MARKER.search(text):
                self.findings.add(f"leak:{target}:{type(exc).__name__}", data, exc.user_message())
            return None
        except Exception as exc:  # noqa: BLE001 - that is the finding
            self.findings.add(f"crash:{target}:{type(exc).__name__}@{_where(exc)}", data,
                              f"{type(exc).__name__} (message not shown: it may quote input)")
            return None

    def encrypt(self, fmt: str, data: bytes) -> bytes | None:
        return api.encrypt_data(data, input_type=fmt, filename=self._name(fmt), options=self.options,
                                runtime=self.runtime)

    def plain_case(self, fmt: str, data: bytes) -> None:
        target = f"plain:{fmt}"
        self.findings.cases[target] += 1
        out = self._guard(target, data, lambda: self.encrypt(fmt, data))
        if out is None:
            return
        try:
            back = api.emit_plain(api.decrypt_data(out, input_type=fmt, filename=self._name(fmt),
                                                   runtime=self.runtime))
            store = make_store(fmt, StoreOptions())
            expected = store.emit_plain(store.load_plain(data))
        except Exception as exc:  # noqa: BLE001 - our own output must read back
            self.findings.add(f"roundtrip:{fmt}:{type(exc).__name__}@{_where(exc)}", data,
                              getattr(exc, "message", type(exc).__name__))
            return
        if back != expected:  # decrypt(encrypt(x)) prints what x itself prints
            self.findings.add(f"roundtrip-differs:{fmt}", data, f"{expected[:200]!r} -> {back[:200]!r}")

    def enc_case(self, fmt: str, data: bytes, ignore_mac: bool) -> None:
        target = f"enc:{fmt}"
        self.findings.cases[target] += 1

        def run() -> None:
            dec = api.decrypt_data(data, input_type=fmt, filename=self._name(fmt), ignore_mac=ignore_mac,
                                   runtime=self.runtime)
            api.emit_plain(dec)
            api.reencrypt(dec, runtime=self.runtime)
        self._guard(target, data, run)

    def seed_files(self, fmt: str) -> list[bytes]:
        """A few encrypted files per format (our own encryption of generated documents)."""
        if fmt not in self.seeds:
            docs = [{"db": {"user": marker(1), "pass": marker(2), "port": 5432},
                     "list": [marker(3), 1.5, True, None], "top": marker(4)},
                    {"a": marker(5), "b": marker(6)},
                    {"s": {"k": marker(7), "n": {"deep": [marker(8)]}}}]
            self.seeds[fmt] = [self.encrypt(fmt, render(fmt, d)) for d in docs if render(fmt, d)]
        return self.seeds[fmt]


# ------------------------------------------------------------------ rendering

def _flat(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        out: list[tuple[str, Any]] = []
        for k, v in tree.items():
            out += _flat(v, f"{prefix}{k}_" if isinstance(v, (dict, list)) else f"{prefix}{k}")
        return out
    if isinstance(tree, list):
        return [p for n, v in enumerate(tree) for p in _flat(v, f"{prefix}{n}")]
    return [(prefix or "k", tree)]


def _yaml_block(tree: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(tree, dict) and tree:
        return "".join(f"{pad}{json.dumps(k)}:"
                       + (f"\n{_yaml_block(v, indent + 2)}" if isinstance(v, (dict, list)) and v
                          else f" {json.dumps(v)}\n") for k, v in tree.items())
    if isinstance(tree, list) and tree:
        return "".join(f"{pad}-" + (f"\n{_yaml_block(v, indent + 2)}" if isinstance(v, (dict, list)) and v
                                     else f" {json.dumps(v)}\n") for v in tree)
    return f"{pad}{json.dumps(tree)}\n"


def render(fmt: str, tree: dict) -> bytes:
    """``tree`` as a document of ``fmt`` (dotenv and INI get it flattened)."""
    if fmt == "json":
        return json.dumps(tree, indent=1).encode()
    if fmt == "yaml":
        return _yaml_block(tree).encode()
    pairs = [(re.sub(r"[^A-Za-z0-9_]", "_", k) or "k", "" if v is None else str(v)) for k, v in _flat(tree)]
    if fmt == "dotenv":
        return "".join(f"{k}={v}\n" for k, v in pairs).encode()
    if fmt == "ini":
        return ("[section]\n" + "".join(f"{k} = {v}\n" for k, v in pairs)).encode()
    return "".join(f"{k} {v}\n" for k, v in pairs).encode()  # binary: any bytes


# ------------------------------------------------------------------ strategies

scalars = st.one_of(st.integers(0, 9999).map(marker), st.integers(-2**70, 2**70), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=12).map(lambda t: t + marker(9)))
keys = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), st.text(min_size=1, max_size=6))
trees = st.dictionaries(keys, st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                                           | st.dictionaries(keys, c, max_size=3), max_leaves=8),
                        min_size=1, max_size=5)


@st.composite
def byte_mutations(draw: Any, data: bytes, max_ops: int = 3) -> bytes:
    """Insert tokens or random bytes, delete or duplicate spans, truncate."""
    for _ in range(draw(st.integers(0, max_ops))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["token", "bytes", "delete", "dup", "truncate", "flip"]))
        if op == "token":
            data = data[:pos] + draw(st.sampled_from(TOKENS)) + data[pos:]
        elif op == "bytes":
            data = data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
        elif op == "delete":
            data = data[:pos] + data[pos + draw(st.integers(1, 8)):]
        elif op == "dup":
            data = data[:pos] + data[pos:pos + 16] + data[pos:]
        elif op == "truncate":
            data = data[:pos]
        elif data and pos < len(data):
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
    return data


@st.composite
def enc_field_mutation(draw: Any, data: bytes) -> bytes:
    """Replace one field (data, iv, tag or type) of one ``ENC[...]`` value."""
    matches = list(ENC_VALUE.finditer(data))
    if not matches:
        return data
    m = draw(st.sampled_from(matches))
    group = draw(st.integers(1, 4))
    new = draw(st.one_of(st.sampled_from(FIELD_VALUES), st.sampled_from(matches).map(
        lambda o: o.group(group).decode(errors="replace")))).encode()
    return data[:m.start(group)] + new + data[m.end(group):]


_META_LINE = re.compile(rb"(?m)^(\s*\"?(?:sops_)?(?:mac|lastmodified|version|unencrypted_suffix|encrypted_suffix|"
                        rb"unencrypted_regex|encrypted_regex|mac_only_encrypted|shamir_threshold|recipient|"
                        rb"enc|created_at)\"?\s*[:=]\s*)(.*)$")


@st.composite
def meta_mutation(draw: Any, data: bytes) -> bytes:
    """Give one metadata field another value (or add a selection rule)."""
    matches = list(_META_LINE.finditer(data))
    if not matches or draw(st.integers(0, 5)) == 0:
        return data.replace(b"mac:", draw(st.sampled_from([b"unencrypted_suffix: _x\n    mac:",
                                                           b"encrypted_regex: a\n    mac:", b"mac:"])), 1)
    m = draw(st.sampled_from(matches))
    value = draw(st.sampled_from(META_VALUES)).encode()
    if m.group(2).endswith(b","):  # JSON
        value = json.dumps(value.decode()).encode() + b","
    return data[:m.start(2)] + value + data[m.end(2):]


@st.composite
def structure_mutation(draw: Any, data: bytes) -> bytes:
    lines = data.split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        if len(lines) < 2:
            break
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["dup", "swap", "drop", "indent", "dedent"]))
        if op == "dup":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "drop":
            del lines[i]
        elif op == "indent":
            lines[i] = b"  " + lines[i]
        else:
            lines[i] = lines[i].lstrip()
    return b"\n".join(lines)


def plain_inputs(fmt: str) -> st.SearchStrategy[bytes]:
    return trees.map(lambda t: render(fmt, t)).flatmap(byte_mutations)


def enc_inputs(harness: Harness, fmt: str) -> st.SearchStrategy[bytes]:
    base = st.sampled_from(harness.seed_files(fmt))
    return base.flatmap(lambda d: st.one_of(byte_mutations(d), enc_field_mutation(d), meta_mutation(d),
                                            structure_mutation(d)))


# ------------------------------------------------------------------ driver

def run(total: int, *, seed: int | None = None, derandomize: bool = False,
        harness: Harness | None = None) -> Findings:
    """Run about ``total`` cases spread over the ten targets; returns the findings."""
    h = harness or Harness()
    per_target = max(1, total // (2 * len(FORMATS)))
    conf = settings(max_examples=per_target, derandomize=derandomize and seed is None, database=None,
                    deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    for fmt in FORMATS:
        @conf
        @given(plain_inputs(fmt))
        def plain(data: bytes) -> None:
            h.plain_case(fmt, data)  # noqa: B023 - each property runs before the loop moves on

        @conf
        @given(enc_inputs(h, fmt), st.booleans())
        def enc(data: bytes, ignore_mac: bool) -> None:
            h.enc_case(fmt, data, ignore_mac)  # noqa: B023
        for prop in (plain, enc):
            (hyp_seed(seed)(prop) if seed is not None else prop)()
    return h.findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in total (default 10000)")
    parser.add_argument("--seed", type=int, help="a fixed seed (default: random)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    findings = run(args.cases, seed=args.seed)
    print(findings.report())
    print(f"{time.monotonic() - start:.1f} s")
    return 1 if findings.found else 0


if __name__ == "__main__":
    sys.exit(main())
