"""sops's functional test suite, run against the real sops and against secretsctl as ``sops``.

The cases (``sops_functional_cases.py``) are upstream's tests as data.  Each
runs twice, in a fresh directory: once with the real sops 3.11 binary first
on PATH, once with a ``sops`` shim that execs secretsctl unchanged.  The
real-sops run proves the table; the shim run is the drop-in contract of
issue 11.  PGP is the suite's own test key in a private GNUPGHOME (real
gpg); KMS and S3 are moto_server.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import FIXTURES, gnupg_with
from kms_helpers import aws_client
from sops_functional_cases import CASES, NOT_RUN, UPSTREAM_TESTS, Case, Res, Run

DATA = FIXTURES / "sops-functional"
BUCKET, PREFIX = "sops-publish-functional-tests", "functional-test/"


@pytest.fixture(scope="session")
def functional_gnupg(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A GNUPGHOME with the suite's own key file imported (upstream CI's first step)."""
    yield from gnupg_with(tmp_path_factory, "functional-gnupg", DATA / "sops_functional_tests_key.asc")


@pytest.fixture(params=["sops", "shim"])
def sops_dir(request: pytest.FixtureRequest) -> Path:
    """The directory put first on PATH: the real binary, or secretsctl behind the shim."""
    return request.getfixturevalue("real_sops_dir" if request.param == "sops" else "sops_shim_dir")


class Env:
    """One case's directories, environment and snapshots."""

    def __init__(self, root: Path, env: dict[str, str], tokens: dict[str, str]) -> None:
        self.cwd, self.tmp = root / "functional-tests", root / "tmp"
        self.env, self.tokens = env, {**tokens, "{tmp}": str(self.tmp)}
        self.snaps: dict[str, bytes] = {}
        self.ours = False   # True when `sops` on PATH is the secretsctl shim

    def expand(self, arg: str) -> str:
        """Replace the case tokens; sops's own ``{}`` stays."""
        for token, value in self.tokens.items():
            arg = arg.replace(token, value)
        return arg

    def path(self, name: str) -> Path:
        return self.cwd / self.expand(name)


def prepare(case: Case, root: Path, env: dict[str, str], tokens: dict[str, str]) -> Env:
    """Upstream's layout: cwd has .sops.yaml and res/, prepared files are elsewhere."""
    ctx = Env(root, env, tokens)
    res = ctx.cwd / "res"
    res.mkdir(parents=True)
    ctx.tmp.mkdir()
    shutil.copy(DATA / "functional-tests.sops.yaml", ctx.cwd / ".sops.yaml")
    for src in DATA.iterdir():
        if src.name not in ("functional-tests.sops.yaml", "README.md"):
            shutil.copy(src, res / src.name)
    for name, content in case.files.items():
        (ctx.tmp / name).write_bytes(content_of(content))
    if case.files:
        ctx.tokens["{f}"] = str(ctx.tmp / next(iter(case.files)))
    return ctx


def content_of(content: bytes | Res) -> bytes:
    return (DATA / content.name).read_bytes() if isinstance(content, Res) else content


def load(ctx: Env, res: subprocess.CompletedProcess, src: str, fmt: str) -> Any:
    """Parse stdout or a file as JSON or YAML (upstream uses serde_json / serde_yaml)."""
    text = res.stdout if src == "stdout" else ctx.path(src).read_bytes()
    if fmt == "json":
        return json.loads(text)
    from ruamel.yaml import YAML
    return YAML(typ="safe").load(text)


def check_doc(ctx: Env, res: subprocess.CompletedProcess, src: str, fmt: str,
              at: tuple, op: str, arg: Any) -> None:
    node = load(ctx, res, src, fmt)
    for key in at:
        node = node[key]
    if op == "enc":
        assert isinstance(node, dict), f"{src}{list(at)} is not a mapping: {node!r}"
        for key in arg:
            assert key in node, f"{key!r} missing in {src}{list(at)}"
            assert isinstance(node[key], str) and node[key].startswith("ENC["), \
                f"{src}{list(at)}[{key!r}] is not encrypted: {node[key]!r}"
    elif op == "keys":
        assert all(k in node for k in arg), f"{src}{list(at)} lacks one of {arg}: {list(node)}"
    elif op == "nokeys":
        assert not any(k in node for k in arg), f"{src}{list(at)} has one of {arg}: {list(node)}"
    elif op == "eq":
        assert node == arg, f"{src}{list(at)} = {node!r}, expected {arg!r}"
    elif op == "len":
        assert len(node) == arg, f"len({src}{list(at)}) = {len(node)}, expected {arg}"
    else:
        raise AssertionError(f"unknown doc check {op!r}")


def _snap(ctx: Env, res: subprocess.CompletedProcess, name: str) -> None:
    ctx.snaps[name] = ctx.path(name).read_bytes()


