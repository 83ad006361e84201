"""Fixtures of intern-boss's own tests: the client's project API against a small Boss in memory (``_miniboss``),
and the Boss dialect's wire format. They need intern-core and intern-boss alone; the relay's tests, which serve
Zarr volumes, are cross-package tests in the repository's ``tests/boss_relay/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the test modules share helpers in _miniboss; pytest's importlib mode does not put this folder on sys.path
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's ~/.intern/intern.cfg or INTERN_* settings."""
    monkeypatch.setenv("INTERN_CONFIG", str(tmp_path / "no-intern.cfg"))
    for key in list(os.environ):
        if key in ("INTERN_PROTOCOL", "INTERN_HOST", "INTERN_TOKEN") or key.startswith("INTERN_BOSSDB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("INTERN_BOSSDB_BACKOFF", "0.05")
