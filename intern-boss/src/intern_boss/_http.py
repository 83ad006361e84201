"""The one place the client talks HTTP: a pooled session, retries with backoff, and error translation.

Every request of the client goes through :meth:`Transport.request`, except cutout reads, which go through
:meth:`Transport.fetch`. Threads share one ``requests.Session`` whose connection pool is as large as intern's thread
pool. Cutout reads skip ``requests``: each thread keeps one ``http.client`` connection per server and reads bodies
into a buffer it reuses (:mod:`intern.http`). That took a cached 4 MiB cuboid from about 6.6 to 2 ms of client CPU.

A dropped connection, a timeout, a 5xx or a 429 is retried with exponential backoff (the wait doubles, with jitter,
and follows ``Retry-After`` when the server sends one); requests that are not idempotent (creating a resource) are
retried only when the connection could not be made at all, so nothing is created twice.

Failures leave here as :mod:`intern.errors` exceptions, with the server's own message (the ``message`` of a Boss
error body) and what to do about it.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from intern.errors import (
    AlreadyExistsError,
    NotFoundError,
    PermissionDeniedError,
    RemoteError,
    TransientRemoteError,
)
from intern.http import CONNECTION_ERRORS, Connections, backoff, read_body

from ._config import ClientOptions

__all__ = ["Reply", "Transport"]

_MAX_WAIT = 30.0
# failures while the body is read (stream=True) come from urllib3 itself, not wrapped by requests
urllib3_errors = (ProtocolError, ReadTimeoutError, _Urllib3Error)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


class _InMemory(io.BytesIO):
    """A body already read whole, readable as :mod:`intern.http`'s readers read an ``http.client`` answer."""

    def __init__(self, content: bytes, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(content)
        self._headers = headers or {}

    def getheader(self, name: str, default: str | None = None) -> str | None:
        if name.lower() == "content-length":
            return str(len(self.getbuffer()))
        return self._headers.get(name, default)


@dataclass(frozen=True)
class Reply:
    """A whole answer: status, headers and body (read in one piece)."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Transport:
    """A pooled HTTP session with the client's retry policy.

    Args:
        options: timeouts, retries and backoff.
        pool_size: connections kept per host (at least intern's thread pool size).
    """

    def __init__(self, options: ClientOptions, *, pool_size: int | None = None) -> None:
        from intern.config import max_workers

        self.options = options
        size = max(pool_size or 0, max_workers() + 4)
        self._session = requests.Session()
        # requests looks proxies and .netrc up in the environment on every call (milliseconds each); the proxies of
        # each origin are looked up once instead, and the token is our own header
        self._session.trust_env = False
        self._proxies: dict[str, dict[str, str]] = {}
        # retries are ours (one policy, one place); urllib3's own are off
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._lock = threading.Lock()
        self._bulk: dict[str, Connections] = {}

    def _connections(self, url: str) -> Connections:
        origin = _origin(url)
        found = self._bulk.get(origin)
        if found is None:
            with self._lock:
                found = self._bulk.setdefault(origin, Connections(
                    origin, connect_timeout=self.options.connect_timeout, timeout=self.options.timeout))
        return found

    def _proxies_for(self, url: str) -> dict[str, str]:
        origin = _origin(url)
        found = self._proxies.get(origin)
        if found is None:
            found = requests.utils.get_environ_proxies(origin)
            with self._lock:
                self._proxies[origin] = found
        return found

    def close(self) -> None:
        self._session.close()
        for conns in self._bulk.values():
            conns.drop()

    def fetch(self, url: str, *, token: str, accept: str, params: Mapping[str, Any] | None = None,
              what: str = "", read: Callable[[Any], T] = read_body) -> T:  # type: ignore[assignment]
        """GET a large body (a cutout): same retries and errors as :meth:`request`, a lighter path.

        The answer comes on this thread's kept-alive connection; ``read`` takes the body from it (an
        ``http.client.HTTPResponse``) and its result is returned. The default, :func:`intern.http.read_body`, gives a
        memoryview of the thread's reused buffer, valid until the thread's next fetch. A failure while ``read`` runs
        is retried like one before the answer. Through a proxy, :meth:`request` carries the body, and ``read`` is
        given it as a readable in-memory answer.
        """
        if self._proxies_for(url):
            reply = self.request("GET", url, token=token, accept=accept, params=params, what=what)
            return read(_InMemory(reply.content, reply.headers))
        conns = self._connections(url)
        target = url[len(conns.origin):] + ("?" + urlencode(params) if params else "")
        headers = {"Authorization": f"Token {token}", "Accept": accept}
        label = what or f"GET {url}"
        attempt = 0
        while True:
            try:
                resp = conns.exchange("GET", target, headers=headers)
                if resp.status == 200:
                    return read(resp)
                reply = Reply(resp.status, resp.reason or "", resp.headers, resp.read())
            except CONNECTION_ERRORS as exc:
                conns.drop()
                if attempt < self.options.retries:
                    self._wait(attempt, None)
                    attempt += 1
                    continue
                raise _no_answer(label, conns.origin, attempt, exc) from None
            if reply.status_code in _RETRY_STATUS and attempt < self.options.retries:
                self._wait(attempt, reply.headers.get("Retry-After"))
                attempt += 1
                continue
            raise _error(reply, label, attempt)

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        ok: tuple[int, ...] = (200,),
        accept: str | None = None,
        content_type: str = "application/json",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        idempotent: bool = True,
        what: str = "",
    ) -> Reply:
        """Send one request, retrying as the policy says, and return the response whose status is in ``ok``.

        Raises:
            NotFoundError: 404.
            PermissionDeniedError: 401 or 403.
            AlreadyExistsError: 409, or a Boss "already exists" answer.
            TransientRemoteError: connection failures, timeouts, 5xx and 429 still failing after every retry.
            RemoteError: any other status.
        """
        headers = {"Authorization": f"Token {token}", "Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        body = data if data is not None else (json.dumps(json_body).encode() if json_body is not None else None)
        opts = self.options
        label = what or f"{method} {url}"
        attempt = 0
        while True:
            try:
                resp = self._session.request(method, url, headers=headers, params=params, data=body, stream=True,
                                             timeout=(opts.connect_timeout, opts.timeout),
                                             proxies=self._proxies_for(url))
                # one read of the whole body: requests' own .content goes 10 KB at a time
                reply = Reply(resp.status_code, resp.reason or "", resp.headers, resp.raw.read(decode_content=True))
                resp.close()
            except (requests.ConnectionError, requests.Timeout, *urllib3_errors) as exc:
                connect_failed = isinstance(exc, requests.ConnectTimeout) or _refused(exc)
                if attempt < opts.retries and (idempotent or connect_failed):
                    self._wait(attempt, None)
                    attempt += 1
                    continue
                raise _no_answer(label, _origin(url), attempt, exc) from None
            if reply.status_code in ok:
                return reply
            if reply.status_code in _RETRY_STATUS and idempotent and attempt < opts.retries:
                self._wait(attempt, reply.headers.get("Retry-After"))
                attempt += 1
                continue
            raise _error(reply, label, attempt)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        time.sleep(backoff(attempt, first=self.options.backoff, most=_MAX_WAIT, retry_after=retry_after))


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _no_answer(label: str, origin: str, attempt: int, exc: BaseException) -> TransientRemoteError:
    tries = f" after {attempt + 1} tries" if attempt else ""
    return TransientRemoteError(f"{label}: no answer from {origin}{tries} ({_reason(exc)}); check that the server is "
                                "up and reachable, or raise [bossdb] retries/timeout")


def _refused(exc: BaseException) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "Failed to resolve" in text


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


def boss_message(resp: Reply) -> str:
    """The ``message`` of a Boss error body, or the start of whatever the server sent."""
    try:
        body = resp.json()
        if isinstance(body, dict) and "message" in body:
            return str(body["message"])
    except ValueError:
        pass
    text = resp.text.strip()
    return text[:300] if text else resp.reason or ""


def _error(resp: Reply, label: str, retries: int) -> Exception:
    status = resp.status_code
    message = boss_message(resp)
    head = f"{label}: {status} {resp.reason or ''}".rstrip() + (f": {message}" if message else "")
    if status == 404:
        return NotFoundError(f"{head}")
    if status in (401, 403):
        return PermissionDeniedError(
            f"{head}. Check the token: INTERN_TOKEN or 'token' in [Default] of ~/.intern/intern.cfg (anonymous "
            "access uses 'public')")
    if status == 409 or "already exist" in message.lower():
        return AlreadyExistsError(head)
    if status in _RETRY_STATUS:
        tries = f" (after {retries + 1} tries)" if retries else ""
        return TransientRemoteError(f"{head}{tries}; the server may be overloaded or its upstream down, try again "
                                    "later", status, message)
    return RemoteError(head, status, message)
