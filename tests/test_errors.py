"""The error hierarchy: one class per sops exit code; an exception is never changed once raised."""
from __future__ import annotations

import copy
import inspect

from secretsctl import errors
from secretsctl.datakey import DataKeyUnavailable, KeyAttempt
from secretsctl.errors import ExitCode, SecretsctlError


def _classes() -> list[type[SecretsctlError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, SecretsctlError)]


def test_every_exit_code_has_its_class():
    codes = {int(c.exit_code) for c in _classes()}
    missing = [code.name for code in ExitCode if code is not ExitCode.OK and int(code) not in codes]
    assert missing == []


def test_with_file_and_friends_return_new_exceptions():
    original = errors.DecryptError("could not decrypt value")
    named = original.with_file("a.yaml").with_tree_path('["x"]').with_exit_code(1)
    assert named is not original and type(named) is errors.DecryptError
    assert (original.file, original.tree_path, original.exit_code) == (None, None, 25)
    assert (named.file, named.tree_path, named.exit_code) == ("a.yaml", '["x"]', 1)
    assert named.user_message() == 'a.yaml: ["x"]: could not decrypt value'
    assert original.with_file(None) is original
    assert named.with_file("b.yaml").file == "a.yaml"   # the first boundary's file stays


def test_copies_keep_subclass_state():
    exc = DataKeyUnavailable("report", [KeyAttempt(0, "age1x", False, "no identity")], 1, 1)
    named = exc.with_file("f.yaml")
    assert isinstance(named, DataKeyUnavailable) and named.attempts == exc.attempts
    assert named.groups == 1 and named.multiline and copy.copy(exc).attempts == exc.attempts
    assert exc.file is None
