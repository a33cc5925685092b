"""The click-free decrypt (secretsctl.launch) against the click path, byte for byte.

Every command line of the table runs twice in a subprocess: through the
console entry point as users run it (the fast path, when it recognises
the line) and with ``SECRETSCTL_NO_FASTPATH=1`` (always click).  Standard
output, standard error, the exit code and any ``--output`` file must be
identical.  Which lines the fast path takes is checked in-process with
:func:`secretsctl.launch.recognise`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import age_recipient, sops_binary
from secretsctl import launch

PLAIN = {
    "json": json.dumps({"a": "x", "n": {"b": [1, 2.5, True, None]}, "k": "v\u00e9"}, indent=2) + "\n",
    "yaml": "a: x\nn:\n    b: [1, 2.5, true]\n# comment\nk: v\n",
    "env": "A=x\nB=y z\n",
    "ini": "[sec]\na = x\nb = 2\n",
    "txt": "just\nbytes \x01\n",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files encrypted by the real sops (age test key 1), plus broken ones."""
    d = tmp_path_factory.mktemp("fast")
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"}
    out: dict[str, Path] = {}
    for ext, text in PLAIN.items():
        src = d / f"plain.{ext}"
        src.write_text(text)
        res = subprocess.run([sops_binary(), "encrypt", "--age", age_recipient(1), str(src)],
                             env=env, capture_output=True, check=True)
        out[ext] = d / f"secret.{ext}"
        out[ext].write_bytes(res.stdout)
    # One leaf taken out: every value still decrypts, the MAC no longer matches.
    doc = json.loads(out["json"].read_bytes())
    del doc["a"]
    out["tampered"] = d / "tampered.json"
    out["tampered"].write_text(json.dumps(doc, indent=2))
    out["plain"] = d / "plain.json"
    out["missing"] = d / "missing.json"
    out["dir"] = d / "adir.json"
    out["dir"].mkdir()
    return out


def _run(args: list[str], env: dict[str, str], cwd: Path, stdout: int | None = subprocess.PIPE,
         shell_prefix: str | None = None) -> tuple[bytes, bytes, int]:
    argv = [sys.executable, "-m", "secretsctl", *args]
    if shell_prefix is not None:   # e.g. close stdout first
        argv = ["sh", "-c", f'{shell_prefix} exec "$0" "$@"', *argv]
    res = subprocess.run(argv, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, timeout=60)
    return res.stdout or b"", res.stderr, res.returncode


def both(args: list[str], env: dict[str, str], tmp_path: Path, **kw: object) -> tuple[bytes, bytes, int]:
    """Run ``args`` on both paths (each in its own cwd); assert equal results, return them."""
    results = []
    for name, extra in (("fast", {}), ("click", {launch.NO_FASTPATH_VAR: "1"})):
        cwd = tmp_path / name
        cwd.mkdir(parents=True)
        out, err, rc = _run(args, {**env, **extra}, cwd, **kw)  # type: ignore[arg-type]
        written = {p.name: (p.read_bytes(), p.stat().st_mode) for p in cwd.iterdir()}
        results.append((out, err, rc, written))
    assert results[0] == results[1]
    return results[0][:3]


def _args(form: str, path: Path) -> list[str]:
    return [a if a != "FILE" else str(path) for a in form.split()]


GOOD_FORMS = [
    "decrypt FILE", "-d FILE", "--decrypt FILE", "decrypt -- FILE", "-d -- FILE",
    "decrypt --output-type json FILE", "decrypt FILE --output-type=yaml",
    "-d --output-type binary FILE", "--output-type json --decrypt FILE",
    "decrypt --ignore-mac FILE", "-d --ignore-mac FILE",
]


@pytest.mark.parametrize("ext", list(PLAIN))
@pytest.mark.parametrize("form", GOOD_FORMS)
def test_good_files_match(form: str, ext: str, files, base_env, tmp_path: Path) -> None:
    args = _args(form, files[ext])
    assert launch.recognise(args, base_env) is not None
    out, err, rc = both(args, base_env, tmp_path)
    if ext == "json" and "--output-type" not in form:
        assert rc == 0 and json.loads(out) == json.loads(PLAIN["json"]), err
    elif ext == "txt" and "--output-type" not in form:
        assert (rc, out) == (0, PLAIN["txt"].encode())


