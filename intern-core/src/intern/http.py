"""Keep-alive HTTP connections for voxel bodies, for drivers that talk to servers.

A general HTTP library costs a millisecond or two of Python per request and hands every body over as a new
``bytes`` object; for a cutout of a few MiB answered from a server's cache, that is most of the client's time (a new
body's pages are faulted in on every request). Drivers use this module on their bulk path instead:

- :class:`Connections`: one ``http.client`` connection per thread to one origin, kept alive between requests, with
  a connect timeout apart from the answer timeout; a kept connection the server closed while idle is reopened once,
  at once, instead of failing the request;
- :func:`read_into`: a body straight into the caller's buffer (say, its place in the output array);
- :func:`read_body`: a body into a buffer of the calling thread that is reused by its next request (bodies up to
  :data:`SCRATCH_LIMIT`; larger ones get a buffer of their own).

Retry policies stay with the drivers (servers differ in what is safe to repeat); :data:`CONNECTION_ERRORS` is what a
dropped or refused connection raises here, and :func:`backoff` how long to wait before trying again.

>>> conns = Connections("http://127.0.0.1:8000", connect_timeout=5, timeout=60)  # doctest: +SKIP
>>> resp = conns.exchange("GET", "/v1/cutout/...", headers={"Accept": "application/blosc"})  # doctest: +SKIP
>>> body = read_body(resp)  # a memoryview, valid until this thread's next read_body  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["CONNECTION_ERRORS", "SCRATCH_LIMIT", "Connections", "backoff", "read_body", "read_into"]

CONNECTION_ERRORS = (OSError, http.client.HTTPException)
SCRATCH_LIMIT = 64 << 20  # a thread keeps a reused body buffer up to this size

# a kept connection the server closed while it idled fails the next request with one of these, before any answer
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_scratch = threading.local()


class _Timeouts:
    """Connects within ``connect_timeout``, then waits up to ``answer_timeout`` for each answer; no Nagle delay."""

    def __init__(self, netloc: str, connect_timeout: float, answer_timeout: float) -> None:
        super().__init__(netloc, timeout=connect_timeout)  # type: ignore[call-arg]
        self._answer_timeout = answer_timeout

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
        self.sock.settimeout(self._answer_timeout)  # type: ignore[attr-defined]


class _HTTPConnection(_Timeouts, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Timeouts, http.client.HTTPSConnection):
    pass


class Connections:
    """Kept-alive connections to the origin of ``base_url`` (``http`` or ``https``), one per thread.

    Args:
        base_url: ``http://host:port`` (a path after it is ignored: requests name their whole target).
        connect_timeout: seconds to connect.
        timeout: seconds to wait for each answer (and each read of its body).
    """

    def __init__(self, base_url: str, *, connect_timeout: float, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._cls = _HTTPSConnection if parts.scheme == "https" else _HTTPConnection
        self._netloc = parts.netloc
        self._timeouts = (connect_timeout, timeout)
        self._local = threading.local()

    def exchange(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes | memoryview | None = None,
                 idempotent: bool = True) -> http.client.HTTPResponse:
        """Send a request on this thread's connection and return the answer, its body not yet read.

        Read the whole body (or :meth:`drop` the connection) before the thread's next exchange.

        Raises:
            OSError, http.client.HTTPException: the connection failed (it is dropped; the caller decides on retrying).
        """
        conn = getattr(self._local, "conn", None)
        reused = conn is not None
        if conn is None:
            conn = self._local.conn = self._cls(self._netloc, *self._timeouts)
        try:
            return _send(conn, method, target, headers, body)
        except _STALE:
            self.drop()
            if not (reused and idempotent):
                raise
        except BaseException:
            self.drop()
            raise
        conn = self._local.conn = self._cls(self._netloc, *self._timeouts)
        try:
            return _send(conn, method, target, headers, body)
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Close this thread's connection (after a failure, or a body left unread)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def _send(conn: http.client.HTTPConnection, method: str, target: str, headers: Mapping[str, str],
          body: bytes | memoryview | None) -> http.client.HTTPResponse:
    conn.request(method, target, body=body, headers={"Accept-Encoding": "identity", **headers})
    return conn.getresponse()


def read_into(resp: http.client.HTTPResponse, into: memoryview, *, start: int = 0) -> None:
    """Read the body of ``resp`` from byte ``start`` to its end, exactly ``len(into)`` bytes, into ``into``.

    ``start`` counts the bytes the caller has read already (a header that says where the rest goes).

    Raises:
        http.client.IncompleteRead: the connection ended first.
        ValueError: the answer says its body has another length (the body is read and dropped).
    """
    length = resp.getheader("Content-Length")
    if length is not None and int(length) - start != len(into):
        resp.read()
        after = f" after the first {start}" if start else ""
        raise ValueError(f"the answer holds {int(length) - start} bytes{after}, {len(into)} were expected")
    got = 0
    while got < len(into):
        n = resp.readinto(into[got:])
        if not n:
            raise http.client.IncompleteRead(bytes(into[:got]), len(into) - got)
        got += n
    resp.read()  # the (empty) rest: the connection is ready for the next request


def read_body(resp: http.client.HTTPResponse, *, head: bytes = b"") -> memoryview:
    """The whole body of ``resp``, in the calling thread's reused buffer when the answer gives its length.

    ``head`` is the start of the body, if the caller has read it already. The view is valid until this thread's next
    :func:`read_body`: decode or copy it before then. Reusing one buffer keeps its memory paged in; a new body of
    several MiB would be faulted in page by page.

    Raises:
        http.client.IncompleteRead: the connection ended before the announced length.
    """
    length = resp.getheader("Content-Length")
    if length is None:  # chunked: as it comes
        return memoryview(head + resp.read())
    n = max(int(length), len(head))
    if n > SCRATCH_LIMIT:
        buffer = bytearray(n)
    else:
        buffer = getattr(_scratch, "buffer", None)
        if buffer is None or len(buffer) < n:
            buffer = _scratch.buffer = bytearray(max(n, 1 << 20))
    view = memoryview(buffer)[:n]
    view[:len(head)] = head
    read_into(resp, view[len(head):], start=len(head))
    return view


def backoff(attempt: int, *, first: float, most: float, retry_after: str | None = None) -> float:
    """Seconds to wait before trying again after failed attempt number ``attempt`` (0 for the first).

    ``first`` doubles with every attempt, up to ``most``, times a random factor between 0.5 and 1, so that the threads
    of a parallel read do not all retry at the same moment. A server's ``Retry-After`` in seconds lengthens the wait
    (still up to ``most``); an HTTP date there is ignored.

    >>> 0.5 <= backoff(0, first=1.0, most=30.0) < 1.0
    True
    >>> backoff(3, first=1.0, most=30.0, retry_after="20")
    20.0
    """
    delay = min(most, first * 2**attempt) * (0.5 + random.random() / 2)
    if retry_after:
        try:
            delay = min(most, max(delay, float(retry_after)))
        except ValueError:
            pass
    return delay
