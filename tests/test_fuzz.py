"""The fuzzing budget CI runs: 10,000 generated cases in-process, derandomized.

Every store in both directions with planted marker secrets (see
tests/fuzz_harness.py): no exception other than ``SecretsctlError``, no
marker in any error message, our own ciphertext always decrypts.
``scripts/fuzz --cases N`` runs more, with a random seed.
"""
from __future__ import annotations

import pytest

import fuzz_harness

BUDGET = 10_000


@pytest.mark.fuzz
def test_fuzz_budget_finds_nothing():
    findings = fuzz_harness.run(BUDGET, derandomize=True)
    assert sum(findings.cases.values()) >= BUDGET
    assert len(findings.cases) == 2 * len(fuzz_harness.FORMATS)
    # The mutations reach deep: authentication, MAC and metadata errors all occur.
    assert {"DecryptError", "MacMismatch", "MetadataError", "InputError"} <= set(findings.errors)
    assert not findings.found, findings.report()


def test_harness_sees_a_leak_and_a_crash():
    """The oracle itself: a message quoting a marker and a stray exception are findings."""
    from secretsctl.errors import SecretsctlError
    h = fuzz_harness.Harness()

    def leak() -> None:
        raise SecretsctlError(f"bad value {fuzz_harness.marker(42)}")

    def crash() -> None:
        raise KeyError("x")
    h._guard("t", b"", leak)
    h._guard("t", b"", crash)
    assert sorted(c.split(":")[0] for c in h.findings.found) == ["crash", "leak"]
