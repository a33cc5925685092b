"""scripts/make-vectors rebuilds every committed vector byte for byte, and the
pinned sops binary decrypts each one to exactly expected/<name>.decrypted."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_vectors.py"


def test_make_vectors_check_reproduces_the_committed_vectors() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "byte for byte" in proc.stdout
