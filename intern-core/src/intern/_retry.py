"""One retry policy and one status-to-error mapping for every HTTP client of intern (re-exported by :mod:`intern._http`).

A request goes through :func:`call`, which runs one attempt after another under a :class:`RetryPolicy`:

- an answer whose status is in ``policy.statuses`` (429 and the 5xx that pass) is tried again, after a wait that
  doubles from ``policy.first`` up to ``policy.most``, with jitter, or as long as the server's ``Retry-After`` says;
- a failed connection is classified by the type of its exception (:func:`connection_failure`), never by its text:
  one that was never made (:attr:`Failure.UNSENT`) is tried again for any request, since nothing reached the server;
  a timeout or a dropped connection only for an idempotent request, since the server may have acted on it;
- a request that is not idempotent is otherwise sent once, except after a status the policy lists as ``unacted``
  (the server says it did nothing: 429, or a throttled DVID's 503);
- any other answer becomes its intern error at once (:func:`error_for`: 404 is ``NotFoundError``, 401/403
  ``PermissionDeniedError``...); a driver refines the message through ``describe``.

Errors left when the tries are spent are :class:`~intern.errors.RemoteError` with ``attempts`` set: the job runner
(:func:`intern.jobs.run_jobs`) does not retry them again, so a unit of work against a dead server costs the policy's
attempts once, not once per job retry. Each wait is logged (logger ``intern.http``, level INFO).
"""

from __future__ import annotations

import email.utils
import errno
import http.client
import logging
import random
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

from .errors import (
    AlreadyExistsError,
    InternError,
    NotFoundError,
    PermissionDeniedError,
    ReadOnlyError,
    RemoteError,
    TransientRemoteError,
)

__all__ = [
    "ATTEMPTS_HEADER",
    "RETRY_STATUSES",
    "Answer",
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
]

log = logging.getLogger("intern.http")
T = TypeVar("T")

#: answers that may pass: a timeout on the server's side, throttling, a server error or a gateway's
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: the header by which a server that reads from another one (an intern relay) says that its upstream's failure was
#: retried behind it already: ``Intern-Attempts: <tries>``. :func:`call` does not try such an answer again, and its
#: error carries those tries as ``attempts``; a relay whose own upstream is a relay passes the number on. So a read
#: through any number of chained relays costs the failing server the tries of one policy, that of the client next
#: to it, not that number to the power of the hops. An answer without it is retried as usual.
ATTEMPTS_HEADER = "Intern-Attempts"


def attempts_header(attempts: int | None) -> list[tuple[bytes, bytes]]:
    """The ASGI header pairs of an answer to an upstream failure that took ``attempts`` tries (none for one try).

    >>> attempts_header(4), attempts_header(1), attempts_header(None)
    ([(b'intern-attempts', b'4')], [], [])
    """
    if attempts is None or attempts < 2:
        return []
    return [(ATTEMPTS_HEADER.lower().encode(), str(attempts).encode())]


def announced_attempts(headers: Mapping[str, str]) -> int | None:
    """The tries an answer says its failure took behind the server (its ``Intern-Attempts``), if it says so.

    >>> announced_attempts({"intern-attempts": "4"}), announced_attempts({"Intern-Attempts": "x"})
    (4, None)
    """
    value = next((v for k, v in headers.items() if k.lower() == ATTEMPTS_HEADER.lower()), None)
    if value is None or not value.strip().isdigit() or int(value) < 1:
        return None
    return int(value)
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ECONNREFUSED})


class NotConnectedError(ConnectionError):
    """The connection to the server could not be made: nothing of the request was sent.

    :class:`~intern._http.Connections` raises it (from the socket's own error) for a refusal, an unknown host or a
    connect timeout, which a plain ``TimeoutError`` could not tell from a server that took the request and stalled.
    """


