"""Retries through relays: a read against a failing Boss costs the retry policy's tries once, however many relays
stand between the client and the Boss.

Every hop (the client, each relay's own client) tries four times (``retries=3``). The Boss is the small one of
``_miniboss`` behind a :class:`~intern.testing.servers.FaultyServer`, which fails cutouts as told and counts the
tries that reach it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from _miniboss import MiniBoss

import intern
from intern.errors import TransientRemoteError
from intern.testing.servers import FaultyServer
from intern_boss.relay import RelayProcess

RETRIES = {"INTERN_BOSSDB_RETRIES": "3", "INTERN_BOSSDB_BACKOFF": "0.001"}
CUTOUTS = "/v1/cutout/"


@pytest.fixture
def boss(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FaultyServer, np.ndarray]]:
    """A Boss holding ``lab/em/image`` (16 x 64 x 64, less than one cuboid), behind a server that fails as told."""
    for key, value in RETRIES.items():
        monkeypatch.setenv(key, value)
    server = MiniBoss()
    data = np.random.default_rng(5).integers(0, 255, (16, 64, 64), dtype=np.uint8)
    intern.create(f"bossdb://{server.url}/lab/em/image", shape=data.shape, dtype="uint8", voxel_size=(40, 4, 4))[
        ...] = data
    try:
        with FaultyServer(upstream=server.url) as faulty:
            yield faulty, data
    finally:
        server.close()


def _chain(first_upstream: str, hops: int, tmp_path: Path, env: dict[str, str]) -> list[RelayProcess]:
    """``hops`` relays, each serving the one before it (the first serves ``first_upstream``) as ``lab/em/image``."""
    relays: list[RelayProcess] = []
    upstream = first_upstream
    try:
        for i in range(hops):
            relay = RelayProcess({"lab/em/image": f"bossdb://{upstream}/lab/em/image"}, cache_dir=tmp_path / f"c{i}",
                                 env={"INTERN_CONFIG": str(tmp_path / "no-intern.cfg"), **env},
                                 log=tmp_path / f"relay{i}.log").start()
            relays.append(relay)
            upstream = relay.url
    except BaseException:
        for relay in relays:
            relay.close()
        raise
    return relays


@pytest.mark.parametrize("hops", [1, 2])
def test_a_read_through_relays_costs_the_policys_tries_once(boss: tuple[FaultyServer, np.ndarray], hops: int,
                                                            tmp_path: Path) -> None:
    faulty, data = boss
    relays = _chain(faulty.url, hops, tmp_path, RETRIES)
    try:
        front = intern.array(f"bossdb://{relays[-1].url}/lab/em/image")  # every relay opens its upstream
        faulty.fail(-1, status=503, match=CUTOUTS)
        # a relay that lost its upstream opens it again at most every 2 s: with the tests' short waits, that would
        # hide the retries that with real waits (0.5 s, doubling) each reach the upstream again
        time.sleep(2.1)
        with pytest.raises(TransientRemoteError, match="503") as info:
            front[0:16, 0:64, 0:64]
        tries = faulty.count("GET", CUTOUTS)
        assert tries == 4, f"one read through {hops} relay(s) reached the failing Boss {tries} times, not 4"
        assert info.value.attempts == 4
        # on the wire: the front relay says how many tries its upstream's failure took
        answer = requests.get(f"{relays[-1].url}/v1/cutout/lab/em/image/0/0:64/0:64/0:16/", timeout=30)
        assert answer.status_code == 503 and answer.headers.get("Intern-Attempts") == "4"
    finally:
        for relay in reversed(relays):
            relay.close()


def test_a_relay_that_did_not_retry_lets_the_client_retry(boss: tuple[FaultyServer, np.ndarray],
                                                          tmp_path: Path) -> None:
    """The relay tries its upstream once (``retries=0``): its 503 says nothing of tries, and the client retries it."""
    faulty, _ = boss
    (relay,) = _chain(faulty.url, 1, tmp_path, {**RETRIES, "INTERN_BOSSDB_RETRIES": "0"})
    try:
        front = intern.array(f"bossdb://{relay.url}/lab/em/image")
        faulty.fail(-1, status=503, match=CUTOUTS)
        with pytest.raises(TransientRemoteError, match="after 4 tries") as info:
            front[0:16, 0:64, 0:64]
        assert info.value.attempts == 4
        # each of the client's tries costs the upstream one at most (a relay that lost its upstream opens it again
        # at most every 2 s, answering 503 at once in between)
        assert 1 <= faulty.count("GET", CUTOUTS) <= 4
        answer = requests.get(f"{relay.url}/v1/cutout/lab/em/image/0/0:64/0:64/0:16/", timeout=30)
        assert answer.status_code == 503 and "Intern-Attempts" not in answer.headers
    finally:
        relay.close()
