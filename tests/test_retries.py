"""A copy against a dead or failing server costs the transport's retry policy once, not once per job retry.

The servers are real (the DVID test server, a lab relay behind a server that fails as told, a port nobody listens on);
what is counted is what the server saw.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import intern
from intern.errors import TransferError
from intern.testing.servers import FaultyServer
from intern_dvid.testing import DvidTestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "intern-boss" / "tests"))
from _bosstest import TOKEN, relay_env  # noqa: E402


@pytest.fixture(autouse=True)
def quick_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client tries four times (retries=3) with next to no waiting; copies journal under tmp_path."""
    monkeypatch.setenv("INTERN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INTERN_CONFIG", str(tmp_path / "no-intern.cfg"))
    for scheme in ("DVID", "BOSSDB"):
        monkeypatch.setenv(f"INTERN_{scheme}_RETRIES", "3")
        monkeypatch.setenv(f"INTERN_{scheme}_BACKOFF", "0.001")


def test_a_copy_unit_from_a_failing_dvid_costs_the_policys_tries_once() -> None:
    with DvidTestServer() as server:
        src = intern.create(f"dvid://{server.address}/{server.new_repo()}/gray", shape=(8, 32, 32), dtype="uint8",
                            chunks=(8, 32, 32))
        src[...] = 7
        server.requests.clear()
        server.fail_next(1000, status=503)
        with pytest.raises(TransferError, match="503") as info:
            intern.copy(src, "mem://retries/from-dvid", progress=False, verify=False)
        reads = [p for m, p in server.requests if m == "GET" and "/raw/" in p]
        assert len(reads) == 4, f"one unit, one chunk: 4 tries, not {len(reads)}"
        assert "after 4 tries" in str(info.value)


def test_a_copy_unit_into_a_failing_boss_costs_the_policys_tries_once(tmp_path: Path) -> None:
    """The destination resets every cutout write once the copy has opened it."""
    from intern_boss.relay import RelayProcess

    store = tmp_path / "dest.zarr"
    intern.create(f"zarr://{store}", shape=(16, 64, 64), dtype="uint8", chunks=(16, 64, 64), voxel_size=(40, 8, 8))
    relay = RelayProcess({"lab/em/dest": f"zarr://{store}"}, tokens=[TOKEN], writable=True,
                         cache_dir=tmp_path / "cache-relay", env=relay_env(tmp_path), log=tmp_path / "relay.log")
    relay.start()
    try:
        with FaultyServer(upstream=relay.url) as faulty:
            dest = intern.array(f"bossdb://{faulty.url}/lab/em/dest", token=TOKEN)
            src = intern.create("mem://retries/to-boss", shape=(16, 64, 64), dtype="uint8", chunks=(16, 64, 64))
            src[...] = 1
            faulty.reset(-1, match="/v1/cutout/")
            with pytest.raises(TransferError, match="after 4 tries"):
                intern.copy(src, dest, progress=False, verify=False)
            assert faulty.count("POST", "/v1/cutout/") == 4
    finally:
        relay.close()


def test_a_dead_server_costs_the_policys_tries_once(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens any more: every try is refused, so no server can count them; the client's log of its retries
    does. One unit of one chunk: three waits (four tries), not four times as many."""
    with DvidTestServer() as server:
        src = intern.create(f"dvid://{server.address}/{server.new_repo()}/gray", shape=(8, 32, 32), dtype="uint8",
                            chunks=(8, 32, 32))
    with caplog.at_level(logging.INFO, logger="intern.http"), pytest.raises(TransferError, match="after 4 tries"):
        intern.copy(src, "mem://retries/dead", progress=False, verify=False)
    waits = [r.getMessage() for r in caplog.records if "again in" in r.getMessage()]
    assert len(waits) == 3 and all("no connection" in w for w in waits), waits