class Failure(Enum):
    """How a connection failed, which decides whether a request may be sent again."""

    UNSENT = "no connection"  # refused, unknown host, no route, connect timeout: the server never saw the request
    TIMEOUT = "timed out"  # connected, then no answer in time: the server may be working on it
    DROPPED = "connection dropped"  # reset or closed while the request or its answer travelled
    CERTIFICATE = "certificate not trusted"  # TLS refused the server: trying again cannot help


def _third_party() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(unsent, timeout, dropped) exception types of urllib3 and requests, if a driver imported them.

    The core depends on neither; an exception of theirs can only exist once they are imported, so looking in
    ``sys.modules`` costs nothing and imports nothing.
    """
    unsent: list[type] = []
    timeout: list[type] = []
    dropped: list[type] = []
    urllib3 = sys.modules.get("urllib3.exceptions")
    if urllib3 is not None:  # NewConnectionError and NameResolutionError derive from ConnectTimeoutError
        unsent.append(urllib3.ConnectTimeoutError)
        timeout.append(urllib3.ReadTimeoutError)
        dropped += [urllib3.ProtocolError, urllib3.IncompleteRead]
    requests = sys.modules.get("requests.exceptions")
    if requests is not None:
        unsent.append(requests.ConnectTimeout)
        timeout.append(requests.Timeout)
        dropped += [requests.ConnectionError, requests.ChunkedEncodingError]
    return tuple(unsent), tuple(timeout), tuple(dropped)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: its cause (``raise ... from``), urllib3's ``reason``, exceptions among its ``args``.

    Not the context an exception was raised in: a bug while handling a timeout is a bug, not a timeout.
    """
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        inner = [e.__cause__, getattr(e, "reason", None), *e.args]
        todo += [x for x in inner if isinstance(x, BaseException)]


def connection_failure(exc: BaseException) -> Failure | None:
    """The kind of connection failure ``exc`` is, by the types of it and of what it wraps; ``None`` when it is not one.

    Intern's own errors, ``ValueError`` (a malformed URL) and anything else that is not a network failure are not.

    >>> connection_failure(ConnectionRefusedError(111, "Connection refused")).name
    'UNSENT'
    >>> connection_failure(TimeoutError("timed out")).name
    'TIMEOUT'
    >>> connection_failure(ValueError("Connection refused")) is None
    True
    """
    if isinstance(exc, (InternError, ValueError)) and not isinstance(exc, ssl.SSLError):
        return None
    unsent, timeout, dropped = _third_party()
    chain = list(_chain(exc))
    if not any(isinstance(e, (OSError, http.client.HTTPException, *unsent, *timeout, *dropped)) for e in chain):
        return None
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return Failure.CERTIFICATE
    for e in chain:
        if isinstance(e, (NotConnectedError, ConnectionRefusedError, socket.gaierror, *unsent)) or (
                type(e) is OSError and e.errno in _UNREACHABLE):
            return Failure.UNSENT
    if any(isinstance(e, (TimeoutError, *timeout)) for e in chain):
        return Failure.TIMEOUT
    return Failure.DROPPED


