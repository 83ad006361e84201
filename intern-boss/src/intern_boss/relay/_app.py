"""The relay as an ASGI application: Boss routes, authentication, validation and Boss error bodies.

Every request runs in a thread of the application's own pool (the work is cache I/O, codecs and upstream reads,
all of which release the GIL); the event loop only moves bytes. Requests are checked completely (authentication,
route, resource, ranges, bounds, size, body) before anything reaches the cache or the upstream. A body is read only
once everything else about its request has been checked (token, ``--writable``, route, box, format, declared
length), never beyond the most its box can need, and within ``body_timeout`` seconds; a refused body is left
unread and its connection closed.

Served (``GET`` unless marked):

=====================================================  =================================================
``/v1/collection/`` ... ``/channel/{ch}``              resources and lists, derived from the mounts
``/v1/coord/``, ``/v1/coord/{name}``                   coordinate frames (one per experiment)
``/v1/cutout/{c}/{e}/{ch}/{res}/{x}/{y}/{z}[/{t}]``    cutouts (``POST`` too, with ``--writable``)
``PUT /v1/cutout/to_black/...``                        zero a region (``--writable``)
``/v1/meta/{c}[/{e}[/{ch}]]``                          the upstream's attributes as metadata keys
``/v1/downsample/{c}/{e}/{ch}``                        downsample status
``/v1/ids/{c}/{e}/{ch}/{res}/{x}/{y}/{z}[/{t}]``       labels present in a region
``/relay/stats``                                       this process's cache counters (not Boss)
=====================================================  =================================================
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import parse_qsl, unquote

import numpy as np

from intern.box import Box
from intern.errors import InternError, MetadataError, PermissionDeniedError, TransientRemoteError

from .._checksum import crc32, header
from .._wire import (
    BLOSC,
    BLOSC_PYTHON,
    FORMATS,
    JPEG,
    NPYGZ,
    BodyError,
    ErrorCode,
    decode,
    encode,
    is_count,
    max_body_size,
    parse_range,
)
from ._cache import CacheStats, DiskTier, MemoryTier
from ._channel import ServedChannel, UpstreamUnavailable
from ._config import RelayConfig
from ._memory import HeapTrimmer

__all__ = ["BossHTTPError", "RelayApp", "create_app"]

log = logging.getLogger("intern.relay")
_CREATOR = "intern-relay"


class BossHTTPError(Exception):
    """An answer with a Boss error body ``{"status", "code", "message"}``."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | bytearray = b""


class _Later(Exception):
    """A quick answer would need more than the event loop should do: a worker thread answers."""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    extra: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False  # close the connection after it (a request body is left unread)


def _json(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value).encode())


def _error(status: int, code: ErrorCode, message: str) -> Response:
    return _json({"status": status, "code": int(code), "message": message}, status)


