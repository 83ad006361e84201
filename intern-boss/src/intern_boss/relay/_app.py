"""The relay as an ASGI application: where each request is answered, and how a write's body is let in.

The modules of the relay, in the order a request meets them:

- this one: the ASGI entry (:class:`RelayApp`, :func:`create_app`), request bodies, the thread pool;
- :mod:`._routes`: the route table, method and path pattern to handler (404, 405, and 403 for writes to a read-only
  relay);
- :mod:`._site`: what the process serves (its mounts, cache tiers, tokens), authentication (401, 403);
- :mod:`._resources` and :mod:`._cutouts`: the handlers;
- :mod:`._answers`: requests, answers, and the Boss error body every failure becomes;
- below them, :mod:`._channel` (one mount: geometry, cuboids through the cache), :mod:`._cache`,
  :mod:`._generations`; :mod:`._server` guards connections, :mod:`._cli` and :mod:`._process` start the relay.

Where a request runs. The event loop only moves bytes and answers what needs no waiting: a request other than a
write is first authenticated and routed there (a refusal is answered at once), and a cutout read that is exactly one
cuboid held in the memory tier is answered there too, with the cached buffer (:func:`._cutouts.read_from_memory`).
Everything else, all of which may wait on the upstream, the disk tier, codecs or locks, runs in a thread of the
application's own pool (``--threads``); the work there releases the GIL.

Writes (``POST`` and ``PUT``). A body is read only once everything else about its request has been checked, in a
thread (the box's check may need the upstream's geometry), in this order: the token (401, 403), the route and method
(404, 405), ``--writable`` (403), the channel, box and resolution (404, 400, 413), the ``Content-Type`` (415), then
the declared ``Content-Length`` against the most a body of that box can need (400, 413). A refused body is left
unread and its connection closed after the answer. An admitted body is read on the event loop, never beyond that
most (413) and within ``--body-timeout`` seconds (408), and the write then runs in a thread.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from .._wire import ErrorCode
from ._answers import BossHTTPError, Request, Response, error, failure
from ._config import RelayConfig
from ._routes import SMALL_BODY, WRITES, find
from ._site import Site

__all__ = ["RelayApp", "create_app"]

T = TypeVar("T")
_SLASHES = re.compile(r"/{2,}")


class RelayApp:
    """The ASGI application of one relay process.

    Args:
        config: mounts, tokens, cache settings.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.site = Site(config)
        self.channels = self.site.channels
        self._pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="intern-relay")

    # -- ASGI -----------------------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.site.trimmer.served()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        # the public client asks for lists as /v1/collection//: repeated slashes mean one
        request = Request(scope["method"], _SLASHES.sub("/", unquote(scope["path"])),
                          dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
                          headers)
        if request.method in WRITES:
            response = await self._write(request, receive)
        else:
            response = await self._read(request)
            if _has_body(headers):
                response.close = True  # nothing reads the body: the client would hold the connection sending it
        extra = [*response.extra, (b"connection", b"close")] if response.close else response.extra
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", response.content_type.encode()),
                                (b"content-length", str(len(response.body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.site.trimmer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.site.trimmer.stop()
                self._pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read(self, request: Request) -> Response:
        """Answer a request without a body: here when that needs no waiting, else in a thread."""
        quick = self.answer_on_loop(request)
        if quick is not None:
            return quick
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.answer, request)

    async def _write(self, request: Request, receive: Callable[..., Any]) -> Response:
        """Admit a ``POST`` or ``PUT`` (in a thread), read its body (here), then answer it (in a thread)."""
        loop = asyncio.get_running_loop()
        admitted = await loop.run_in_executor(self._pool, self.admit, request)
        if isinstance(admitted, Response):
            admitted.close = _has_body(request.headers)  # its body stays unread
            return admitted
        try:
            request.body = await self._body(receive, admitted)
        except BossHTTPError as exc:
            refused = error(exc.status, exc.code, exc.message)
            refused.close = True
            return refused
        return await loop.run_in_executor(self._pool, self.answer, request)

    async def _body(self, receive: Callable[..., Any], limit: int) -> bytearray:
        """The request's body, of at most ``limit`` bytes, within ``body_timeout`` seconds.

        Raises:
            BossHTTPError: 413 as soon as it passes ``limit`` (a chunked body says its length only by ending), 408
                when it is late, 400 when the client went away.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.body_timeout
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:  # asyncio's, since Python 3.11
                raise BossHTTPError(408, ErrorCode.BAD_REQUEST, f"the body did not arrive within "
                                    f"{self.config.body_timeout:g} s (the relay's --body-timeout)") from None
            if message["type"] == "http.disconnect":
                raise BossHTTPError(400, ErrorCode.BAD_REQUEST, "the client went away before sending its body")
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > limit:
                raise BossHTTPError(413, ErrorCode.REQUEST_TOO_LARGE,
                                    f"the body is longer than the {limit} bytes its cutout can need")
            body += chunk
            if not message.get("more_body", False):
                return body

    # -- answering --------------------------------------------------------------------------------------------------
    def answer_on_loop(self, request: Request) -> Response | None:
        """The answer when it needs no waiting (a refusal, a cuboid held in memory), else ``None``. On the event loop.

        A cached cuboid is the commonest request; handing it to a thread and back costs more than answering it.
        """
        def work() -> Response | None:
            self.site.authenticate(request)
            route, args = find(request.method, request.path, writable=self.config.writable)
            return route.on_loop(self.site, request, **args) if route.on_loop is not None else None

        return self._guarded(request, work)

    def answer(self, request: Request) -> Response:
        """The answer to a request (a write's with its body read). In a request thread."""
        def work() -> Response:
            self.site.authenticate(request)
            route, args = find(request.method, request.path, writable=self.config.writable)
            return route.handler(self.site, request, **args)

        return self._guarded(request, work)

    def admit(self, request: Request) -> Response | int:
        """Check a ``POST`` or ``PUT`` before its body is read. In a request thread.

        Returns:
            the most bytes its body may have, or the refusal to answer with (its body is then never read).
        """
        def work() -> int:
            self.site.authenticate(request)
            route, args = find(request.method, request.path, writable=self.config.writable)
            limit = route.body_limit(self.site, request, **args) if route.body_limit is not None else SMALL_BODY
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isascii() or not declared.isdigit()):
                raise BossHTTPError(400, ErrorCode.BAD_REQUEST,
                                    f"Content-Length {declared[:40]!r} is not a byte count")
            if declared is not None and int(declared) > limit:
                raise BossHTTPError(413, ErrorCode.REQUEST_TOO_LARGE,
                                    f"the body is {int(declared)} bytes; no body of this request needs more than "
                                    f"{limit}")
            return limit

        return self._guarded(request, work)

    @staticmethod
    def _guarded(request: Request, work: Callable[[], T]) -> T | Response:
        """``work()``, or the Boss error answer for what it raised."""
        try:
            return work()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer (a bug's is logged there)
            return failure(exc, request)


def _has_body(headers: dict[str, str]) -> bool:
    """Whether a request says a body follows its headers (one left unread means its connection must close)."""
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


def create_app() -> RelayApp:
    """The application uvicorn's workers build (configuration from ``INTERN_RELAY_CONFIG``)."""
    return RelayApp(RelayConfig.from_env())