def backoff(attempt: int, *, first: float, most: float, retry_after: str | None = None) -> float:
    """Seconds to wait before trying again after failed attempt number ``attempt`` (0 for the first).

    ``first`` doubles with every attempt, up to ``most``, times a random factor between 0.5 and 1, so that the threads
    of a parallel read do not all retry at the same moment. A server's ``Retry-After`` (seconds, or an HTTP date)
    lengthens the wait, still up to ``most``.

    >>> 0.5 <= backoff(0, first=1.0, most=30.0) < 1.0
    True
    >>> backoff(3, first=1.0, most=30.0, retry_after="20")
    20.0
    """
    delay = min(most, first * 2**attempt) * (0.5 + random.random() / 2)
    asked = _retry_after_seconds(retry_after)
    if asked is not None:
        delay = min(most, max(delay, asked))
    return delay


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """What a client retries, how often, and how long it waits in between.

    Attributes:
        attempts: tries in all, the first included (a driver's ``retries`` setting plus one).
        statuses: answers worth another try.
        first: the first wait, in seconds; it doubles with every try, with jitter.
        most: the longest wait, ``Retry-After`` included.
        retry_after: whether a server's ``Retry-After`` lengthens the wait.
        unsent: whether a request that is not idempotent is tried again when its connection was never made.
        unacted: statuses that say the server did nothing, so that a request that is not idempotent may be repeated
            after them (429 by default; DVID adds 503, its answer when throttled).
        setting: where users raise the retries, named in the messages of errors (``"[dvid] retries"``).
    """

    attempts: int = 6
    statuses: frozenset[int] = RETRY_STATUSES
    first: float = 0.1
    most: float = 30.0
    retry_after: bool = True
    unsent: bool = True
    unacted: frozenset[int] = frozenset({429})
    setting: str = "retries"

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"attempts must be a whole number >= 1 (the first try included), not {self.attempts!r}")
        if self.first < 0 or self.most < self.first:
            raise ValueError(f"waits must satisfy 0 <= first <= most, not first={self.first}, most={self.most}")

    @classmethod
    def from_settings(cls, *, retries: int, backoff: float, most: float | None = None, **fields: Any) -> RetryPolicy:
        """The policy of a driver's ``retries`` (further tries after the first) and ``backoff`` (first wait, in
        seconds); ``most`` caps the waits (default 30 s, or ``backoff`` if that is longer); ``fields`` are the
        others of :class:`RetryPolicy`.

        >>> RetryPolicy.from_settings(retries=5, backoff=0.5, setting="[mydb] retries").attempts
        6
        """
        first = float(backoff)
        return cls(attempts=int(retries) + 1, first=first, most=max(first, cls.most) if most is None else float(most),
                   **fields)

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first), heeding ``Retry-After`` if allowed."""
        return backoff(retry, first=self.first, most=self.most, retry_after=retry_after if self.retry_after else None)

    def retries_status(self, status: int, *, idempotent: bool) -> bool:
        """Whether an answer with ``status`` is worth another try of this request."""
        return status in self.statuses and (idempotent or status in self.unacted)

    def retries_failure(self, failure: Failure, *, idempotent: bool) -> bool:
        """Whether a connection that failed so is worth another try of this request."""
        if failure is Failure.CERTIFICATE:
            return False
        return idempotent or (failure is Failure.UNSENT and self.unsent)


@dataclass(frozen=True)
class Answer:
    """An answer the caller did not want (its status is not the one asked for), read whole."""

    status: int
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def retry_after(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)


class UnwantedAnswer(Exception):
    """Raised by an attempt given to :func:`call` when the server answered with another status than asked for.

    :func:`call` retries it or turns it into intern's error; it never leaves :func:`call`.
    """

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.answer = answer


class Describe(Protocol):
    """A driver's hook: the intern error for an answer (``attempts``: tries spent), usually :func:`error_for`
    refined with what the server's body says."""

    def __call__(self, answer: Answer, what: str, attempts: int) -> Exception: ...


def error_class(status: int) -> type[InternError]:
    """The intern error for an HTTP status: the one mapping every driver shares.

    404/410 ``NotFoundError``; 401/403 ``PermissionDeniedError``; 409 ``AlreadyExistsError``; 423 (locked)
    ``ReadOnlyError``; 408, 429, 500, 502, 503, 504 ``TransientRemoteError``; any other ``RemoteError``.

    >>> error_class(404).__name__, error_class(503).__name__, error_class(400).__name__
    ('NotFoundError', 'TransientRemoteError', 'RemoteError')
    """
    if status in (404, 410):
        return NotFoundError
    if status in (401, 403):
        return PermissionDeniedError
    if status == 409:
        return AlreadyExistsError
    if status == 423:
        return ReadOnlyError
    if status in RETRY_STATUSES:
        return TransientRemoteError
    return RemoteError


