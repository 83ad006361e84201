"""Fixtures of the relay's tests: relays on loopback over zarr volumes (see ``_bosstest``).

These tests serve volumes of intern-zarr through intern-boss's relay, so they are cross-package tests; intern-boss's
own tests (``intern-boss/tests``) need no other driver.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from intern_boss.relay import RelayProcess

# the test modules share helpers in _bosstest; pytest's importlib mode does not put this folder on sys.path
sys.path.insert(0, str(Path(__file__).parent))
from _bosstest import LAB_MOUNTS, TOKEN, Lab, build_lab, relay_env  # noqa: E402


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A writable relay (token ``TOKEN``) over zarr volumes with known content."""
    root = tmp_path_factory.mktemp("lab")
    data = build_lab(root)
    relay = RelayProcess({k: f"zarr://{root}/{v}" for k, v in LAB_MOUNTS.items()}, tokens=[TOKEN], writable=True,
                         cache_dir=root / "cache", env=relay_env(root), log=root / "relay.log")
    relay.start()
    try:
        yield Lab(relay, root, data)
    finally:
        relay.close()


@pytest.fixture(scope="session")
def public(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """An anonymous, read-only relay over the lab's image volume (as ``pub/em/image``)."""
    root = tmp_path_factory.mktemp("public")
    relay = RelayProcess({"pub/em/image": f"zarr://{lab.root}/image.zarr?mode=r"}, cache_dir=root / "cache",
                         env=relay_env(root), log=root / "relay.log")
    relay.start()
    try:
        yield Lab(relay, root, lab.data)
    finally:
        relay.close()


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's ~/.intern/intern.cfg or INTERN_* settings."""
    monkeypatch.setenv("INTERN_CONFIG", str(tmp_path / "no-intern.cfg"))
    for key in list(os.environ):
        if key in ("INTERN_PROTOCOL", "INTERN_HOST", "INTERN_TOKEN") or key.startswith("INTERN_BOSSDB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("INTERN_BOSSDB_BACKOFF", "0.05")


@pytest.fixture
def as_lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The client configured for the lab relay (INTERN_PROTOCOL/HOST/TOKEN)."""
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", lab.host)
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    return lab