CheckFn = Callable[..., None]
CHECKS: dict[str, CheckFn] = {
    "ok": lambda ctx, res: _assert(res.returncode == 0, f"exit {res.returncode}, expected 0"),
    "fails": lambda ctx, res: _assert(res.returncode != 0, "exit 0, expected a failure"),
    "out": lambda ctx, res, want: _assert(res.stdout == want, f"stdout {res.stdout!r}, expected {want!r}"),
    "err": lambda ctx, res, want: _assert(_same_error(ctx, res.stderr.decode(), want),
                                          f"stderr {res.stderr.decode()!r}, expected {want!r}"),
    "has": lambda ctx, res, text: _assert(text in res.stdout.decode(), f"stdout lacks {text!r}"),
    "lacks": lambda ctx, res, text: _assert(text not in res.stdout.decode(), f"stdout has {text!r}"),
    "ends": lambda ctx, res, text: _assert(res.stdout.decode().endswith(text),
                                           f"stdout does not end with {text!r}"),
    "doc": check_doc,
    "file": lambda ctx, res, name, want: _assert(
        ctx.path(name).read_bytes() == want, f"{name}: {ctx.path(name).read_bytes()!r}, expected {want!r}"),
    "starts": lambda ctx, res, name, text: _assert(
        ctx.path(name).read_text().startswith(text), f"{name} does not start with {text!r}"),
    "nonempty": lambda ctx, res, name: _assert(ctx.path(name).read_bytes() != b"", f"{name} is empty"),
    "snap": _snap,
    "same": lambda ctx, res, name: _assert(ctx.path(name).read_bytes() == ctx.snaps[name],
                                           f"{name} changed"),
    "changed": lambda ctx, res, name: _assert(ctx.path(name).read_bytes() != ctx.snaps[name],
                                              f"{name} did not change"),
}


def _same_error(ctx: Env, got: str, want: str) -> bool:
    """sops's stderr exactly; secretsctl's is sops's text inside its own one error line.

    secretsctl prefixes every error with ``secretsctl: error: FILE:`` and may
    add which rule is at fault (README, "Deliberate differences"), so for
    it the check is: one line, that prefix, and sops's text in it.
    """
    if not ctx.ours:
        return got == want
    lines = got.splitlines()
    return len(lines) == 1 and lines[0].startswith("secretsctl: error: ") and want.strip() in lines[0]


def _assert(cond: bool, message: str) -> None:
    assert cond, message


def execute(ctx: Env, step: Run, sops: str) -> None:
    """Run one command line and its checks; a failure names the command and its stderr."""
    args = [ctx.expand(a) for a in step.args]
    stdin = content_of(step.stdin) if step.stdin is not None else None
    res = subprocess.run([sops, *args], input=stdin, capture_output=True, cwd=ctx.cwd,
                         env=ctx.env, timeout=120)
    for kind, *params in step.checks:
        params = [ctx.expand(p) if isinstance(p, str) else p for p in params]
        try:
            CHECKS[kind](ctx, res, *params)
        except AssertionError as exc:
            raise AssertionError(f"sops {' '.join(args)}: {exc}\n  exit {res.returncode}, "
                                 f"stderr: {res.stderr.decode(errors='replace')}") from None


def s3_bucket(moto_url: str) -> Any:
    """moto's S3 with the bucket the suite's destination rule names."""
    s3 = aws_client("s3", "us-east-1", moto_url)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_case(case: Case, sops_dir: Path, base_env: dict[str, str], functional_gnupg: str,
                       tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Run one upstream test's command lines and assertions with ``sops_dir``'s sops."""
    env = {**base_env, "GNUPGHOME": functional_gnupg}
    tokens: dict[str, str] = {}
    if "kms" in case.needs or "s3" in case.needs:
        env.update(request.getfixturevalue("aws_env"))
    if "kms" in case.needs:
        tokens["{kms}"] = request.getfixturevalue("world").k1
    env["PATH"] = f"{sops_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
    sops = shutil.which("sops", path=env["PATH"])
    assert sops == str(sops_dir / "sops")
    ctx = prepare(case, tmp_path, env, tokens)
    ctx.ours = not os.path.samefile(sops, request.getfixturevalue("sops_bin"))
    s3 = None
    if "s3" in case.needs:
        s3 = s3_bucket(env["AWS_ENDPOINT_URL"])
        s3.delete_object(Bucket=BUCKET, Key=PREFIX + next(iter(case.files)))
    for step in case.runs:
        execute(ctx, step, sops)
    if s3 is not None:  # upstream's TODO: the published file is in the bucket, and encrypted
        body = s3.get_object(Bucket=BUCKET, Key=PREFIX + next(iter(case.files)))["Body"].read()
        assert json.loads(body)["sops"]["pgp"], body


def test_every_upstream_test_is_a_case_or_has_a_reason() -> None:
    """Each upstream test is a case (decrypt_format: one per file) or in NOT_RUN, never both."""
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and not set(NOT_RUN) & set(names)
    covered = {n.split("_format_")[0] + "_format" if n.startswith("decrypt_format_") else n for n in names}
    assert covered | set(NOT_RUN) == set(UPSTREAM_TESTS)
