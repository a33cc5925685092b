"""Run the real sops binary on many small inputs at once (store tests).

Each sops call costs 30-50 ms; the cases of a corpus are independent, so
they run in a thread pool (subprocesses release the GIL).
"""
from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from conftest import age_recipient


@dataclass
class Oracle:
    """sops's encrypted file and its decrypted output for one input."""

    encrypted: bytes
    decrypted: bytes


def roundtrip(sops: Callable, data: bytes, ext: str, output_type: str | None = None,
              cwd=None) -> Oracle:
    """``sops encrypt`` ``data`` as ``x.<ext>``, then ``sops decrypt`` it."""
    name = f"x.{ext}"
    enc = sops(["encrypt", "--age", age_recipient(1), "--filename-override", name],
               input=data, cwd=cwd)
    assert enc.returncode == 0, (data, enc.stderr.decode(errors="replace"))
    args = ["decrypt", "--filename-override", name]
    if output_type:
        args += ["--output-type", output_type]
    dec = sops(args, input=enc.stdout, cwd=cwd)
    assert dec.returncode == 0, (data, dec.stderr.decode(errors="replace"))
    return Oracle(enc.stdout, dec.stdout)


def roundtrip_many(sops: Callable, cases: list[bytes], ext: str,
                   output_type: str | None = None, cwd=None) -> list[Oracle]:
    """:func:`roundtrip` for every case, in parallel, results in case order."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda d: roundtrip(sops, d, ext, output_type, cwd), cases))


def decrypt_many(sops: Callable, encrypted: bytes, name: str, args_list: list[list[str]],
                 env: dict[str, str] | None = None):
    """Run ``sops decrypt`` of one encrypted input with several argument sets."""
    def one(args: list[str]):
        return sops(["decrypt", "--filename-override", name, *args], input=encrypted, env=env)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, args_list))


def explain(case: bytes, ours: bytes, theirs: bytes) -> str:
    """A readable diff for assertion messages."""
    diff = difflib.unified_diff(theirs.decode(errors="backslashreplace").splitlines(True),
                                ours.decode(errors="backslashreplace").splitlines(True),
                                "sops", "ours")
    return f"input {case!r}\n" + "".join(diff)


def assert_all_equal(cases: list[bytes], ours: list[bytes], theirs: list[bytes]) -> None:
    """Fail listing every mismatching case (not just the first)."""
    bad = [explain(c, o, t) for c, o, t in zip(cases, ours, theirs) if o != t]
    assert not bad, f"{len(bad)} of {len(cases)} cases differ:\n" + "\n".join(bad)