ERROR_CASES = [
    ("decrypt FILE", "tampered"),            # MAC mismatch
    ("-d FILE", "tampered"),
    ("decrypt --ignore-mac FILE", "tampered"),
    ("decrypt FILE", "plain"),               # no sops metadata
    ("decrypt FILE", "missing"),             # handed to click (not a file)
    ("-d FILE", "missing"),
    ("decrypt FILE", "dir"),
    ("decrypt --extract [\"n\"][\"b\"][1] FILE", "json"),
    ("decrypt --extract [\"n\"] --output-type yaml FILE", "json"),
    ("-d --extract [\"nope\"] FILE", "json"),   # no such key
    ("decrypt --extract=[nope FILE", "json"),   # unparsable path
    ("decrypt --extract [\"a\"][0] FILE", "yaml"),
    ("decrypt --input-type yaml FILE", "json"),  # wrong store for the bytes
    ("decrypt --input-type json FILE", "json"),
    ("decrypt --output-type ini FILE", "json"),  # nested: INI cannot hold it
    ("decrypt --output-type dotenv FILE", "yaml"),
]


@pytest.mark.parametrize(("form", "which"), ERROR_CASES)
def test_errors_and_extract_match(form: str, which: str, files, base_env, tmp_path: Path) -> None:
    both(_args(form, files[which]), base_env, tmp_path)


def test_error_lines_are_the_clis(files, base_env, tmp_path: Path) -> None:
    """Spot checks that the compared runs fail the way the CLI is known to fail."""
    _, err, rc = both(["decrypt", str(files["tampered"])], base_env, tmp_path)
    assert rc == 51 and err.startswith(f"secretsctl: error: {files['tampered']}: ".encode())
    _, err, rc = both(["decrypt", "--extract", '["nope"]', str(files["json"])], base_env, tmp_path / "x")
    assert rc != 0 and err.count(b"\n") >= 1 and b"nope" in err


def test_no_key(files, base_env, tmp_path: Path) -> None:
    env = {k: v for k, v in base_env.items() if k != "SOPS_AGE_KEY_FILE"}
    _, err, rc = both(["-d", str(files["yaml"])], env, tmp_path)
    assert rc == 128, err


def test_output_file(files, base_env, tmp_path: Path) -> None:
    for n, form in enumerate(["decrypt --output out.yaml FILE", "-d --output=out.yaml FILE"]):
        out, _, rc = both(_args(form, files["yaml"]), base_env, tmp_path / str(n))
        assert (rc, out) == (0, b"")
    assert (tmp_path / "0" / "fast" / "out.yaml").stat().st_mode & 0o777 == 0o600
    # A directory that does not exist: the write fails, naming the input file.
    _, err, rc = both(_args("decrypt --output no/such/dir FILE", files["json"]), base_env, tmp_path / "e")
    assert rc != 0 and err


def test_closed_stdout(files, base_env, tmp_path: Path) -> None:
    _, err, rc = both(["decrypt", str(files["json"])], base_env, tmp_path, stdout=None,
                      shell_prefix="exec 1>&-;")
    assert rc == 3 and b"closed" in err


def test_broken_pipe_is_141(files, base_env, tmp_path: Path) -> None:
    results = []
    for extra in ({}, {launch.NO_FASTPATH_VAR: "1"}):
        r, w = os.pipe()
        os.close(r)   # the reader is gone before we write
        try:
            res = subprocess.run([sys.executable, "-m", "secretsctl", "decrypt", str(files["json"])],
                                 env={**base_env, **extra}, stdout=w, stderr=subprocess.PIPE, timeout=60)
        finally:
            os.close(w)
        results.append((res.returncode, res.stderr))
    assert results[0] == results[1] == (141, b"")


