"""The HTTP client: retries with backoff on 503 and dropped connections, timeouts, DVID's messages in errors."""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import intern
from intern.errors import NotFoundError, RemoteError, TransientRemoteError
from intern_dvid.testing import DvidTestServer


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_DVID_BACKOFF", "0.01")
    monkeypatch.setenv("INTERN_DVID_RETRIES", "12")  # up to ~40 s of backoff: never the limit in these tests


@pytest.fixture
def own_server(fast_retries: None) -> Iterator[DvidTestServer]:
    """A server of its own (remotes are per host:port, so this one reads the retry settings above)."""
    with DvidTestServer() as srv:
        yield srv


def test_503_and_dropped_connections_are_retried(own_server: DvidTestServer) -> None:
    root = f"dvid://{own_server.address}/{own_server.new_repo()}"
    a = intern.create(f"{root}/gray", shape=(8, 32, 32), dtype="uint8", chunks=(8, 32, 32))
    a[...] = 4
    own_server.fail_next(3, status=503)
    assert (a[...] == 4).all()
    own_server.drop_next(2)
    assert (a[...] == 4).all()
    own_server.fail_next(2, status=503)
    a[...] = 6  # a write too: 503 means DVID did nothing
    assert (a[...] == 6).all()


def test_retries_give_up_with_a_transient_error(own_server: DvidTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_DVID_RETRIES", "3")  # read when the remote of this new server is made, below
    root = f"dvid://{own_server.address}/{own_server.new_repo()}"
    a = intern.create(f"{root}/gray", shape=(8, 32, 32), dtype="uint8", chunks=(8, 32, 32))
    retries = a.resource.remote.http.settings.retries
    own_server.fail_next(retries + 1, status=503)
    with pytest.raises(TransientRemoteError, match="busy") as info:
        a[...]
    assert info.value.status == 503 and "Server busy" in info.value.body
    assert pickle.loads(pickle.dumps(info.value)).status == 503


def test_throttled_requests_wait_their_turn(own_server: DvidTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With throttle=true, DVID refuses heavy requests beyond its limit with 503; the client retries them."""
    root = f"dvid://{own_server.address}/{own_server.new_repo()}"
    a = intern.create(f"{root}/gray?throttle=true", shape=(64, 128, 128), dtype="uint8", chunks=(16, 32, 32))
    data = np.random.default_rng(0).integers(0, 255, a.shape, dtype=np.uint8)
    a[...] = data
    for _ in range(own_server.max_throttled):  # another client holds every throttled slot for a moment
        own_server.throttle.acquire()
    timer = threading.Timer(0.2, lambda: [own_server.throttle.release() for _ in range(own_server.max_throttled)])
    own_server.requests.clear()
    timer.start()
    try:
        np.testing.assert_array_equal(a[...], data)
    finally:
        timer.join()
    reads = [p for m, p in own_server.requests if m == "GET" and "/raw/" in p]
    assert all("throttle=true" in p for p in reads)
    assert len(reads) > 1  # refused (503) at least once, then served


def test_dvid_messages_are_in_the_errors(server: DvidTestServer, root: str) -> None:
    with pytest.raises(NotFoundError, match="does not exist") as info:
        intern.array(f"{root}/nothing")
    assert "instances at that node" in str(info.value)
    a = intern.create(f"{root}/gray", shape=(8, 16, 16), dtype="uint8", chunks=(8, 16, 16))
    http = a.resource.remote.http
    with pytest.raises(RemoteError) as err:  # a request DVID refuses: its plain-text message comes through
        http.request("POST", f"/api/node/{a.resource.version}/gray/raw/0_1_2/3_3_3/1_1_1", data=b"x" * 27)
    assert err.value.status == 400 and "non-block aligned" in err.value.body and "non-block aligned" in str(err.value)
    with pytest.raises(NotFoundError, match="invalid data instance name"):
        http.request("GET", f"/api/node/{a.resource.version}/nope/info")


def test_a_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_DVID_TIMEOUT", "0.3")
    monkeypatch.setenv("INTERN_DVID_RETRIES", "1")
    monkeypatch.setenv("INTERN_DVID_BACKOFF", "0.01")
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(TransientRemoteError, match="did not answer"):
            intern.ls(f"dvid://127.0.0.1:{port}")


def test_a_closed_port_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_DVID_RETRIES", "1")
    monkeypatch.setenv("INTERN_DVID_BACKOFF", "0.01")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(TransientRemoteError, match="did not answer"):
            intern.ls(f"dvid://127.0.0.1:{port}")


# -- one policy: what the server sees is exactly the policy's tries -------------------------------------------------

@pytest.fixture
def four_tries(monkeypatch: pytest.MonkeyPatch) -> Iterator[DvidTestServer]:
    """A server of its own whose client tries everything four times (retries=3), with next to no waiting."""
    monkeypatch.setenv("INTERN_DVID_RETRIES", "3")
    monkeypatch.setenv("INTERN_DVID_BACKOFF", "0.001")
    with DvidTestServer() as srv:
        yield srv


def _seen(server: DvidTestServer, method: str, part: str) -> int:
    return sum(1 for m, p in server.requests if m == method and part in p)


def test_a_voxel_read_costs_the_policys_tries_on_a_failing_server(four_tries: DvidTestServer) -> None:
    root = f"dvid://{four_tries.address}/{four_tries.new_repo()}"
    a = intern.create(f"{root}/gray", shape=(8, 32, 32), dtype="uint8", chunks=(8, 32, 32))
    four_tries.requests.clear()
    four_tries.fail_next(100, status=500)  # a server error, as 502/503/504 and 429: the same policy for every client
    with pytest.raises(TransientRemoteError, match="after 4 tries") as info:
        a[...]
    assert _seen(four_tries, "GET", "/raw/") == 4 and info.value.attempts == 4
    while four_tries.take_fault() is not None:  # the faults left over
        pass
    four_tries.fail_next(2, status=429)  # throttled, then served
    assert (a[...] == 0).all()


def test_a_control_read_costs_the_policys_tries(four_tries: DvidTestServer) -> None:
    uuid = four_tries.new_repo()
    four_tries.fail_next(100, status=502)
    with pytest.raises(TransientRemoteError, match="after 4 tries"):
        intern.ls(f"dvid://{four_tries.address}/{uuid}")
    assert _seen(four_tries, "GET", "/info") == 4


def test_a_commit_that_reached_the_server_is_sent_once(four_tries: DvidTestServer) -> None:
    root = f"dvid://{four_tries.address}/{four_tries.new_repo()}"
    a = intern.create(f"{root}/gray", shape=(8, 32, 32), dtype="uint8", chunks=(8, 32, 32))
    four_tries.fail_next(100, status=500)
    with pytest.raises(TransientRemoteError) as info:
        a.resource.node.commit("first")
    assert _seen(four_tries, "POST", "/commit") == 1 and info.value.attempts == 1
