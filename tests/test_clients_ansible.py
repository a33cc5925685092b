"""Ansible's community.sops collection with the real sops and with the shim.

ansible-core comes from the ``test`` extra, the collection from the pinned
``ansible`` wheel (scripts/client_sources.py).  Each test writes a playbook
into its own project directory per side, runs ``ansible-playbook`` against
localhost, and reads back the JSON that the playbook's last task writes: the
decrypted values, ``changed`` flags and error codes.  The real run is
checked against the expected values, then the shim run must equal it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from client_helpers import (SIDES, VENV_BIN, client_source, path_env, pre_3_9_sops_dir, recorded_calls,
                            recording_sops_dir, sops_dirs)
from conftest import age_recipient

COLLECTIONS = "ansible-12.3.0-collections"
VERSION_LINE = re.compile(r"^sops ([0-9]+)\.([0-9]+)\.([0-9]+)")  # community.sops's own pattern

DATA = """\
a: 1
b: two
c:
    d: héllo ☃
text: |
    line one
    line "two"
ratio: 0.5
flag: false
"""
EXPECTED = {"a": 1, "b": "two", "c": {"d": "héllo ☃"}, "text": 'line one\nline "two"\n',
            "ratio": 0.5, "flag": False}

CONFIG = """\
[defaults]
inventory = inventory.ini
collections_path = {collections}
collections_scan_sys_path = False
local_tmp = {project}/.ansible-tmp
interpreter_python = {python}
retry_files_enabled = False
"""

PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
{tasks}
    - name: write what the test compares
      ansible.builtin.copy:
        dest: "{{{{ playbook_dir }}}}/result.json"
        content: "{{{{ result | to_nice_json }}}}"
"""


