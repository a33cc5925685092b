"""The commands as library functions (cryptflows, keyflows, execflows), without click.

Every decision the CLI used to make — conflicts, single file or batch,
plan/confirm/apply, exit codes, where ``export --format github`` writes — is
made by these functions; the click layer only parses flags, prints and
exits.  These tests call them the way an embedder would: injected stdin and
stdout, a Runtime with its own environment, no process boundary.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from secretsctl import api, checks, cryptflows, execflows, keyflows
from secretsctl.config import KeySpec
from secretsctl.errors import ConflictingParameters, ExitCode, SecretsctlError
from secretsctl.pool import BatchOutcome, FileResult

from conftest import KEYS, age_recipient

R1, R2 = age_recipient(1), age_recipient(2)


@pytest.fixture
def rt(tmp_path: Path) -> api.Runtime:
    """Keys 1 and 2 available, no ambient settings; .sops.yaml lookups stay in tmp_path."""
    both = tmp_path / "keys.txt"
    both.write_text((KEYS / "age-test-1.txt").read_text() + (KEYS / "age-test-2.txt").read_text())
    return api.Runtime(environ={"SOPS_AGE_KEY_FILE": str(both), "HOME": str(tmp_path)},
                       cwd=str(tmp_path))


class Out:
    """An injected standard output."""

    def __init__(self) -> None:
        self.data = b""

    def __call__(self, data: bytes) -> None:
        self.data += data


def _no_stdin() -> bytes:
    raise AssertionError("stdin must not be read")


def _encrypted(tmp_path: Path, rt: api.Runtime, name: str = "s.json",
               plain: bytes = b'{"a": "secret", "n": {"b": 1}}') -> Path:
    path = tmp_path / name
    path.write_bytes(plain)
    out = Out()
    target = cryptflows.Target(str(path), stdin=_no_stdin, stdout=out)
    opts = api.EncryptOptions(key_groups=[[KeySpec("age", R1)]])
    cryptflows.encrypt(target, options=opts, runtime=rt)
    path.write_bytes(out.data)
    return path


def _plain(path: Path, rt: api.Runtime) -> object:
    out = Out()
    cryptflows.decrypt(cryptflows.Target(str(path), stdin=_no_stdin, stdout=out), runtime=rt)
    return json.loads(out.data)


def test_library_commands_do_not_import_click() -> None:
    code = ("import sys, secretsctl.cryptflows, secretsctl.keyflows, secretsctl.execflows, "
            "secretsctl.checks, secretsctl.gitdrivers, secretsctl.publish; "
            "print('click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ encrypt / decrypt

def test_encrypt_decrypt_round_trip_through_injected_streams(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    assert b"ENC[AES256_GCM," in path.read_bytes()
    assert _plain(path, rt) == {"a": "secret", "n": {"b": 1}}


def test_stdin_is_read_through_the_injected_source(tmp_path: Path, rt: api.Runtime) -> None:
    enc = _encrypted(tmp_path, rt).read_bytes()
    out = Out()
    target = cryptflows.Target(None, stdin=lambda: enc, stdout=out)
    cryptflows.decrypt(target, input_type="json", runtime=rt)
    assert json.loads(out.data)["a"] == "secret"


@pytest.mark.parametrize("file, in_place, output, message", [
    ("f.json", True, "o.json", "--in-place and --output"),
    (None, True, None, "--in-place when reading from stdin"),
])
def test_target_conflicts_are_sops_exit_8(file, in_place, output, message) -> None:
    with pytest.raises(ConflictingParameters) as err:
        cryptflows.Target(file, in_place=in_place, output=output, stdin=_no_stdin, stdout=Out())
    assert err.value.exit_code == ExitCode.CONFLICTING_PARAMETERS == 8
    assert message in err.value.message


def test_encrypt_from_stdin_needs_a_name_or_a_type(rt: api.Runtime) -> None:
    target = cryptflows.Target(None, stdin=lambda: b"{}", stdout=Out())
    with pytest.raises(ConflictingParameters, match="--filename-override or --input-type"):
        cryptflows.encrypt(target, runtime=rt)


def test_reuse_from_refuses_key_flags(tmp_path: Path, rt: api.Runtime) -> None:
    old = _encrypted(tmp_path, rt)
    target = cryptflows.Target(str(old), stdin=_no_stdin, stdout=Out())
    opts = api.EncryptOptions(key_groups=[[KeySpec("age", R2)]])
    with pytest.raises(ConflictingParameters, match="--reuse-from"):
        cryptflows.encrypt(target, options=opts, reuse_from=str(old), runtime=rt)


def test_decrypt_of_a_damaged_file_is_exit_1_as_sops(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SecretsctlError) as err:
        _plain(path, rt)
    assert err.value.exit_code == ExitCode.GENERIC


def test_decrypt_to_output_is_private(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    dest = tmp_path / "plain.json"
    cryptflows.decrypt(cryptflows.Target(str(path), output=str(dest), stdin=_no_stdin,
                                         stdout=Out()), runtime=rt)
    assert dest.stat().st_mode & 0o777 == 0o600
    assert json.loads(dest.read_bytes())["a"] == "secret"


def test_filestatus(tmp_path: Path, rt: api.Runtime) -> None:
    plain = tmp_path / "p.json"
    plain.write_text('{"a": 1}')
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert cryptflows.filestatus(str(_encrypted(tmp_path, rt)), runtime=rt) is True
    assert cryptflows.filestatus(str(plain), runtime=rt) is False
    assert cryptflows.filestatus(str(empty), runtime=rt) is False


# ------------------------------------------------------------------ rotate

def test_rotate_one_file_goes_to_stdout(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    before = path.read_bytes()
    out = Out()
    result = keyflows.rotate_files([str(path)], add=[KeySpec("age", R2)], remove=[], runtime=rt,
                                   stdout=out)
    assert result.report is None and path.read_bytes() == before
    rotated = tmp_path / "r.json"
    rotated.write_bytes(out.data)
    assert R2 in out.data.decode() and _plain(rotated, rt) == _plain(path, rt)


def test_rotate_several_files_needs_in_place_or_dry_run(tmp_path: Path, rt: api.Runtime) -> None:
    a, b = _encrypted(tmp_path, rt, "a.json"), _encrypted(tmp_path, rt, "b.json")
    with pytest.raises(ConflictingParameters, match="-i/--in-place or --dry-run"):
        keyflows.rotate_files([str(a), str(b)], add=[], remove=[], runtime=rt, stdout=Out())


@pytest.mark.parametrize("add, code", [([KeySpec("age", R2)], 49), ([], 2)])
def test_rotate_a_missing_file_has_sops_codes(tmp_path: Path, rt: api.Runtime, add, code) -> None:
    with pytest.raises(SecretsctlError) as err:
        keyflows.rotate_files([str(tmp_path / "none.json")], add=add, remove=[], runtime=rt,
                              stdout=Out())
    assert err.value.exit_code == code


def test_rotate_batch_reports_each_file(tmp_path: Path, rt: api.Runtime) -> None:
    good = _encrypted(tmp_path, rt, "good.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(good.read_bytes().replace(b'"mac": "ENC[', b'"mac": "ENC[x'))
    seen: list[str] = []
    hooks = keyflows.Hooks(on_done=lambda r, done, total: seen.append(r.path))
    before = good.read_bytes()
    result = keyflows.rotate_files([str(good), str(bad)], add=[], remove=[], in_place=True,
                                   jobs=1, runtime=rt, stdout=Out(), hooks=hooks)
    report = result.report
    assert report is not None
    assert sorted(seen) == sorted([str(good), str(bad)])
    assert good.read_bytes() != before and _plain(good, rt)["a"] == "secret"
    assert report.summary_line() == "rotated 1 of 2 file(s); 1 failed"
    [err] = report.errors()
    assert err.file == str(bad) and "\n" not in err.user_message()
    assert report.exit_code() == int(err.exit_code) != 0


def test_rotate_dry_run_returns_plans_and_writes_nothing(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    before = path.read_bytes()
    result = keyflows.rotate_files([str(path)], add=[KeySpec("age", R2)], remove=[], dry_run=True,
                                   runtime=rt, stdout=Out())
    assert path.read_bytes() == before
    [plan] = result.plans
    assert plan.rotate and any(R2 in line for line in plan.describe())
    assert result.report is not None and result.report.exit_code() == 0


# ------------------------------------------------------------------ updatekeys, groups, keys

def test_updatekeys_plans_then_applies(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {R1},{R2}\n")
    plan = keyflows.plan_updatekeys([str(path)], runtime=rt)
    [change] = plan.changing
    assert R2 not in path.read_text()           # planning writes nothing
    report = keyflows.apply_updatekeys(plan, runtime=rt)
    assert report.exit_code() == 0 and R2 in path.read_text()
    assert keyflows.plan_updatekeys([str(path)], runtime=rt).changing == []


def test_updatekeys_refuses_a_plan_that_changed(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    rules = tmp_path / ".sops.yaml"
    rules.write_text(f"creation_rules:\n  - age: {R1},{R2}\n")
    plan = keyflows.plan_updatekeys([str(path)], runtime=rt)
    rules.write_text(f"creation_rules:\n  - age: {R2}\n")   # changed after the user said yes
    report = keyflows.apply_updatekeys(plan, runtime=api.Runtime(environ=rt.environ, cwd=rt.cwd))
    assert report.exit_code() != 0 and "changed after the plan" in report.errors()[0].message
    assert R2 not in path.read_text()


def test_groups_add_then_delete(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    keys = keyflows.group_keys([KeySpec("age", R2)])
    keyflows.change_groups(str(path), keyflows.adding_group(keys), in_place=True, runtime=rt,
                           stdout=Out())
    assert len(json.loads(path.read_bytes())["sops"]["key_groups"]) == 2
    keyflows.change_groups(str(path), keyflows.deleting_group(1, 1), in_place=True, runtime=rt,
                           stdout=Out())
    assert "key_groups" not in json.loads(path.read_bytes())["sops"]
    assert _plain(path, rt)["a"] == "secret"


def test_keys_fail_on_old_is_exit_10(tmp_path: Path, rt: api.Runtime) -> None:
    path = _encrypted(tmp_path, rt)
    [status], report = keyflows.key_status([str(path)], max_age="1h", runtime=rt)
    assert report.exit_code() == 0 and status.data_key_age is not None
    from datetime import datetime, timedelta, timezone
    later = api.Runtime(environ=rt.environ, cwd=rt.cwd,
                        now=lambda: datetime.now(timezone.utc) + timedelta(hours=3))
    [old], report = keyflows.key_status([str(path)], max_age="1h", fail_on_old=True, runtime=later)
    assert old.needs_rotation and report.exit_code() == keyflows.OLD_KEY_EXIT == 10


# ------------------------------------------------------------------ reports

def _failed(path: str, code: int, message: str = "bad", multiline: bool = False) -> FileResult:
    err = SecretsctlError(message, exit_code=code)
    err.multiline = multiline
    return FileResult(path, ok=False, error=err)


def test_report_exit_codes() -> None:
    ok = FileResult("a")
    assert keyflows.Report(BatchOutcome([ok]), "x").exit_code() == 0
    same = BatchOutcome([ok, _failed("b", 128), _failed("c", 128)])
    assert keyflows.Report(same, "x").exit_code() == 128
    mixed = BatchOutcome([_failed("b", 128), _failed("c", 2)])
    assert keyflows.Report(mixed, "x").exit_code() == 1
    stopped = BatchOutcome([_failed("b", 2)], interrupted=True, not_started=["c"])
    report = keyflows.Report(stopped, "rotated")
    assert report.exit_code() == 130
    assert report.summary_line() == "rotated 0 of 2 file(s); 1 failed; 1 not started (interrupted)"


def test_report_cuts_a_multiline_error_to_one_line_in_a_batch() -> None:
    long = "could not decrypt the data key:\n  age: no identity\n  kms: denied"
    one = keyflows.Report(BatchOutcome([_failed("a", 128, long, multiline=True)]), "x")
    assert one.errors()[0].message == long                   # one file: the whole report
    two = keyflows.Report(BatchOutcome([_failed("a", 128, long, multiline=True), FileResult("b")]),
                          "x")
    [err] = two.errors()
    assert err.user_message() == "a: could not decrypt the data key:"


def test_processes_policy() -> None:
    assert keyflows.processes(1000, 1) == 1
    assert keyflows.processes(3, None) == 1
    assert 1 <= keyflows.processes(1000, None) <= 1000 // keyflows.FILES_PER_PROCESS


def test_validate_exit_code() -> None:
    good, bad = checks.Check("a", True), checks.Check("b", False, "MAC", "mismatch", 51)
    assert checks.exit_code([good]) == 0
    assert checks.exit_code([good, bad]) == 51
    assert checks.exit_code([bad, checks.Check("c", False, "x", "y", 2)]) == 1


# ------------------------------------------------------------------ export

def test_export_github_masks_first_then_appends(tmp_path: Path, rt: api.Runtime) -> None:
    source = execflows.Source(str(_encrypted(tmp_path, rt, plain=b'{"TOKEN": "s3cr3t"}')))
    env_file = tmp_path / "github_env"
    env_file.write_text("EARLIER=1\n")
    out = Out()
    execflows.export(source, fmt="github", sel=execflows.selection([]),
                     github_env=str(env_file), runtime=rt, stdout=out)
    assert out.data == b"::add-mask::s3cr3t\n"
    text = env_file.read_text()
    assert text.startswith("EARLIER=1\n") and "TOKEN" in text and "s3cr3t" in text


def test_export_github_needs_the_env_file(tmp_path: Path, rt: api.Runtime) -> None:
    source = execflows.Source(str(_encrypted(tmp_path, rt)))
    with pytest.raises(SecretsctlError, match="GITHUB_ENV"):
        execflows.export(source, fmt="github", sel=execflows.selection([]), runtime=rt,
                         stdout=Out())


def test_export_selection_and_sh(tmp_path: Path, rt: api.Runtime) -> None:
    source = execflows.Source(str(_encrypted(tmp_path, rt)))
    out = Out()
    execflows.export(source, fmt="sh", sel=execflows.selection(["a,n.b"]), runtime=rt, stdout=out)
    assert out.data == b"export a='secret'\nexport n__b='1'\n"


def test_exec_env_returns_the_child_status(tmp_path: Path, rt: api.Runtime) -> None:
    source = execflows.Source(str(_encrypted(tmp_path, rt)))
    code = execflows.exec_env(source, ["sh", "-c", 'test "$a" = secret && exit 7'], shell=False,
                              sel=execflows.selection(["a"]), runtime=rt,
                              environ={"PATH": "/usr/bin:/bin"})
    assert code == 7
