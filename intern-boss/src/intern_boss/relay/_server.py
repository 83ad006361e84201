"""The relay's guard on connections: uvicorn's HTTP protocol (httptools) with a deadline for a request's headers and a
cap on the connections one worker holds.

uvicorn closes an idle connection only once it has answered a request on it (``timeout_keep_alive``): a connection
that opens and sends nothing, or half a request line, stays open for good, and enough of them use up the process's
open files, after which nobody is served. Its ``limit_concurrency`` does not help there: it counts a connection, and
answers 503, only when a request's headers are complete, which a stalled connection never gets to. So here:

- a connection has ``header_timeout`` seconds from its opening (and from the first byte of each further request on
  it) to send the request's headers; a late one is answered 408 and closed;
- a worker holds at most ``max_connections`` connections; one more is answered 503 (``Retry-After: 1``) and closed
  as soon as it opens, so files stay free for the cache and the upstream.

A late body is the application's to refuse (:meth:`~intern_boss.relay._app.RelayApp._body`): it knows how long the
body may be.
"""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .._wire import ErrorCode
from ._config import RelayConfig

__all__ = ["GuardedProtocol"]


@lru_cache(maxsize=1)
def _limits() -> tuple[float, int]:
    config = RelayConfig.from_env()  # every worker process reads the relay's settings from its environment
    return config.header_timeout, config.max_connections


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the header deadline and the connection cap (see the module's docstring).

    Runs on the worker's event loop only: ``self.connections`` (uvicorn's set of this worker's open connections) and
    the timer are never touched from another thread, so they need no lock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout, self._max_connections = _limits()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # counts this connection among self.connections
        if len(self.connections) > self._max_connections:
            self._refuse(503, ErrorCode.IO_ERROR, f"this relay worker holds its limit of {self._max_connections} "
                         "connections (--max-connections): try again shortly", b"retry-after: 1\r\n")
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a further request on a kept-alive connection: its headers have the same time

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._refuse(408, ErrorCode.BAD_REQUEST, f"the request's headers did not arrive within "
                     f"{self._header_timeout:g} s (the relay's --header-timeout)")

    def _refuse(self, status: int, code: ErrorCode, message: str, extra: bytes = b"") -> None:
        """Answer with a Boss error body and close (closing only, while an answer to an earlier request is still
        being sent on this connection)."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            body = json.dumps({"status": status, "code": int(code), "message": message}).encode()
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n%s\r\n%s"
                                 % (status, HTTPStatus(status).phrase.encode(), len(body), extra, body))
        self.transport.close()
