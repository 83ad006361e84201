"""The one place the client talks HTTP: a pooled session, the core's retry policy, and the Boss's error bodies.

Every request of the client goes through :meth:`Transport.request`, except cutout reads, which go through
:meth:`Transport.fetch`. Threads share one ``requests.Session`` whose connection pool is as large as intern's thread
pool. Cutout reads skip ``requests``: each thread keeps one ``http.client`` connection per server and reads bodies
into a buffer it reuses (:mod:`intern.plugin`). That took a cached 4 MiB cuboid from about 6.6 to 2 ms of client CPU.

Both paths retry under one :class:`intern.plugin.RetryPolicy` (the ``retries`` and ``backoff`` settings; waits capped
at 30 s): a connection that failed, a timeout, 408, 429 and 500/502/503/504 are retried with exponential backoff
(with jitter, following ``Retry-After``); requests that are not idempotent (creating a resource) are retried only
when the connection could not be made at all, or after 429, so nothing is created twice.

Failures leave as :mod:`intern.errors` exceptions by the core's status mapping (:func:`intern.plugin.error_for`),
refined here with what the Boss's error body says (its ``message`` and ``code``) and what to do about it.

An answer that says its failure was retried already behind the server (a relay's ``Intern-Attempts``) is not tried
again: the core's policy stops there (:data:`intern.plugin.ATTEMPTS_HEADER`), and the error carries those tries as
``attempts``. Retrying it here would repeat the relay's tries once for each of ours, and once more for every relay in a
chain.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from intern.errors import AlreadyExistsError, NotFoundError, PermissionDeniedError, TransientRemoteError
from intern.plugin import (
    Answer,
    Connections,
    RetryPolicy,
    UnwantedAnswer,
    call_with_retries,
    error_for,
    http_request,
    read_body,
)

from ._config import ClientOptions
from ._wire import ErrorCode

__all__ = ["Reply", "Transport"]

_MAX_WAIT = 30.0
T = TypeVar("T")


class _InMemory(io.BytesIO):
    """A body already read whole, readable as :mod:`intern.plugin`'s readers read an ``http.client`` answer."""

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
        from intern.plugin import max_workers

        self.options = options
        self.policy = RetryPolicy.from_settings(retries=options.retries, backoff=options.backoff,
                                                most=max(_MAX_WAIT, options.backoff), setting="[bossdb] retries")
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
        ``http.client.HTTPResponse``) and its result is returned. The default, :func:`intern.plugin.read_body`, gives a
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
        label = f"{what} at {conns.origin}" if what else f"GET {url}"
        return http_request(conns, "GET", target, policy=self.policy, headers=headers, read=read, what=label,
                            describe=_describe)

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
        timeout = (self.options.connect_timeout, self.options.timeout)
        proxies = self._proxies_for(url)

        def attempt() -> Reply:
            resp = self._session.request(method, url, headers=headers, params=params, data=body, stream=True,
                                         timeout=timeout, proxies=proxies)
            try:
                # one read of the whole body: requests' own .content goes 10 KB at a time
                reply = Reply(resp.status_code, resp.reason or "", resp.headers, resp.raw.read(decode_content=True))
            finally:
                resp.close()
            if reply.status_code not in ok:
                raise UnwantedAnswer(Answer(reply.status_code, reply.reason, reply.headers, reply.content))
            return reply

        label = f"{what} at {_origin(url)}" if what else f"{method} {url}"
        return call_with_retries(self.policy, attempt, what=label, idempotent=idempotent,
                          describe=_describe)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _boss_error(body: bytes) -> tuple[str | None, int | None]:
    """(``message``, ``code``) of a Boss error body ``{"status", "code", "message"}``; the text when it is not JSON."""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and "message" in parsed:
            code = parsed.get("code")
            return str(parsed["message"]), code if isinstance(code, int) else None
    except ValueError:
        pass
    text = body.decode("utf-8", "replace").strip()
    return (text[:300] if text else None), None


def _describe(answer: Answer, what: str, attempts: int) -> Exception:
    """The core's error for ``answer``, refined by the Boss's body: its message, its code, and what to do."""
    message, code = _boss_error(answer.body)
    error = error_for(answer, what, attempts, message=message or "")
    if code == ErrorCode.RESOURCE_EXISTS or "already exist" in (message or "").lower():
        return AlreadyExistsError(str(error))
    if code == ErrorCode.RESOURCE_NOT_FOUND and not isinstance(error, NotFoundError):
        return NotFoundError(str(error))
    if isinstance(error, PermissionDeniedError) or code in (ErrorCode.MISSING_ROLE, ErrorCode.MISSING_PERMISSION):
        return PermissionDeniedError(
            f"{error}. Check the token: INTERN_TOKEN or 'token' in [Default] of ~/.intern/intern.cfg (anonymous "
            "access uses 'public')")
    if isinstance(error, TransientRemoteError):
        return TransientRemoteError(f"{error}, or raise [bossdb] retries", error.status, error.body, error.attempts)
    return error
