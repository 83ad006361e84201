"""HTTP for drivers that talk to servers: one retry policy, one status-to-error mapping, keep-alive connections.

Every HTTP client of intern retries the same way and turns statuses into the same errors (see :mod:`intern._retry`,
re-exported here):

- :class:`RetryPolicy`: which statuses are retried, how many attempts, the waits (doubling from ``first`` up to
  ``most``, with jitter, heeding ``Retry-After``), and when a request that is not idempotent may be repeated (only
  when its connection was never made, or the server said it did nothing);
- :func:`connection_failure`: what kind of connection failure an exception is, by its type;
- :func:`call`: runs one attempt after another under a policy and raises intern's error at the end, marked as
  retried (``RemoteError.attempts``) so that the job runner does not retry it again;
- :func:`error_for` / :func:`error_class`: the status-to-error mapping; a driver refines messages in its own
  ``describe`` hook.

For voxel bodies, a general HTTP library costs a millisecond or two of Python per request and hands every body over
as a new ``bytes`` object; for a cutout of a few MiB answered from a server's cache, that is most of the client's
time (a new body's pages are faulted in on every request). Drivers use this module on their bulk path instead:

- :class:`Connections`: one ``http.client`` connection per thread to one origin, kept alive between requests, with
  a connect timeout apart from the answer timeout; a kept connection the server closed while idle is replaced before
  a request is sent on it;
- :func:`request`: one request on those connections under a retry policy, its body read by a function of the
  caller's;
- :func:`read_into`: a body straight into the caller's buffer (say, its place in the output array);
- :func:`read_body`: a body into a buffer of the calling thread that is reused by its next request (bodies up to
  :data:`SCRATCH_LIMIT`; larger ones get a buffer of their own).

>>> conns = Connections("http://127.0.0.1:8000", connect_timeout=5, timeout=60)  # doctest: +SKIP
>>> policy = RetryPolicy.from_settings(retries=5, backoff=0.1, setting="[mydb] retries")  # doctest: +SKIP
>>> body = request(conns, "GET", "/v1/cutout/...", policy=policy, headers={"Accept": "application/blosc"})  # doctest: +SKIP
>>> # a memoryview, valid until this thread's next read_body
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from ._retry import (
    ATTEMPTS_HEADER,
    RETRY_STATUSES,
    Answer,
    Describe,
    Failure,
    NotConnectedError,
    RetryPolicy,
    UnwantedAnswer,
    announced_attempts,
    attempts_header,
    backoff,
    call,
    connection_failure,
    error_class,
    error_for,
)

__all__ = [
    "ATTEMPTS_HEADER",
    "CONNECTION_ERRORS",
    "RETRY_STATUSES",
    "SCRATCH_LIMIT",
    "Answer",
    "Connections",
    "Describe",
    "Failure",
    "NotConnectedError",
    "RetryPolicy",
    "UnwantedAnswer",
    "announced_attempts",
    "attempts_header",
    "backoff",
    "call",
    "connection_failure",
    "error_class",
    "error_for",
    "read_body",
    "read_into",
    "request",
]

T = TypeVar("T")

#: what a failed connection raises here (its kind: :func:`connection_failure`)
CONNECTION_ERRORS = (OSError, http.client.HTTPException)
SCRATCH_LIMIT = 64 << 20  # a thread keeps a reused body buffer up to this size

_scratch = threading.local()


class _Timeouts:
    """Connects within ``connect_timeout``, then waits up to ``answer_timeout`` for each answer; no Nagle delay."""

    def __init__(self, netloc: str, connect_timeout: float, answer_timeout: float) -> None:
        super().__init__(netloc, timeout=connect_timeout)  # type: ignore[call-arg]
        self._answer_timeout = answer_timeout

    def connect(self) -> None:
        try:
            super().connect()  # type: ignore[misc]
        except OSError as exc:  # refused, unknown host, connect timeout: nothing was sent, whatever the type says
            raise NotConnectedError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc  # type: ignore[attr-defined]
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

    def exchange(self, method: str, target: str, *, headers: Mapping[str, str],
                 body: bytes | memoryview | None = None) -> http.client.HTTPResponse:
        """Send a request on this thread's connection and return the answer, its body not yet read.

        Read the whole body (or :meth:`drop` the connection) before the thread's next exchange. A kept connection the
        server has closed while it idled (its keep-alive timeout) is replaced before anything is sent on it, so every
        request that fails here is one the server may have seen: the retry policy counts it as a try.

        Raises:
            NotConnectedError: the connection could not be made (nothing was sent).
            OSError, http.client.HTTPException: the connection failed later (it is dropped; the caller decides on
                retrying, see :func:`call`).
        """
        conn = getattr(self._local, "conn", None)
        if conn is not None and _closed_by_server(conn):
            self.drop()
            conn = None
        if conn is None:
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


def _closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """Whether the server closed this idle kept-alive connection: it is readable (its end of file, or bytes nobody
    asked for) before a request was sent on it. What urllib3 checks before reusing a connection, too."""
    sock = conn.sock
    if sock is None:  # not connected yet: the request connects it
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


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
        kept: bytearray | None = getattr(_scratch, "buffer", None)  # thread-local: each thread its own buffer
        if kept is None or len(kept) < n:
            kept = _scratch.buffer = bytearray(max(n, 1 << 20))
        buffer = kept
    view = memoryview(buffer)[:n]
    view[:len(head)] = head
    read_into(resp, view[len(head):], start=len(head))
    return view


def request(conns: Connections, method: str, target: str, *, policy: RetryPolicy, headers: Mapping[str, str],
            body: bytes | memoryview | None = None, idempotent: bool = True, ok: tuple[int, ...] = (200,),
            read: Callable[[http.client.HTTPResponse], T] = read_body,  # type: ignore[assignment]
            what: str | None = None, describe: Describe = error_for) -> T:
    """One request on this thread's kept-alive connection, tried as ``policy`` says; returns ``read(answer)``.

    ``read`` takes the body of an answer whose status is in ``ok`` (an ``http.client.HTTPResponse``); the default,
    :func:`read_body`, gives a memoryview of the thread's reused buffer. A connection that fails while ``read`` runs
    is tried again like one that failed before the answer. Other answers are read whole and retried or raised as
    :func:`call` says, with ``describe`` making their error (``what`` names the request in it, default
    ``"METHOD origin+target"``).
    """
    label = what or f"{method} {conns.origin}{target}"

    def attempt() -> T:
        resp = conns.exchange(method, target, headers=headers, body=body)
        try:
            if resp.status in ok:
                return read(resp)
            raise UnwantedAnswer(Answer(resp.status, resp.reason or "", dict(resp.headers), resp.read()))
        except UnwantedAnswer:
            raise
        except BaseException:
            conns.drop()  # a body left half-read: the connection cannot serve the next request
            raise

    return call(policy, attempt, what=label, idempotent=idempotent, describe=describe)
