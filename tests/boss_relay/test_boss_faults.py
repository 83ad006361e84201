"""The client's retry policy (and a relay's answers) against a real, misbehaving server: a proxy on loopback in front
of the lab relay that answers 503, or stalls, a set number of times before it forwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _bosstest import TOKEN, FaultyProxy, Lab

import intern
from intern.errors import NotFoundError, TransientRemoteError
from intern.testing.servers import FaultyServer, closed_port


@pytest.fixture
def proxy(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    p = FaultyProxy(lab.relay.url)
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", p.url.split("://")[1])
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    yield p
    p.close()


def test_503_twice_then_200_succeeds(proxy: FaultyProxy, lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image", retries=2)
    proxy.fail = 2
    np.testing.assert_array_equal(a[0:4, 0:100, 0:100], lab.data["image"][0:4, 0:100, 0:100])
    assert proxy.cutouts == 3  # two refusals, then the answer


def test_503_beyond_the_retries_is_a_clear_transient_error(proxy: FaultyProxy) -> None:
    a = intern.array("bossdb://lab/em/image", retries=1)
    proxy.fail = 5
    with pytest.raises(TransientRemoteError, match="503.*busy.*after 2 tries"):
        a[0:4, 0:100, 0:100]
    assert proxy.cutouts == 2


def test_a_stalled_request_times_out_and_is_retried(proxy: FaultyProxy, lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image", timeout=0.3, retries=2)
    proxy.stall, proxy.stall_s = 1, 1.5
    np.testing.assert_array_equal(a[5, 0:50, 0:50], lab.data["image"][5, 0:50, 0:50])
    assert proxy.cutouts == 2


def test_no_server_is_a_transient_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientRemoteError, match=f"127.0.0.1:{port}.*after 2 tries"):
        intern.open(f"bossdb://http://127.0.0.1:{port}/a/b/c", retries=1)


def test_not_found_is_not_retried(proxy: FaultyProxy) -> None:
    with pytest.raises(NotFoundError):
        intern.open("bossdb://lab/em/absent", retries=3)


def test_cached_cuboids_are_answered_while_the_upstream_stalls(proxy: FaultyProxy, lab: Lab, tmp_path: Path) -> None:
    """A relay with one request thread, waiting on a stalled upstream, still answers a cuboid it holds in memory."""
    import threading

    from _bosstest import relay_env

    from intern._box import Box
    from intern_boss.relay import RelayProcess

    front = RelayProcess({"f/em/image": f"bossdb://{proxy.url}/lab/em/image"}, cache_dir=tmp_path / "cache",
                         args=["--threads", "1"], env={**relay_env(tmp_path), "INTERN_TOKEN": TOKEN},
                         log=tmp_path / "front.log").start()
    try:
        channel = intern.open(f"bossdb://{front.url}/f/em/image")
        image = lab.data["image"]
        cached = Box((16, 0, 0), (32, 512, 512))  # exactly one Boss cuboid
        np.testing.assert_array_equal(channel.read(cached), image[cached.to_slices()])
        proxy.stall, proxy.stall_s = 1, 3.0
        before = proxy.cutouts
        slow: dict[str, np.ndarray] = {}
        reader = threading.Thread(target=lambda: slow.update(data=channel.read(Box((0, 0, 512), (16, 512, 600)))))
        reader.start()
        while proxy.cutouts == before:  # the front's only request thread now waits on the stalled upstream
            time.sleep(0.01)
        np.testing.assert_array_equal(channel.read(cached), image[cached.to_slices()])
        assert reader.is_alive(), "the cached cuboid waited for the stalled upstream read"
        reader.join(30)
        np.testing.assert_array_equal(slow["data"], image[0:16, 0:512, 512:600])
    finally:
        front.close()


# -- what the server sees: exactly the policy's tries, on every path ------------------------------------------------

@pytest.fixture
def faulty(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyServer]:
    """A server in front of the lab relay that fails requests as told and counts what arrives."""
    with FaultyServer(upstream=lab.relay.url) as f:
        monkeypatch.setenv("INTERN_PROTOCOL", "http")
        monkeypatch.setenv("INTERN_HOST", f.address)
        monkeypatch.setenv("INTERN_TOKEN", TOKEN)
        yield f


def test_a_cutout_read_costs_the_policys_tries_on_a_failing_server(faulty: FaultyServer) -> None:
    a = intern.array("bossdb://lab/em/image", retries=3, backoff=0.001)
    faulty.fail(-1, status=500, match="/v1/cutout/")
    with pytest.raises(TransientRemoteError, match="after 4 tries") as info:
        a[0:4, 0:100, 0:100]
    assert faulty.count("GET", "/v1/cutout/") == 4 and info.value.attempts == 4
    faulty.heal()
    faulty.reset(-1, match="/v1/cutout/")
    with pytest.raises(TransientRemoteError, match="after 4 tries"):
        a[0:4, 0:100, 0:100]
    assert faulty.count("GET", "/v1/cutout/") == 8


def test_a_request_path_read_costs_the_policys_tries(faulty: FaultyServer) -> None:
    ch = intern.open("bossdb://lab/em/image", retries=2, backoff=0.001)
    faulty.fail(-1, status=503, retry_after="0", match="/v1/downsample/")
    with pytest.raises(TransientRemoteError, match="after 3 tries"):
        ch.downsample_status()
    assert faulty.count("GET", "/v1/downsample/") == 3


def test_a_create_that_reached_the_server_is_sent_once(faulty: FaultyServer) -> None:
    ch = intern.open("bossdb://lab/em/image", retries=3, backoff=0.001)
    faulty.fail(-1, status=500, match="/v1/meta/")
    with pytest.raises(TransientRemoteError) as info:
        ch.remote.create_metadata("lab/em/image", {"retried": "no"})
    assert faulty.count("POST", "/v1/meta/") == 1 and info.value.attempts == 1
    faulty.heal()
    faulty.fail(-1, status=404, match="/v1/collection/lab/experiment/em/channel/absent")
    with pytest.raises(NotFoundError):
        intern.open("bossdb://lab/em/absent", retries=3)
    assert faulty.count("GET", "/v1/collection/lab/experiment/em/channel/absent") == 1


def test_refusal_is_classified_by_type_on_the_request_path() -> None:
    """A POST to a port nobody listens on is tried again (nothing was sent), however requests words the error."""
    import requests

    from intern import _http as ihttp

    with pytest.raises(requests.ConnectionError) as info:
        requests.post(f"http://127.0.0.1:{closed_port()}/v1/collection/c", timeout=5)
    assert ihttp.connection_failure(info.value) is ihttp.Failure.UNSENT
    with FaultyServer() as silent:
        silent.stall(seconds=2)
        with pytest.raises(requests.Timeout) as late:
            requests.get(silent.url + "/v1/collection/", timeout=(2, 0.2))
        silent.reset()
        with pytest.raises(requests.ConnectionError) as reset:
            requests.get(silent.url + "/v1/collection/", timeout=5)
    assert ihttp.connection_failure(late.value) is ihttp.Failure.TIMEOUT
    assert ihttp.connection_failure(reset.value) is ihttp.Failure.DROPPED