def encrypt_to(sops, path: Path, plain: str, recipient: str = "", fmt: str = "yaml") -> None:
    """Write ``plain`` encrypted by the real sops (age test key 1 unless ``recipient``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    res = sops(["encrypt", "--age", recipient or age_recipient(1), "--input-type", fmt,
                "--output-type", fmt, "--filename-override", path.name, "/dev/stdin"],
               input=plain.encode())
    assert res.returncode == 0, res.stderr
    path.write_bytes(res.stdout)


def make_project(root: Path, sops) -> Path:
    """A project with encrypted data and an ansible.cfg."""
    root.mkdir()
    encrypt_to(sops, root / "data.sops.yaml", DATA)
    encrypt_to(sops, root / "data.sops.json", json.dumps(EXPECTED), fmt="json")
    encrypt_to(sops, root / "other-key.sops.yaml", "k: v\n", recipient=age_recipient(2))
    (root / "out").mkdir()  # for sops_encrypt, which does not create directories
    (root / "inventory.ini").write_text("localhost ansible_connection=local\n")
    (root / "ansible.cfg").write_text(CONFIG.format(
        collections=client_source(COLLECTIONS), project=root, python=sys.executable))
    return root


def run_playbook(project: Path, bindir: Path, env: dict[str, str], tasks: str,
                 **extra_env: str) -> dict:
    """Run ``tasks`` with ``bindir``'s sops first on PATH; the playbook's ``result``."""
    (project / "play.yml").write_text(PLAY.format(tasks=tasks))
    result = project / "result.json"
    result.unlink(missing_ok=True)
    env = path_env(env, bindir, ANSIBLE_CONFIG=str(project / "ansible.cfg"),
                   ANSIBLE_HOME=str(project / ".ansible"), ANSIBLE_NOCOLOR="1", **extra_env)
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "play.yml"], cwd=project, env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0 and result.exists(), (bindir.name, failure_lines(proc))
    return json.loads(result.read_text())


def failure_lines(proc: subprocess.CompletedProcess) -> str:
    """The lines of a failed play that say which task failed and why (sops's stderr included)."""
    text = (proc.stdout + proc.stderr).decode()
    lines = [line for line in text.splitlines() if line.startswith(("[ERROR]", "fatal:", "Error:"))]
    return "\n".join(lines) or text[-1500:]


@pytest.fixture
def projects(sops, tmp_path: Path) -> dict[str, Path]:
    """One identical project per side (the same encrypted files, copied)."""
    real = make_project(tmp_path / "real", sops)
    shim = tmp_path / "shim"
    shutil.copytree(real, shim)
    (shim / "ansible.cfg").write_text((real / "ansible.cfg").read_text().replace(str(real), str(shim)))
    return {"real": real, "shim": shim}


@pytest.fixture
def dirs(real_sops_dir: Path, sops_shim_dir: Path) -> dict[str, Path]:
    return sops_dirs(real_sops_dir, sops_shim_dir)


def both(projects, dirs, env, tasks, check, **extra_env) -> dict[str, dict]:
    """Run ``tasks`` with the real sops, ``check`` its result, then with the shim.

    Checking first proves the test on the real binary even while the shim fails.
    """
    real = run_playbook(projects["real"], dirs["real"], env, tasks, **extra_env)
    check(real)
    return {"real": real, "shim": run_playbook(projects["shim"], dirs["shim"], env, tasks, **extra_env)}


def test_version_line_is_parsed_as_sops_3_9_or_later(base_env, dirs) -> None:
    """community.sops picks its command form from this line (docs/clients-command-lines.md)."""
    for side in SIDES:
        proc = subprocess.run(["sops", "--version", "--disable-version-check"], capture_output=True,
                              env=path_env(base_env, dirs[side]), timeout=60)
        assert proc.returncode == 0, (side, proc.stderr.decode())
        match = VERSION_LINE.match(proc.stdout.decode())
        assert match and tuple(map(int, match.groups())) >= (3, 9, 0), (side, proc.stdout)


LOOKUP = """\
    - ansible.builtin.set_fact:
        result:
          parsed: "{{ lookup('community.sops.sops', 'data.sops.yaml') | from_yaml }}"
          raw: "{{ lookup('community.sops.sops', 'data.sops.yaml', rstrip=false) }}"
          as_json: "{{ lookup('community.sops.sops', 'data.sops.yaml', output_type='json') }}"
          extract: "{{ lookup('community.sops.sops', 'data.sops.yaml', extract='[\\"c\\"][\\"d\\"]') }}"
          from_json: "{{ lookup('community.sops.sops', 'data.sops.json') }}"
          absent: "{{ lookup('community.sops.sops', 'absent.sops.yaml', empty_on_not_exist=true) }}"
    - block:
        - ansible.builtin.set_fact:
            never: "{{ lookup('community.sops.sops', 'other-key.sops.yaml') }}"
      rescue:
        - ansible.builtin.set_fact:
            result: "{{ result | combine({'no_key': ansible_failed_result.msg}) }}"
"""


def equal(real: dict, expected: dict) -> None:
    """A ``check`` for :func:`both`."""
    assert real == expected


def exit_code_of(message: str) -> str:
    """The sops error name and code in community.sops's message (its text is the tool's own)."""
    match = re.search(r"(\w+) exited with code (\d+)", message)
    return match.group(0) if match else message


def check_lookup(real: dict) -> None:
    assert real["parsed"] == EXPECTED
    assert real["raw"].endswith('line "two"\nratio: 0.5\nflag: false\n')
    assert json.loads(real["as_json"]) == EXPECTED and json.loads(real["from_json"]) == EXPECTED
    assert (real["extract"], real["absent"]) == ("héllo ☃", "")
    assert exit_code_of(real["no_key"]) == "CouldNotRetrieveKey exited with code 128"


def test_lookup(projects, dirs, base_env) -> None:
    res = both(projects, dirs, base_env, LOOKUP, check_lookup)
    for result in res.values():
        result["no_key"] = exit_code_of(result["no_key"])
    assert res["shim"] == res["real"]


FILTER = """\
    - ansible.builtin.set_fact:
        result:
          yaml: "{{ lookup('ansible.builtin.file', 'data.sops.yaml') | community.sops.decrypt | from_yaml }}"
          raw: "{{ lookup('ansible.builtin.file', 'data.sops.yaml') | community.sops.decrypt(rstrip=false) }}"
          json: "{{ lookup('ansible.builtin.file', 'data.sops.json')
                    | community.sops.decrypt(input_type='json', output_type='json') }}"
          to_json: "{{ lookup('ansible.builtin.file', 'data.sops.yaml') | community.sops.decrypt(output_type='json') }}"
"""


def check_filter(real: dict) -> None:
    assert real["yaml"] == EXPECTED
    assert json.loads(real["json"]) == EXPECTED and json.loads(real["to_json"]) == EXPECTED
    assert real["raw"].startswith("a: 1\nb: two\n")


def test_decrypt_filter(projects, dirs, base_env) -> None:
    res = both(projects, dirs, base_env, FILTER, check_filter)
    assert res["shim"] == res["real"]


LOAD_VARS = """\
    - community.sops.load_vars:
        file: data.sops.yaml
        name: loaded
    - community.sops.load_vars:
        file: data.sops.json
    - ansible.builtin.set_fact:
        result: {loaded: "{{ loaded }}", top_level_b: "{{ b }}", top_level_c: "{{ c }}"}
"""


def test_load_vars(projects, dirs, base_env) -> None:
    expected = {"loaded": EXPECTED, "top_level_b": "two", "top_level_c": {"d": "héllo ☃"}}
    res = both(projects, dirs, base_env, LOAD_VARS, lambda real: equal(real, expected))
    assert res["shim"] == res["real"]


VARS_PLUGIN = """\
    - ansible.builtin.set_fact:
        result:
          hv_secret: "{{ hv_secret }}"
          hv_list: "{{ hv_list }}"
          gv_secret: "{{ gv_secret }}"
          gv_json: "{{ gv_json }}"
          gv_plain: "{{ gv_plain }}"
"""


def test_vars_plugin(projects, dirs, base_env, sops) -> None:
    """host_vars/group_vars ``*.sops.*`` files.  An unencrypted one is skipped by
    this plugin (it asks ``sops filestatus``; without the skip setting it fails
    the play) and still loaded as plain YAML by ansible's host_group_vars."""
    real = projects["real"]
    encrypt_to(sops, real / "host_vars" / "localhost.sops.yaml", "hv_secret: host\nhv_list: [1, x]\n")
    encrypt_to(sops, real / "group_vars" / "all.sops.yaml", "gv_secret: group\n")
    encrypt_to(sops, real / "group_vars" / "all" / "more.sops.json", '{"gv_json": {"n": 2}}', fmt="json")
    (real / "group_vars" / "all" / "plain.sops.yaml").write_text("gv_plain: never loaded\n")
    for name in ("host_vars", "group_vars"):
        shutil.copytree(real / name, projects["shim"] / name)
    expected = {"hv_secret": "host", "hv_list": [1, "x"], "gv_secret": "group",
                "gv_json": {"n": 2}, "gv_plain": "never loaded"}
    res = both(projects, dirs, base_env, VARS_PLUGIN, lambda real: equal(real, expected),
               ANSIBLE_VARS_SOPS_PLUGIN_HANDLE_UNENCRYPTED_FILES="skip",
               ANSIBLE_VARS_ENABLED="host_group_vars,community.sops.sops")
    assert res["shim"] == res["real"]


ENCRYPT = """\
    - community.sops.sops_encrypt:
        path: "{{ playbook_dir }}/out/secret.sops.yaml"
        content_yaml: YAML_CONTENT
        age: [RECIPIENT]
      register: as_yaml
    - community.sops.sops_encrypt:
        path: "{{ playbook_dir }}/out/secret.sops.json"
        content_json: {token: "t0k", n: 3}
        age: [RECIPIENT]
      register: as_json
    - community.sops.sops_encrypt:
        path: "{{ playbook_dir }}/out/secret.txt"
        content_text: "multi\\nline ☃\\n"
        age: [RECIPIENT]
      register: as_text
    - ansible.builtin.set_fact:
        result: {yaml: "{{ as_yaml.changed }}", json: "{{ as_json.changed }}", text: "{{ as_text.changed }}"}
"""


def encrypt_three_times(project: Path, bindir: Path, env: dict[str, str], sops) -> tuple[list, dict]:
    """Write, re-run unchanged, re-run with new YAML content: the changed flags of
    each run and the files' plaintext (decrypted by the real sops) at the end."""
    changed = []
    for content in ("{x: 1, y: z}", "{x: 1, y: z}", "{x: 2, y: z}"):
        tasks = ENCRYPT.replace("YAML_CONTENT", content).replace("RECIPIENT", age_recipient(1))
        changed.append(run_playbook(project, bindir, env, tasks))
    plain = {name: sops(["decrypt", str(project / "out" / name)]).stdout
             for name in ("secret.sops.yaml", "secret.sops.json", "secret.txt")}
    return changed, plain


def test_sops_encrypt_and_its_idempotent_rerun(projects, dirs, base_env, sops) -> None:
    """First run writes (changed), the re-run decrypts, compares and leaves the
    files alone (not changed), new content writes again; and what was written
    decrypts with the real sops to the same plaintext on both sides."""
    real = encrypt_three_times(projects["real"], dirs["real"], base_env, sops)
    yes, no = {"yaml": True, "json": True, "text": True}, {"yaml": False, "json": False, "text": False}
    assert real[0] == [yes, no, {**no, "yaml": True}]
    # PyYAML (in the module) quotes the key "y", a YAML 1.1 boolean; sops keeps it.
    assert real[1] == {"secret.sops.yaml": b'x: 2\n"y": z\n',
                       "secret.sops.json": b'{\n\t"token": "t0k",\n\t"n": 3\n}\n',
                       "secret.txt": "multi\nline ☃\n".encode()}
    assert encrypt_three_times(projects["shim"], dirs["shim"], base_env, sops) == real


def test_collection_is_the_pinned_one() -> None:
    manifest = client_source(COLLECTIONS) / "ansible_collections" / "community" / "sops" / "MANIFEST.json"
    assert json.loads(manifest.read_text())["collection_info"]["version"] == "2.2.7"


CALLS = """\
    - community.sops.load_vars: {file: data.sops.yaml, name: loaded}
    - &encrypt
      community.sops.sops_encrypt: {path: "{{ playbook_dir }}/out/s.sops.yaml", content_yaml: {k: v}, age: [RECIPIENT]}
    - *encrypt
    - ansible.builtin.set_fact:
        result:
          lookup: "{{ lookup('community.sops.sops', 'data.sops.yaml') }}"
          filter: "{{ lookup('ansible.builtin.file', 'data.sops.yaml') | community.sops.decrypt }}"
"""


def test_command_lines_sent_to_sops(projects, sops_bin, base_env, tmp_path) -> None:
    """What docs/clients-command-lines.md lists for community.sops with sops >= 3.9."""
    log = tmp_path / "calls"
    rec = recording_sops_dir(tmp_path / "rec", Path(sops_bin), log)
    project = projects["real"]
    run_playbook(project, rec, base_env, CALLS.replace("RECIPIENT", age_recipient(1)))
    probe = ["--version", "--disable-version-check"]
    calls = [c for c in recorded_calls(log, {str(project): "P"}) if c != probe]
    assert calls == [
        ["decrypt", "P/data.sops.yaml"],
        ["encrypt", "--age", age_recipient(1), "--input-type", "yaml", "--output-type", "yaml",
         "--filename-override", "s.sops.yaml", "/dev/stdin"],
        ["decrypt", "--output-type", "yaml", "P/out/s.sops.yaml"],
        ["decrypt", "P/data.sops.yaml"],
        ["decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
    ]
    assert len(recorded_calls(log)) > len(calls)  # and the version probe before them


def test_legacy_form_when_the_version_probe_fails(projects, dirs, base_env, tmp_path) -> None:
    """With a sops whose ``--version`` fails the collection sends the pre-3.9 flag
    form (docs/clients-command-lines.md); the shim must answer it as sops does."""
    old = {side: pre_3_9_sops_dir(tmp_path / f"old-{side}", dirs[side] / "sops") for side in SIDES}
    log = tmp_path / "calls"
    old["real"] = recording_sops_dir(tmp_path / "rec", old["real"] / "sops", log)
    res = both(projects, old, base_env, CALLS.replace("RECIPIENT", age_recipient(1)), check_lookup_text)
    assert ["--output-type", "yaml", "--decrypt", str(projects["real"] / "out" / "s.sops.yaml")] \
        in recorded_calls(log)
    assert res["shim"] == res["real"]
    assert (projects["shim"] / "out" / "s.sops.yaml").exists()


def check_lookup_text(real: dict) -> None:
    """A ``check`` for the result of CALLS."""
    assert real["lookup"] == DATA.rstrip() and real["filter"] == DATA.rstrip()
