"""intern._http against real servers on loopback: bodies, reused buffers, connections a server closed, short bodies,
and the retry policy (what a failing server sees, what is classified how, what is never repeated)."""

from __future__ import annotations

import http.client
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from intern import _http as ihttp
from intern.errors import NotFoundError, PermissionDeniedError, RemoteError, TransientRemoteError
from intern.jobs import run_jobs
from intern.testing.servers import FaultyServer, closed_port


class RawServer:
    """Answers each request on a connection with ``bodies[path]``; ``close_after`` answers per connection, then the
    server closes it without saying so (as a keep-alive timeout does); ``short`` paths send half their body and close."""

    def __init__(self, bodies: dict[str, bytes], *, close_after: int = 0, short: tuple[str, ...] = ()) -> None:
        self.bodies, self.close_after, self.short = bodies, close_after, short
        self.connections = 0
        self.closed = threading.Semaphore(0)  # released as the server closes each connection
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        finally:
            self.closed.release()  # the connection is closed now

    def _answer(self, conn: socket.socket) -> None:
        stream = conn.makefile("rb")
        answered = 0
        with conn, stream:
            while True:
                line = stream.readline()
                if not line:
                    return
                path = line.split()[1].decode()
                while stream.readline() not in (b"\r\n", b""):
                    pass
                body = self.bodies[path]
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                if path in self.short:
                    conn.sendall(head + body[: len(body) // 2])
                    return
                conn.sendall(head + body)
                answered += 1
                if self.close_after and answered >= self.close_after:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def bodies() -> dict[str, bytes]:
    return {"/small": b"x" * 1000, "/big": bytes(range(256)) * 4096, "/other": b"y" * 1000}


@pytest.fixture
def server(bodies) -> Iterator[RawServer]:
    s = RawServer(bodies)
    yield s
    s.close()


def test_bodies_arrive_whole_and_the_thread_reuses_its_buffer(server, bodies):
    conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
    first = ihttp.read_body(conns.exchange("GET", "/big", headers={}))
    assert bytes(first) == bodies["/big"]
    second = ihttp.read_body(conns.exchange("GET", "/small", headers={}))
    assert bytes(second) == bodies["/small"]
    assert second.obj is first.obj  # the same buffer, paged in once
    assert server.connections == 1  # and the same connection


def test_bodies_over_the_limit_get_their_own_buffer(server, bodies, monkeypatch):
    monkeypatch.setattr(ihttp, "SCRATCH_LIMIT", 10_000)
    conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
    small = ihttp.read_body(conns.exchange("GET", "/small", headers={}))
    big = ihttp.read_body(conns.exchange("GET", "/big", headers={}))
    assert bytes(big) == bodies["/big"] and big.obj is not small.obj
    assert bytes(small) == bodies["/small"]  # not overwritten by the big one


def test_threads_have_buffers_of_their_own(server, bodies):
    conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
    views = {}

    def read(path: str) -> None:
        views[path] = ihttp.read_body(conns.exchange("GET", path, headers={}))

    threads = [threading.Thread(target=read, args=(p,)) for p in ("/small", "/other")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bytes(views["/small"]) == bodies["/small"] and bytes(views["/other"]) == bodies["/other"]
    assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced_before_sending(bodies):
    server = RawServer(bodies, close_after=1)
    try:
        conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
        for path in ("/small", "/other", "/big"):
            assert bytes(ihttp.read_body(conns.exchange("GET", path, headers={}))) == bodies[path]
            assert server.closed.acquire(timeout=10)  # the server has closed it (a keep-alive timeout), then...
        assert server.connections == 3  # ... a new one carried the next request, which nothing had to retry
    finally:
        server.close()


def test_a_connection_closed_as_the_request_leaves_is_retried_by_the_policy(bodies):
    """The server closes right after each answer, racing the next request: the policy absorbs the race."""
    server = RawServer(bodies, close_after=1)
    try:
        conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
        policy = ihttp.RetryPolicy(attempts=3, first=0.001, most=0.01)
        for _ in range(20):
            for path in ("/small", "/other", "/big"):
                assert bytes(ihttp.request(conns, "GET", path, policy=policy, headers={})) == bodies[path]
    finally:
        server.close()


def test_a_short_body_raises_and_the_next_request_works(bodies):
    server = RawServer(bodies, short=("/big",))
    try:
        conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
        with pytest.raises(http.client.IncompleteRead):
            ihttp.read_body(conns.exchange("GET", "/big", headers={}))
        conns.drop()
        assert bytes(ihttp.read_body(conns.exchange("GET", "/small", headers={}))) == bodies["/small"]
    finally:
        server.close()


def test_read_into_checks_the_length_and_fills_the_buffer(server, bodies):
    conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
    target = bytearray(1000)
    ihttp.read_into(conns.exchange("GET", "/small", headers={}), memoryview(target))
    assert bytes(target) == bodies["/small"]
    with pytest.raises(ValueError, match="holds 1000 bytes, 10 were expected"):
        ihttp.read_into(conns.exchange("GET", "/other", headers={}), memoryview(bytearray(10)))
    # the mismatched body was read off: the connection still serves
    assert bytes(ihttp.read_body(conns.exchange("GET", "/other", headers={}))) == bodies["/other"]


def test_a_body_can_be_read_in_two_parts(server, bodies):
    """The caller reads a header itself, then the rest into a buffer of its choosing, or whole with the header."""
    conns = ihttp.Connections(server.url, connect_timeout=5, timeout=10)
    resp = conns.exchange("GET", "/small", headers={})
    head = resp.read(16)
    rest = bytearray(len(bodies["/small"]) - 16)
    ihttp.read_into(resp, memoryview(rest), start=16)
    assert head + rest == bodies["/small"]
    resp = conns.exchange("GET", "/small", headers={})
    with pytest.raises(ValueError, match="holds 984 bytes after the first 16, 1000 were expected"):
        ihttp.read_into(resp, memoryview(bytearray(1000)), start=16)
    resp = conns.exchange("GET", "/big", headers={})
    assert bytes(ihttp.read_body(resp, head=resp.read(16))) == bodies["/big"]
    resp = conns.exchange("GET", "/small", headers={})  # the connection was left ready after each
    assert bytes(ihttp.read_body(resp, head=resp.read(999))) == bodies["/small"]


def test_a_refused_connection_is_a_connection_error_and_urls_are_checked():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    conns = ihttp.Connections(f"http://127.0.0.1:{port}", connect_timeout=2, timeout=2)
    with pytest.raises(ihttp.CONNECTION_ERRORS):
        conns.exchange("GET", "/", headers={})
    with pytest.raises(ValueError, match="not an http"):
        ihttp.Connections("ftp://example.org", connect_timeout=1, timeout=1)


def test_backoff_doubles_with_jitter_up_to_its_cap_and_heeds_retry_after():
    for attempt in range(8):
        waits = [ihttp.backoff(attempt, first=0.1, most=2.0) for _ in range(200)]
        full = min(2.0, 0.1 * 2**attempt)
        assert all(full / 2 <= w < full for w in waits)
        assert len(set(waits)) > 100  # threads that failed together do not retry together
    assert ihttp.backoff(0, first=0.1, most=2.0, retry_after="1.5") == 1.5
    assert ihttp.backoff(0, first=0.1, most=2.0, retry_after="60") == 2.0
    assert ihttp.backoff(0, first=0.1, most=2.0, retry_after="Wed, 21 Oct 2026 07:28:00 GMT") < 0.1


# -- the retry policy, against a server that fails as told ---------------------------------------------------------

FAST = ihttp.RetryPolicy(attempts=4, first=0.001, most=0.01)


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    with FaultyServer() as f:
        yield f


def _request(url: str, path: str = "/data", *, method: str = "GET", idempotent: bool = True,
             policy: ihttp.RetryPolicy = FAST, timeout: float = 10) -> bytes:
    conns = ihttp.Connections(url, connect_timeout=2, timeout=timeout)
    return bytes(ihttp.request(conns, method, path, policy=policy, headers={}, idempotent=idempotent,
                               body=b"x" if method == "POST" else None))


def test_connection_failures_are_classified_by_their_type(faulty):
    def failure_of(url: str, timeout: float = 10) -> ihttp.Failure | None:
        conns = ihttp.Connections(url, connect_timeout=2, timeout=timeout)
        with pytest.raises(ihttp.CONNECTION_ERRORS) as info:
            ihttp.read_body(conns.exchange("GET", "/data", headers={}))
        return ihttp.connection_failure(info.value)

    assert failure_of(f"http://127.0.0.1:{closed_port()}") is ihttp.Failure.UNSENT
    faulty.reset()
    assert failure_of(faulty.url) is ihttp.Failure.DROPPED
    faulty.close()
    assert failure_of(faulty.url) is ihttp.Failure.DROPPED  # http.client.RemoteDisconnected
    faulty.stall(seconds=2)
    assert failure_of(faulty.url, timeout=0.2) is ihttp.Failure.TIMEOUT
    # by type, wherever it sits in the chain of causes, whatever the message says
    try:
        try:
            raise ConnectionRefusedError(111, "nothing to see")
        except OSError as exc:
            raise RuntimeError("wrapped by some library") from exc
    except RuntimeError as wrapped:
        assert ihttp.connection_failure(wrapped) is ihttp.Failure.UNSENT
    assert ihttp.connection_failure(http.client.RemoteDisconnected("Connection refused")) is ihttp.Failure.DROPPED
    for other in (ValueError("Connection refused"), RemoteError("Connection refused"), KeyError("x")):
        assert ihttp.connection_failure(other) is None
    try:
        try:
            raise TimeoutError("timed out")
        except TimeoutError:
            raise KeyError("a bug while handling a timeout") from None
    except KeyError as bug:
        assert bug.__context__ is not None and ihttp.connection_failure(bug) is None  # not retried as a timeout


def test_a_failing_server_sees_exactly_the_policys_attempts(faulty, caplog):
    faulty.fail(-1, status=503, retry_after="0.05")
    with caplog.at_level(logging.INFO, logger="intern.http"), pytest.raises(TransientRemoteError) as info:
        _request(faulty.url, policy=ihttp.RetryPolicy(attempts=4, first=0.001, most=1.0))
    assert faulty.count("GET") == FAST.attempts
    assert info.value.attempts == FAST.attempts and info.value.status == 503
    assert f"after {FAST.attempts} tries" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).attempts == FAST.attempts  # Dask carries it back
    waits = [r for r in caplog.records if "again in" in r.getMessage()]
    assert len(waits) == FAST.attempts - 1 and all("again in 0.05 s" in r.getMessage() for r in waits)  # Retry-After


def test_a_reset_connection_is_retried_and_the_read_recovers(faulty):
    faulty.reset(2)
    faulty.fail(1, status=500)
    assert _request(faulty.url) == b""
    assert faulty.count("GET") == 4


def test_answers_that_cannot_pass_are_not_retried(faulty):
    faulty.fail(1, status=404)
    with pytest.raises(NotFoundError):
        _request(faulty.url)
    faulty.fail(1, status=403)
    with pytest.raises(PermissionDeniedError):
        _request(faulty.url)
    faulty.fail(1, status=400)
    with pytest.raises(RemoteError) as info:
        _request(faulty.url)
    assert info.value.status == 400
    assert faulty.count("GET") == 3


def test_a_failure_already_retried_behind_the_server_is_not_retried_again(faulty):
    """An intern relay says with ``Intern-Attempts`` that its own client spent its tries: retrying would multiply them."""
    faulty.fail(1, status=503, attempts=3)
    with pytest.raises(TransientRemoteError) as info:
        _request(faulty.url)
    assert faulty.count("GET") == 1 and info.value.attempts == 3
    assert "tried 3 times behind it" in str(info.value)
    faulty.fail(1, status=404, attempts=3)  # the header changes nothing for an answer the policy does not retry
    with pytest.raises(NotFoundError):
        _request(faulty.url)
    faulty.fail(1, status=503)  # without it, the policy's tries as usual
    assert _request(faulty.url) == b""
    assert faulty.count("GET") == 4


def test_a_request_that_reached_the_server_is_not_repeated_unless_idempotent(faulty, caplog):
    faulty.fail(-1, status=500)
    with pytest.raises(TransientRemoteError) as info:
        _request(faulty.url, method="POST", idempotent=False)
    assert faulty.count("POST") == 1 and info.value.attempts == 1
    faulty.heal()
    faulty.reset(-1)
    with pytest.raises(TransientRemoteError):
        _request(faulty.url, method="POST", idempotent=False)
    assert faulty.count("POST") == 2
    faulty.heal()
    faulty.fail(-1, status=429)  # throttled: the server says it did nothing
    with pytest.raises(TransientRemoteError):
        _request(faulty.url, method="POST", idempotent=False)
    assert faulty.count("POST") == 2 + FAST.attempts
    # a connection never made: nothing was sent, so even a POST is tried again (the log shows the tries)
    with caplog.at_level(logging.INFO, logger="intern.http"), pytest.raises(TransientRemoteError) as info:
        _request(f"http://127.0.0.1:{closed_port()}", method="POST", idempotent=False)
    assert info.value.attempts == FAST.attempts
    assert len([r for r in caplog.records if "again in" in r.getMessage()]) == FAST.attempts - 1


def test_policy_values_are_checked_and_waits_follow_retry_after():
    assert ihttp.RetryPolicy.from_settings(retries=5, backoff=0.5).attempts == 6
    with pytest.raises(ValueError, match="attempts"):
        ihttp.RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="first"):
        ihttp.RetryPolicy(first=-1)
    policy = ihttp.RetryPolicy(first=0.1, most=5.0)
    assert policy.delay(0, "2") == 2.0 and policy.delay(0, "600") == 5.0
    assert 2.0 < policy.delay(0, formatdate(time.time() + 4, usegmt=True)) <= 5.0  # an HTTP date
    assert policy.delay(0, "soon") < 0.1
    assert not ihttp.RetryPolicy(retry_after=False).delay(0, "3") > 0.1


def test_the_job_runner_does_not_retry_what_the_transport_already_retried():
    calls: list[int] = []

    def spent(i: int) -> None:
        calls.append(i)
        raise TransientRemoteError("no answer after 6 tries", 503, "", 6)

    stats = run_jobs(spent, [0], workers=1, retries=3, backoff=0.001)
    assert len(calls) == 1 and len(stats.failures) == 1 and stats.failures[0].error.attempts == 6

    def flaky(i: int) -> int:  # a transient failure no transport retried: the runner retries it
        calls.append(i)
        if len(calls) < 4:
            raise TransientRemoteError("injected", 503)
        return i

    stats = run_jobs(flaky, [1], workers=1, retries=3, backoff=0.001)
    assert stats.done == 1 and stats.retried == 2