def error_for(answer: Answer, what: str, attempts: int = 1, *, message: str | None = None) -> InternError:
    """The intern error for ``answer`` to ``what`` (say ``"GET http://host/path"``), by :func:`error_class`.

    ``message`` is the server's own explanation (default: the start of the body); drivers whose servers wrap it (a
    JSON ``message``) pass it here. Remote errors keep the status, the message as ``body``, and ``attempts``.
    """
    said = (answer.text.strip()[:300] if message is None else message).strip()
    head = f"{what}: {answer.status} {answer.reason}".rstrip() + (f": {said}" if said else "")
    cls = error_class(answer.status)
    if issubclass(cls, TransientRemoteError):
        tries = f" (after {attempts} tries)" if attempts > 1 else ""
        return cls(f"{head}{tries}; the server is busy, overloaded or restarting: try again later", answer.status,
                   said, attempts)
    if issubclass(cls, RemoteError):
        return cls(head, answer.status, said, attempts)
    return cls(head)


def _reason(exc: BaseException) -> str:
    """What went wrong, in the words of the socket's own error when there is one ("[Errno 111] Connection refused"),
    rather than a library's wrapping of it (requests' runs to several hundred characters)."""
    inner = next((e for e in _chain(exc) if type(e).__module__ in ("builtins", "socket", "ssl", "http.client")
                  and str(e)), exc)
    text = str(inner) or type(inner).__name__
    return text if len(text) < 200 else text[:200] + "..."


def call(policy: RetryPolicy, attempt: Callable[[], T], *, what: str, idempotent: bool = True,
         describe: Describe = error_for) -> T:
    """Run ``attempt()`` until it returns, as ``policy`` allows; raise intern's error when it does not.

    ``attempt`` makes one request and returns what the caller wants from it; for an answer it does not want it raises
    :class:`UnwantedAnswer` (read whole first, so its connection can serve the next try). Connection failures it
    lets through as they come (``OSError``, ``http.client``'s, urllib3's, requests'). Anything else it raises, an
    intern error included, leaves :func:`call` unchanged and untried again.

    Raises:
        TransientRemoteError: no answer after the tries (``attempts`` says how many), or a transient status.
        RemoteError: the server's certificate is not trusted, or any error ``describe`` makes of an answer.
    """
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except UnwantedAnswer as unwanted:
            answer = unwanted.answer
            behind = announced_attempts(answer.headers) if answer.status in policy.statuses else None
            if behind is not None:  # retried behind the server already: trying again would multiply the tries
                raise describe(answer, f"{what} (its upstream was tried {behind} times behind it, so not again from "
                                       "here)", behind) from None
            if tries < policy.attempts and policy.retries_status(answer.status, idempotent=idempotent):
                _wait(policy, tries, what, f"{answer.status} {answer.reason}".rstrip(), answer.retry_after)
                continue
            raise describe(answer, what, tries) from None
        except Exception as exc:
            failure = connection_failure(exc)
            if failure is None:
                raise
            if tries < policy.attempts and policy.retries_failure(failure, idempotent=idempotent):
                _wait(policy, tries, what, f"{failure.value}: {_reason(exc)}", None)
                continue
            if failure is Failure.CERTIFICATE:
                raise RemoteError(f"{what}: the server's TLS certificate is not trusted ({_reason(exc)})", None,
                                  None, tries) from exc
            after = f" after {tries} tries" if tries > 1 else ""
            raise TransientRemoteError(
                f"{what}: the server did not answer{after} ({failure.value}: {_reason(exc)}); check that it is up and "
                f"reachable, or raise {policy.setting}", None, None, tries) from exc


def _wait(policy: RetryPolicy, tries: int, what: str, why: str, retry_after: str | None) -> None:
    delay = policy.delay(tries - 1, retry_after)
    log.info("%s: %s; try %d of %d again in %.2g s", what, why, tries + 1, policy.attempts, delay)
    time.sleep(delay)