_NAME = r"[A-Za-z0-9_-]+"
_ROUTES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), h) for p, h in [
    (r"^/v1/collection/?$", "collections"),
    (rf"^/v1/collection/(?P<c>{_NAME})/?$", "collection"),
    (rf"^/v1/collection/(?P<c>{_NAME})/experiment/?$", "experiments"),
    (rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/?$", "experiment"),
    (rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/channel/?$", "channels"),
    (rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/channel/(?P<ch>{_NAME})/?$", "channel"),
    (r"^/v1/coord/?$", "coords"),
    (rf"^/v1/coord/(?P<name>{_NAME})/?$", "coord"),
    (rf"^/v1/cutout/to_black/(?P<c>{_NAME})/(?P<e>{_NAME})/(?P<ch>{_NAME})/(?P<rest>.*)$", "to_black"),
    (rf"^/v1/cutout/(?P<c>{_NAME})/(?P<e>{_NAME})/(?P<ch>{_NAME})/(?P<rest>.*)$", "cutout"),
    (rf"^/v1/ids/(?P<c>{_NAME})/(?P<e>{_NAME})/(?P<ch>{_NAME})/(?P<rest>.*)$", "ids"),
    (rf"^/v1/meta/(?P<c>{_NAME})(?:/(?P<e>{_NAME}))?(?:/(?P<ch>{_NAME}))?/?$", "meta"),
    (rf"^/v1/downsample/(?P<c>{_NAME})/(?P<e>{_NAME})/(?P<ch>{_NAME})/?$", "downsample"),
    (r"^/relay/stats/?$", "stats"),
]]
_WRITES = {"cutout": "POST", "to_black": "PUT"}
_SLASHES = re.compile(r"/{2,}")
_SMALL_BODY = 1 << 16  # what a write without data (to_black) may carry, unread
_JPEG_SIDE = 65535  # the most rows and columns a JPEG image has


class RelayApp:
    """The ASGI application of one relay process.

    Args:
        config: mounts, tokens, cache settings.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.stats = CacheStats()
        self.memory = MemoryTier(config.memory_size)
        disk = DiskTier(config.cache_dir, config.cache_size, self.stats) \
            if config.cache_dir and config.cache_size > 0 else None
        self.channels = {m.path: ServedChannel(m, i, memory=self.memory, disk=disk, stats=self.stats,
                                               check_disk=config.workers > 1 and config.writable)
                         for i, m in enumerate(config.mounts)}
        self._pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="intern-relay")
        self._trimmer = HeapTrimmer(config.trim_every)
        self._tokens = tuple(t.encode() for t in config.tokens)

    # -- ASGI -----------------------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._trimmer.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self._trimmer.stop()
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self._trimmer.served()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        # the public client asks for lists as /v1/collection//: repeated slashes mean one
        request = Request(scope["method"], _SLASHES.sub("/", unquote(scope["path"])),
                          dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
                          headers)
        loop = asyncio.get_running_loop()
        response: Response | None = None
        if request.method in ("POST", "PUT"):
            # everything but the body is checked first (the token and --writable among it), in a thread since the
            # box's check may need the upstream's metadata: nobody makes the relay hold a body it would refuse
            admitted = await loop.run_in_executor(self._pool, self.admit, request)
            if isinstance(admitted, Response):
                response = admitted
                response.close = _has_body(headers)
            else:
                try:
                    request.body = await self._body(receive, admitted)
                except BossHTTPError as exc:
                    response = _error(exc.status, exc.code, exc.message)
                    response.close = True
        if response is None:
            response = self.handle(request, quick=True)
        if response is None:
            response = await loop.run_in_executor(self._pool, self.handle, request)
        if request.method not in ("POST", "PUT") and _has_body(headers):
            response.close = True  # nothing else reads a body: the client would hold the connection sending it
        extra = [*response.extra, (b"connection", b"close")] if response.close else response.extra
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", response.content_type.encode()),
                                (b"content-length", str(len(response.body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": response.body})

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
            except TimeoutError:
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

    # -- dispatch -------------------------------------------------------------------------------------------------
    @overload
    def handle(self, request: Request) -> Response: ...
    @overload
    def handle(self, request: Request, *, quick: bool) -> Response | None: ...

    def handle(self, request: Request, *, quick: bool = False) -> Response | None:
        """Answer one request (in a worker thread).

        With ``quick``, on the event loop: answer only what needs neither the upstream, nor the disk's data, nor an
        assembled array (a refusal, or exactly one cuboid held in memory), and return ``None`` for the rest. A cached
        cuboid is the commonest request; handing it to a thread and back costs more than answering it.
        """
        return self._answering(request, lambda: self._route(request, quick=quick))

    def admit(self, request: Request) -> Response | int:
        """Check a ``POST`` or ``PUT`` before its body is read (in a worker thread).

        Returns:
            the most bytes its body may have, or the refusal to answer with (its body is then never read).
        """
        return self._answering(request, lambda: self._admit(request))  # type: ignore[return-value]

    def _answering(self, request: Request, work: Callable[[], Any]) -> Any:
        """``work()``, with every failure turned into its Boss error answer (``None`` for :class:`_Later`)."""
        try:
            return work()
        except _Later:
            return None
        except BossHTTPError as exc:
            return _error(exc.status, exc.code, exc.message)
        except BodyError as exc:
            return _error(400, exc.code, str(exc))
        except UpstreamUnavailable as exc:
            return _error(503, ErrorCode.IO_ERROR, str(exc))
        except TransientRemoteError as exc:
            return _error(503, ErrorCode.IO_ERROR, f"the upstream did not answer: {exc}")
        except PermissionDeniedError as exc:
            return _error(403, ErrorCode.MISSING_PERMISSION, str(exc))
        except MetadataError as exc:
            return _error(502, ErrorCode.IO_ERROR, f"the upstream cannot be served as a Boss channel: {exc}")
        except InternError as exc:
            return _error(502, ErrorCode.IO_ERROR, f"the upstream failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug must still answer with a Boss body, and be logged
            log.exception("error answering %s %s", request.method, request.path)
            return _error(500, ErrorCode.IO_ERROR, f"internal error: {type(exc).__name__}: {exc}")

    def _match(self, request: Request) -> tuple[str, dict[str, str]]:
        for pattern, name in _ROUTES:
            m = pattern.match(request.path)
            if m:
                return name, {k: v for k, v in m.groupdict().items() if v is not None}
        raise BossHTTPError(404, ErrorCode.INVALID_URL, f"no Boss route is {request.path}")

    def _route(self, request: Request, *, quick: bool) -> Response | None:
        self._authenticate(request)
        name, args = self._match(request)
        if quick and (name != "cutout" or request.method != "GET"
                      or not self._channel(args["c"], args["e"], args["ch"]).opened):
            return None
        return self._dispatch(name, request, args, quick=quick)

    def _admit(self, request: Request) -> int:
        self._authenticate(request)
        name, args = self._match(request)
        self._check_method(name, request)
        limit = _SMALL_BODY
        if name == "cutout":
            served = self._channel(args["c"], args["e"], args["ch"])
            _, box, _ = self._write_region(served, args["rest"])
            _write_format(request)
            limit = max_body_size(box.size * np.dtype(served.geometry().dtype).itemsize)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isascii() or not declared.isdigit()):
            raise BossHTTPError(400, ErrorCode.BAD_REQUEST, f"Content-Length {declared[:40]!r} is not a byte count")
        if declared is not None and int(declared) > limit:
            raise BossHTTPError(413, ErrorCode.REQUEST_TOO_LARGE,
                                f"the body is {int(declared)} bytes; no body of this request needs more than {limit}")
        return limit

    def _authenticate(self, request: Request) -> None:
        if not self._tokens:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "token" or not token.strip():
            raise BossHTTPError(401, ErrorCode.MISSING_PERMISSION,
                                "this relay needs 'Authorization: Token <token>' (set INTERN_TOKEN)")
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, t) for t in self._tokens):
            raise BossHTTPError(403, ErrorCode.MISSING_PERMISSION, "the token is not one this relay accepts")

    def _dispatch(self, name: str, request: Request, args: dict[str, str], *, quick: bool = False) -> Response:
        if quick:
            return self._get_cutout(request, quick=True, **args)
        if request.method == "GET" and name != "to_black":
            return getattr(self, f"_get_{name}")(request, **args)
        self._check_method(name, request)
        return getattr(self, f"_write_{name}")(request, **args)

    def _check_method(self, name: str, request: Request) -> None:
        """Refuse a request that would write where this relay writes nothing, or with another method."""
        write = _WRITES.get(name)
        if write == request.method:
            if not self.config.writable:
                raise BossHTTPError(403, ErrorCode.MISSING_PERMISSION,
                                    "this relay is read-only (start it with --writable to write through)")
            return
        allowed = "GET" + (f", {write}" if write else "")
        if name == "to_black":
            allowed = "PUT"
        raise BossHTTPError(405, ErrorCode.INVALID_REQUEST,
                            f"{request.method} is not served on {request.path} (allowed: {allowed}); a relay's "
                            "resources are its mounts and cannot be created, changed or deleted")

    # -- resources --------------------------------------------------------------------------------------------------
    def _mounts(self, c: str | None = None, e: str | None = None) -> list[ServedChannel]:
        return [ch for ch in self.channels.values()
                if (c is None or ch.mount.collection == c) and (e is None or ch.mount.experiment == e)]

    def _channel(self, c: str, e: str, ch: str) -> ServedChannel:
        found = self.channels.get(f"{c}/{e}/{ch}")
        if found is None:
            raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"channel {c}/{e}/{ch} is not served here")
        return found

    def _need(self, c: str, e: str | None = None) -> list[ServedChannel]:
        found = self._mounts(c, e)
        if not found:
            what = f"experiment {c}/{e}" if e else f"collection {c}"
            raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"{what} is not served here")
        return found

    def _get_collections(self, request: Request) -> Response:
        return _json({"collections": sorted({m.mount.collection for m in self.channels.values()})})

    def _get_collection(self, request: Request, c: str) -> Response:
        found = self._need(c)
        return _json({"name": c, "description": "", "creator": _CREATOR,
                      "experiments": sorted({m.mount.experiment for m in found})})

    def _get_experiments(self, request: Request, c: str) -> Response:
        return _json({"experiments": sorted({m.mount.experiment for m in self._need(c)})})

    def _get_experiment(self, request: Request, c: str, e: str) -> Response:
        found = sorted(self._need(c, e), key=lambda m: m.mount.channel)
        geometry = found[0].geometry()
        return _json({
            "name": e, "description": "", "collection": c, "coord_frame": _frame_name(c, e),
            "num_hierarchy_levels": len(geometry.levels), "hierarchy_method": geometry.method,
            "num_time_samples": geometry.times or 1, "time_step": 0, "time_step_unit": "", "creator": _CREATOR,
            "channels": [m.mount.channel for m in found], "public": not self._tokens})

    def _get_channels(self, request: Request, c: str, e: str) -> Response:
        return _json({"channels": sorted(m.mount.channel for m in self._need(c, e))})

    def _get_channel(self, request: Request, c: str, e: str, ch: str) -> Response:
        served = self._channel(c, e, ch)
        geometry = served.geometry()
        return _json({
            "name": ch, "description": "", "experiment": e, "default_time_sample": 0,
            "type": "annotation" if geometry.kind == "segmentation" else "image", "base_resolution": 0,
            "datatype": geometry.dtype, "creator": _CREATOR, "sources": [], "related": [],
            "downsample_status": _status(served), "public": not self._tokens,
            "storage_type": "spdb", "bucket": None, "cv_path": None})

    def _get_coords(self, request: Request) -> Response:
        return _json({"coords": sorted({_frame_name(m.mount.collection, m.mount.experiment)
                                        for m in self.channels.values()})})

    def _get_coord(self, request: Request, name: str) -> Response:
        for served in sorted(self.channels.values(), key=lambda m: m.mount.path):
            if _frame_name(served.mount.collection, served.mount.experiment) == name:
                return _json({"name": name, "description": f"frame of {served.mount.collection}/"
                                                           f"{served.mount.experiment}",
                              **served.geometry().frame()})
        raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"coordinate frame {name} is not served here")

    def _get_meta(self, request: Request, c: str, e: str | None = None, ch: str | None = None) -> Response:
        attributes: dict[str, str] = {}
        if ch is not None:
            attributes = self._channel(c, e or "", ch).geometry().attributes
        else:
            self._need(c, e)
        key = request.query.get("key")
        if key is None:
            return _json({"keys": sorted(attributes)})
        if key not in attributes:
            raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"metadata key {key!r} does not exist")
        return _json({"key": key, "value": attributes[key]})

    def _get_downsample(self, request: Request, c: str, e: str, ch: str) -> Response:
        served = self._channel(c, e, ch)
        levels = served.geometry().levels
        return _json({
            "status": _status(served), "num_hierarchy_levels": len(levels),
            "voxel_size": {str(r): list(reversed(lv.voxel)) for r, lv in enumerate(levels)},
            "extent": {str(r): list(reversed(lv.shape)) for r, lv in enumerate(levels)},
            "cuboid_size": {str(r): [512, 512, 16] for r in range(len(levels))}})

    def _get_stats(self, request: Request) -> Response:
        import os

        return _json({"pid": os.getpid(), "memory_bytes": self.memory.size, "heap_trims": self._trimmer.trims,
                      **self.stats.as_dict()})

    # -- cutouts ------------------------------------------------------------------------------------------------------
    def _region(self, served: ServedChannel, rest: str) -> tuple[int, Box, bool]:
        """(resolution, (t, z, y, x) frame box, whether the URL had a time range), validated."""
        parts = [p for p in rest.split("/")]
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) not in (4, 5) or not is_count(parts[0]):
            raise BossHTTPError(400, ErrorCode.INVALID_CUTOUT_ARGS,
                                "a cutout URL ends RES/X0:X1/Y0:Y1/Z0:Z1[/T0:T1]/ with whole numbers (ASCII digits)")
        try:
            ranges = [parse_range(p) for p in parts[1:]]
        except ValueError as exc:
            raise BossHTTPError(400, ErrorCode.INVALID_CUTOUT_ARGS, str(exc)) from None
        geometry = served.geometry()
        res = int(parts[0])
        if res >= len(geometry.levels):
            raise BossHTTPError(400, ErrorCode.INVALID_CUTOUT_ARGS,
                                f"resolution {res} does not exist: {served.mount.path} has 0..{len(geometry.levels) - 1}")
        level = geometry.levels[res]
        (x0, x1), (y0, y1), (z0, z1) = ranges[:3]
        t0, t1 = ranges[3] if len(ranges) == 4 else (0, 1)
        times = geometry.times or 1
        box = Box((t0, z0, y0, x0), (t1, z1, y1, x1))
        bounds = Box((0, *level.offset), (times, *(o + n for o, n in zip(level.offset, level.shape))))
        if not bounds.contains(box):
            frame = ", ".join(f"{a}: {lo}:{hi}" for a, lo, hi in zip("tzyx", bounds.start, bounds.stop))
            raise BossHTTPError(400, ErrorCode.INVALID_CUTOUT_ARGS,
                                f"the cutout reaches outside the frame at resolution {res} ({frame})")
        itemsize = np.dtype(geometry.dtype).itemsize
        limit = self.config.max_cutout * (4 if itemsize == 8 else 1)
        if box.size * itemsize > limit:
            raise BossHTTPError(413, ErrorCode.REQUEST_TOO_LARGE,
                                f"the cutout is {box.size * itemsize} bytes uncompressed, over the limit of {limit}: "
                                "request smaller blocks")
        return res, box, len(ranges) == 4

    def _query(self, request: Request, served: ServedChannel, res: int) -> list[int] | None:
        mode = request.query.get("access-mode")
        if mode is not None and mode not in ("cache", "no-cache", "raw"):
            raise BossHTTPError(400, ErrorCode.INVALID_ARGUMENT, f"access-mode={mode!r}: use cache, no-cache or raw")
        if request.query.get("iso", "false").lower() == "true" and res and served.geometry().method != "isotropic":
            raise BossHTTPError(400, ErrorCode.INVALID_ARGUMENT, "iso=true: this relay serves the channel's "
                                                                 "anisotropic pyramid only")
        text = request.query.get("filter")
        if text is None:
            return None
        geometry = served.geometry()
        if geometry.kind != "segmentation" or np.dtype(geometry.dtype).kind not in "iu":
            raise BossHTTPError(400, ErrorCode.INVALID_ARGUMENT,
                                f"filter applies to annotation channels only; {served.mount.path} is an image channel")
        items = [i.strip() for i in text.split(",") if i.strip()]
        most = int(np.iinfo(geometry.dtype).max)
        # ids are compared with the channel's labels in its dtype: one it cannot hold would overflow there
        if not all(i.isascii() and i.isdigit() and len(i) <= 20 and int(i) <= most for i in items):
            raise BossHTTPError(400, ErrorCode.INVALID_ARGUMENT, f"filter={text[:60]!r}: give comma-separated label "
                                f"ids, whole numbers from 0 to {most} ({geometry.dtype})")
        return [int(i) for i in items]

    def _get_cutout(self, request: Request, c: str, e: str, ch: str, rest: str, *, quick: bool = False) -> Response:
        served = self._channel(c, e, ch)
        res, box, timed = self._region(served, rest)
        ids = self._query(request, served, res)
        fmt = _accept(request.headers.get("accept"))
        if fmt == JPEG and (served.geometry().dtype != "uint8" or timed):
            raise BossHTTPError(400, ErrorCode.DATATYPE_NOT_SUPPORTED, "image/jpeg serves uint8 (z, y, x) cutouts only")
        _, z, y, x = box.shape
        if fmt == JPEG and (z * y > _JPEG_SIDE or x > _JPEG_SIDE):
            raise BossHTTPError(400, ErrorCode.INVALID_REQUEST,
                                f"image/jpeg stacks z-slices into one image of at most {_JPEG_SIDE} rows and columns; "
                                f"this cutout would be {z * y} x {x}: ask for fewer slices, or another format")
        # every answer carries its body's CRC-32 (kept with each cached cuboid), checked by relays and clients downstream
        if quick:
            entry = served.memory_answer(res, box) if fmt == BLOSC and ids is None else None
            if entry is None:
                raise _Later
            return Response(200, entry.payload, BLOSC, [header(entry.crc)])
        items = served.payloads(res, box)
        if fmt == BLOSC and ids is None and len(items) == 1 and items[0].box == box:
            # exactly one cuboid: its cached buffer is the answer
            return Response(200, items[0].payload, BLOSC, [header(items[0].crc)])
        data = served.assemble(box, items)
        if ids is not None:
            data[~np.isin(data, np.asarray(ids, dtype=data.dtype))] = 0
        if not timed:
            data = data[0]
        body = encode(data, fmt)
        return Response(200, body, fmt, [header(crc32(body))])

    def _get_ids(self, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
        served = self._channel(c, e, ch)
        if served.geometry().kind != "segmentation":
            raise BossHTTPError(400, ErrorCode.INVALID_REQUEST, f"{served.mount.path} is not an annotation channel")
        res, box, _ = self._region(served, rest)
        labels = np.unique(served.read(res, box))
        return _json({"ids": [str(int(i)) for i in labels if i != 0]})

    def _write_region(self, served: ServedChannel, rest: str) -> tuple[int, Box, bool]:
        res, box, timed = self._region(served, rest)
        if res != 0:
            raise BossHTTPError(400, ErrorCode.INVALID_REQUEST, "writes go to the base resolution 0 only")
        return res, box, timed

    def _write_cutout(self, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
        served = self._channel(c, e, ch)
        _, box, timed = self._write_region(served, rest)
        fmt = _write_format(request)
        shape = box.shape if timed else box.shape[1:]
        data = decode(request.body, fmt, dtype=served.geometry().dtype, shape=shape)
        served.write(box, data.reshape(box.shape))
        return Response(201)

    def _write_to_black(self, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
        served = self._channel(c, e, ch)
        _, box, _ = self._write_region(served, rest)
        served.write(box, np.zeros(box.shape, served.geometry().dtype))
        return Response(200)


def _write_format(request: Request) -> str:
    fmt = (request.headers.get("content-type") or BLOSC).split(";")[0].strip().lower()
    if fmt not in (BLOSC, BLOSC_PYTHON, NPYGZ):
        raise BossHTTPError(415, ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT,
                            f"Content-Type {fmt!r}: write application/blosc, application/blosc-python or "
                            "application/npygz")
    return fmt


def _has_body(headers: dict[str, str]) -> bool:
    """Whether a request says a body follows its headers (one left unread means its connection must close)."""
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


def _frame_name(c: str, e: str) -> str:
    return f"{c}_{e}"


def _status(served: ServedChannel) -> str:
    if served.was_written():
        return "NOT_DOWNSAMPLED"
    return "DOWNSAMPLED" if len(served.geometry().levels) > 1 else "NOT_DOWNSAMPLED"


def _accept(header: str | None) -> str:
    """The body format an ``Accept`` header asks for (blosc when it asks for anything)."""
    if not header:
        return BLOSC
    for item in header.split(","):
        kind = item.split(";")[0].strip().lower()
        if kind in FORMATS:
            return kind
        if kind in ("*/*", "application/*"):
            return BLOSC
    raise BossHTTPError(406, ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT,
                        f"Accept {header!r}: this relay serves {', '.join(FORMATS)}")


def create_app() -> RelayApp:
    """The application uvicorn's workers build (configuration from ``INTERN_RELAY_CONFIG``)."""
    return RelayApp(RelayConfig.from_env())
