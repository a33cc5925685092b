"""sopsy's own test suite, run against the real sops and against the shim.

sopsy (a Python wrapper that runs ``sops --config CFG decrypt|encrypt|rotate
…``) ships its tests only in its sdist; scripts/setup unpacks the pinned
sdist (scripts/client_sources.py) and the ``test`` extra installs the same
version, which those tests import.  Every test that passes with the real
sops must pass with secretsctl as ``sops``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from client_helpers import SIDES, client_source, path_env, recorded_calls, recording_sops_dir, sops_dirs

SOPSY = "sopsy-1.2.1"
SUITE_SIZE = 42  # tests in sopsy 1.2.1's tests/test_sopsy.py


def run_suite(base_env: dict[str, str], bindir: Path, workdir: Path) -> dict[str, str]:
    """Run a fresh copy of sopsy's tests with ``bindir``'s sops; test name → outcome."""
    tests = workdir / "tests"
    shutil.copytree(client_source(SOPSY) / "tests", tests)
    report = workdir / "report.xml"
    # sopsy's tests bring their own age key (SOPS_AGE_KEY); ours must not mix in.
    env = {k: v for k, v in path_env(base_env, bindir).items() if k != "SOPS_AGE_KEY_FILE"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(workdir),
         f"--basetemp={workdir / 'tmp'}", f"--junitxml={report}", str(tests)],
        env=env, cwd=workdir, capture_output=True, timeout=300)
    assert report.exists(), proc.stdout.decode() + proc.stderr.decode()
    return outcomes(report)


def outcomes(report: Path) -> dict[str, str]:
    """``passed``/``failed``/``error``/``skipped`` per test case of a JUnit XML report."""
    result = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[case.get("name", "")] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return result


def test_sopsy_suite_passes_with_the_shim(base_env, real_sops_dir, sops_shim_dir, tmp_path) -> None:
    dirs = sops_dirs(real_sops_dir, sops_shim_dir)
    runs = {}
    for side in SIDES:
        (tmp_path / side).mkdir()
        runs[side] = run_suite(base_env, dirs[side], tmp_path / side)
    real = runs["real"]
    assert len(real) == SUITE_SIZE and set(real.values()) == {"passed"}, real
    broken = sorted(name for name, outcome in runs["shim"].items() if outcome != "passed")
    passed = SUITE_SIZE - len(broken)
    assert broken == [], f"with the shim {passed} of {SUITE_SIZE} sopsy tests pass; not: {broken}"


def test_sopsy_puts_config_before_the_subcommand(base_env, sops_bin, tmp_path) -> None:
    """The form docs/clients-command-lines.md lists for sopsy: every call is
    ``--config CFG decrypt|encrypt|rotate …``, so global flags must come first."""
    log = tmp_path / "calls"
    rec = recording_sops_dir(tmp_path / "rec", Path(sops_bin), log)
    (tmp_path / "run").mkdir()
    assert set(run_suite(base_env, rec, tmp_path / "run").values()) == {"passed"}
    calls = recorded_calls(log)
    assert len(calls) >= 14
    assert {tuple(c[:1]) + tuple(c[2:3]) for c in calls} == {
        ("--config", "decrypt"), ("--config", "encrypt"), ("--config", "rotate")}
    stdin_calls = [c[2:] for c in calls if not c[-1].startswith("/")]
    assert ["decrypt", "--input-type", "yaml", "--filename-override", "dummy.yaml"] in stdin_calls


def test_sopsy_suite_is_the_pinned_one() -> None:
    """The unpacked suite and the installed library are the pinned release."""
    from importlib.metadata import version
    assert version("sopsy") == SOPSY.split("-")[1]
    assert (client_source(SOPSY) / "tests" / "test_sopsy.py").read_text().count("\ndef test_") == SUITE_SIZE