def test_sops_config_variable(files, base_env, tmp_path: Path) -> None:
    """decrypt reads SOPS_CONFIG through click; the fast path reads it the same way."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("creation_rules: [\n")
    for n, value in enumerate((str(bad), "", str(tmp_path / "none.yaml"))):
        env = {**base_env, "SOPS_CONFIG": value}
        assert launch.recognise(["decrypt", str(files["json"])], env) is not None
        both(["decrypt", str(files["json"])], env, tmp_path / str(n))


UNRECOGNISED = [
    "decrypt", "-d", "decrypt -i FILE", "decrypt --in-place FILE", "decrypt --kms-timeout 3 FILE",
    "decrypt FILE FILE", "-d FILE FILE", "-d FILE --ignore-mac", "-d -e FILE", "-d -d FILE",
    "--config c.yaml -d FILE", "--config c.yaml decrypt FILE", "decrypt --config c.yaml FILE",
    "decrypt --output-type bogus FILE", "decrypt --output-type JSON FILE", "decrypt --extract=-x FILE",
    "decrypt --extract FILE", "decrypt --extract= FILE", "decrypt --ignore-mac=true FILE",
    "decrypt --output-type json --output-type yaml FILE", "decrypt -", "-d -", "-d decrypt", "-d help",
    "decrypt -output-type json FILE", "-d -output-type json FILE", "decrypt --decryption-order age FILE",
    "decrypt --filename-override x.json FILE", "decrypt -h FILE", "-d --indent 2 FILE", "encrypt FILE",
    "FILE", "edit FILE", "decrypt --keyservice unix:///x FILE", "decrypt -- FILE FILE",
]


@pytest.mark.parametrize("form", UNRECOGNISED)
def test_unrecognised_forms_fall_back(form: str, files, base_env) -> None:
    assert launch.recognise(_args(form, files["json"]), base_env) is None


@pytest.mark.parametrize("var", ["SOPS_KEYSERVICE", "SOPS_ENABLE_LOCAL_KEYSERVICE",
                                 "SOPS_DECRYPTION_ORDER", "_SECRETSCTL_COMPLETE", launch.NO_FASTPATH_VAR])
def test_cli_variables_fall_back(var: str, files, base_env) -> None:
    assert launch.recognise(["decrypt", str(files["json"])], {**base_env, var: ""}) is None


def test_missing_file_falls_back(files, base_env) -> None:
    assert launch.recognise(["decrypt", str(files["missing"])], base_env) is None
    assert launch.recognise(["-d", str(files["dir"])], base_env) is None


@pytest.mark.parametrize("form", ["decrypt --kms-timeout 3 FILE", "-d FILE --extract x",
                                  "decrypt --decryption-order pgp,age FILE"])
def test_fallback_runs_click_unchanged(form: str, files, base_env, tmp_path: Path) -> None:
    args = _args(form, files["json"])
    assert launch.recognise(args, base_env) is None
    both(args, base_env, tmp_path)


def test_command_words_are_the_clis() -> None:
    from secretsctl.cli import COMMANDS
    assert set(COMMANDS) | {"help", "h"} == launch.COMMAND_WORDS


def _modules(argv: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    res = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, cwd=cwd,
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in res.stderr.decode().splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("form", ["decrypt FILE", "-d --output-type yaml FILE"])
def test_fast_path_does_not_import_click(form: str, files, base_env, tmp_path: Path) -> None:
    used = _modules(["-m", "secretsctl", *_args(form, files["json"])], base_env, tmp_path)
    assert "secretsctl.cipher" in used and "secretsctl.launch" in used   # it did decrypt
    assert not {m for m in used if m == "click" or m.startswith(("click.", "secretsctl.cli"))}


def test_forced_click_path_imports_click(files, base_env, tmp_path: Path) -> None:
    env = {**base_env, launch.NO_FASTPATH_VAR: "1"}
    assert "click" in _modules(["-m", "secretsctl", "decrypt", str(files["json"])], env, tmp_path)


def test_internal_error_is_one_line(monkeypatch, capsys, files) -> None:
    """An unexpected exception: the CLI's one line, exit 1; its traceback with SECRETSCTL_DEBUG."""
    def broken(plan: object) -> None:
        raise ZeroDivisionError("secret text")
    monkeypatch.setattr(launch, "_decrypt", broken)
    monkeypatch.setattr("secretsctl.hardening.disable_core_dumps", lambda: None)
    monkeypatch.delenv("SECRETSCTL_DEBUG", raising=False)
    assert launch.run({"file": str(files["json"])}) == 1
    err = capsys.readouterr().err
    assert err == ("secretsctl: internal error (ZeroDivisionError); "
                   "rerun with SECRETSCTL_DEBUG=1 for details\n")
    monkeypatch.setenv("SECRETSCTL_DEBUG", "1")
    assert launch.run({"file": str(files["json"])}) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: secret text" in err
    assert err.endswith("rerun with SECRETSCTL_DEBUG=1 for details\n")


def test_core_dumps_disabled_before_decrypting(monkeypatch, files) -> None:
    calls: list[str] = []
    monkeypatch.setattr("secretsctl.hardening.disable_core_dumps", lambda: calls.append("hardening"))
    monkeypatch.setattr(launch, "_decrypt", lambda plan: calls.append("decrypt"))
    assert launch.run({"file": str(files["json"])}) == 0
    assert calls == ["hardening", "decrypt"]
