"""The makes framework's ``secretsForEnvFromSops`` run with secretsctl as ``sops``.

makes (fluidattacks/makes) exports secrets from a sops manifest with a small
bash template.  DRIVER below does what that template does, in our words and
with the same commands: one ``sops --decrypt --output-type json MANIFEST``,
then per variable ``jq -erc ".${var}"`` on its output, exported as the
variable name with each ``.`` replaced by ``__``; under makes's shell options
(errexit, pipefail, nounset, posix).  It then prints every exported variable
as ``NAME=VALUE`` NUL-terminated so that the two runs compare byte for byte.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from client_helpers import SIDES, path_env, recorded_calls, recording_sops_dir, sops_dirs
from conftest import KEYS, age_recipient

# Two quirks of the template are kept on purpose, since they are what makes
# users get: `export "X=$(…)"` returns export's status, not jq's, so a
# missing key is exported as the text `null` (jq -e's failure is masked);
# and the command substitution drops the value's trailing newlines.
DRIVER = r"""
set -o errexit -o pipefail -o nounset -o posix
manifest=$1
shift
load_secrets() {
  decrypted="$(sops --decrypt --output-type json "${manifest}")" \
    && for var in "$@"; do
      export "${var//./__}=$(echo "${decrypted}" | jq -erc ".${var}")" || return 1
    done
}
load_secrets "$@"
for var in "$@"; do
  name="${var//./__}"
  printf '%s=%s\0' "${name}" "${!name}"
done
"""

YAML = """\
API_TOKEN: s3cr3t
db:
    password: "p@ss \\"double\\" 'single' `tick` $HOME \\\\ back"
    port: 5432
    replicas: [a, b]
cert: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
uni: "héllo ☃ 日本 \\U0001F600"
ratio: 0.1
negative: -42
big: 1e21
huge: 9007199254740993
flag: true
none: null
empty: ""
spaced: "  padded  "
"""

JSON = """\
{"API_TOKEN": "from json", "nested": {"deep": {"key": "v", "n": 1.0}},
 "text": "line1\\nline2\\n", "num": 3.14159, "exp": 2.5e-8, "arr": [1, "two", null]}
"""

DOTENV = "API_TOKEN=from dotenv\nMULTI=line1\\nline2\nQUOTED=\"kept\"\nNUM=42\n"

YAML_VARS = ["API_TOKEN", "db.password", "db.port", "db.replicas", "db", "cert", "uni", "ratio",
             "negative", "big", "huge", "flag", "none", "empty", "spaced", "missing", "db.missing"]
TOKENS = {"yaml": "s3cr3t", "json": "from json", "dotenv": "from dotenv"}
CASES = {
    "yaml": ("secrets.yaml", YAML, YAML_VARS),
    "json": ("secrets.json", JSON, ["API_TOKEN", "nested.deep.key", "nested.deep.n", "nested",
                                    "text", "num", "exp", "arr", "missing"]),
    "dotenv": ("secrets.env", DOTENV, ["API_TOKEN", "MULTI", "QUOTED", "NUM", "missing"]),
}


def encrypt_manifest(sops, tmp_path: Path, name: str, plain: str) -> Path:
    """``name`` in ``tmp_path``, encrypted by the real sops for age test key 1."""
    (tmp_path / ("plain-" + name)).write_text(plain)
    res = sops(["encrypt", "--age", age_recipient(1), "--output", name, "plain-" + name], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return tmp_path / name


def run_driver(env: dict[str, str], bindir: Path, manifest: Path | str, names: list[str],
               cwd: Path) -> subprocess.CompletedProcess:
    """Run DRIVER with ``bindir``'s sops first on PATH."""
    return subprocess.run(["bash", "-c", DRIVER, "secrets-for-env", str(manifest), *names],
                          env=path_env(env, bindir), cwd=cwd, capture_output=True, timeout=60)


def exported(res: subprocess.CompletedProcess) -> dict[str, str]:
    """The driver's ``NAME=VALUE`` records as a dict."""
    records = res.stdout.split(b"\0")[:-1]
    return dict(r.decode().split("=", 1) for r in records)


def both(base_env, dirs, manifest, names, cwd) -> dict[str, subprocess.CompletedProcess]:
    """The driver's result with the real sops and with the shim."""
    return {side: run_driver(base_env, dirs[side], manifest, names, cwd) for side in SIDES}


@pytest.fixture
def dirs(real_sops_dir: Path, sops_shim_dir: Path) -> dict[str, Path]:
    return sops_dirs(real_sops_dir, sops_shim_dir)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_exports_identical_variables(fmt, sops, base_env, dirs, tmp_path) -> None:
    name, plain, names = CASES[fmt]
    manifest = encrypt_manifest(sops, tmp_path, name, plain)
    res = both(base_env, dirs, manifest, names, tmp_path)
    assert res["real"].returncode == 0, res["real"].stderr
    real = exported(res["real"])
    assert list(real) == [n.replace(".", "__") for n in names]
    assert real["API_TOKEN"] == TOKENS[fmt]
    assert real["missing"] == "null"  # the template's masked jq failure, see above
    assert res["shim"].returncode == 0, res["shim"].stderr.decode()
    assert res["shim"].stdout == res["real"].stdout, (exported(res["shim"]), real)


def test_yaml_values_seen_by_makes(sops, base_env, dirs, tmp_path) -> None:
    """Pin what the real sops gives makes users, so that the comparison above
    cannot pass on two equally empty outputs."""
    manifest = encrypt_manifest(sops, tmp_path, "secrets.yaml", YAML)
    real = exported(run_driver(base_env, dirs["real"], manifest, YAML_VARS, tmp_path))
    assert real["db__password"] == "p@ss \"double\" 'single' `tick` $HOME \\ back"
    assert real["db__port"] == "5432"
    assert real["db__replicas"] == '["a","b"]'
    assert real["db"] == '{"password":"p@ss \\"double\\" \'single\' `tick` $HOME \\\\ back",' \
                         '"port":5432,"replicas":["a","b"]}'
    assert real["cert"] == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert real["uni"] == "héllo ☃ 日本 \U0001F600"
    assert (real["ratio"], real["negative"], real["flag"]) == ("0.1", "-42", "true")
    assert (real["none"], real["empty"], real["spaced"]) == ("null", "", "  padded  ")
    assert real["db__missing"] == "null"


def test_calls_sops_once_with_the_legacy_form(sops, base_env, dirs, sops_bin, tmp_path) -> None:
    """The command line docs/clients-command-lines.md lists for makes."""
    manifest = encrypt_manifest(sops, tmp_path, "secrets.yaml", YAML)
    log = tmp_path / "calls"
    rec = recording_sops_dir(tmp_path / "rec", Path(sops_bin), log)
    assert run_driver(base_env, rec, manifest, ["API_TOKEN", "db.port"], tmp_path).returncode == 0
    assert recorded_calls(log) == [["--decrypt", "--output-type", "json", str(manifest)]]


@pytest.mark.parametrize("case", ["list-index", "no-key", "no-file", "not-encrypted"])
def test_failures_exit_alike(case, sops, base_env, dirs, tmp_path) -> None:
    """A failing sops (or jq) stops the template with the same exit code and
    exports nothing, with either binary."""
    manifest: Path | str = encrypt_manifest(sops, tmp_path, "secrets.yaml", YAML)
    names, env = ["API_TOKEN"], base_env
    if case == "list-index":
        names = ["API_TOKEN", "db.replicas[0]"]  # not a variable name: export fails
    elif case == "no-key":
        env = {**base_env, "SOPS_AGE_KEY_FILE": str(KEYS / "age-test-2.txt")}
    elif case == "no-file":
        manifest = tmp_path / "absent.yaml"
    else:
        manifest = tmp_path / "plain.yaml"
        manifest.write_text(YAML)
    res = both(env, dirs, manifest, names, tmp_path)
    assert res["real"].returncode != 0
    assert res["real"].stdout == b""
    assert (res["shim"].returncode, res["shim"].stdout) == (res["real"].returncode, b""), \
        res["shim"].stderr.decode()
