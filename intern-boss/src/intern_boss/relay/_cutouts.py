"""The relay's cutouts: reads (in every body format, JPEG included), writes, ``to_black`` and the ids in a region.

A cutout URL ends ``RES/X0:X1/Y0:Y1/Z0:Z1[/T0:T1]/`` in frame coordinates. Everything about it is checked before the
cache or the upstream is touched, in this order: the channel (404), the resolution and ranges (400, code 1001), the
frame's bounds (400), the size against ``--max-cutout`` (413), then the query (``access-mode``, ``iso``,
``filter``: 400) and the ``Accept`` header (406; ``image/jpeg`` only for small enough uint8 (z, y, x) cutouts, 400).

Where each runs:

- :func:`read_from_memory` on the event loop: a cutout that is exactly one cuboid held in the memory tier, in blosc
  and unfiltered, is answered with that cuboid's cached buffer at once (a thread hop would cost more than the
  answer, and it never queues behind requests waiting on the upstream). It answers refusals too, once the channel's
  geometry is known; anything else it leaves to :func:`read`, in a request thread.
- :func:`write_limit` in a request thread before a write's body is read (the box's check may need the upstream's
  geometry): the most bytes that body may have; :func:`write` once the body is in.

Every cutout answer carries its body's CRC-32 (:mod:`intern_boss._checksum`), kept with each cached cuboid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from intern.plugin import Box

from .._checksum import crc32, header
from .._wire import (
    BLOSC,
    BLOSC_PYTHON,
    FORMATS,
    JPEG,
    NPYGZ,
    ErrorCode,
    decode,
    encode,
    is_count,
    max_body_size,
    parse_range,
)
from ._answers import BossHTTPError, Request, Response, json_answer
from ._channel import ServedChannel
from ._site import Site

__all__ = ["ids", "read", "read_from_memory", "to_black", "write", "write_limit"]

_JPEG_SIDE = 65535  # the most rows and columns a JPEG image has


@dataclass(frozen=True)
class _Read:
    """A checked cutout read: where, what, and how the answer is encoded."""

    served: ServedChannel
    res: int
    box: Box  # (t, z, y, x) frame voxels at res
    timed: bool  # whether the URL has a time range: the answer is then (t, z, y, x)
    ids: list[int] | None  # the labels to keep (filter=...), or all
    fmt: str


def read(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
    """``GET /v1/cutout/...``: the voxels of a region, from the cache tiers or the upstream."""
    want = _checked_read(site, request, site.channel(c, e, ch), rest)
    served, box = want.served, want.box
    items = served.payloads(want.res, box)
    if want.fmt == BLOSC and want.ids is None and len(items) == 1 and items[0].box == box:
        # exactly one cuboid: its cached buffer is the answer
        return Response(200, items[0].payload, BLOSC, [header(items[0].crc)])
    data = served.assemble(box, items)
    if want.ids is not None:
        data[~np.isin(data, np.asarray(want.ids, dtype=data.dtype))] = 0
    if not want.timed:
        data = data[0]
    body = encode(data, want.fmt)
    return Response(200, body, want.fmt, [header(crc32(body))])


def read_from_memory(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> Response | None:
    """:func:`read`'s answer when it needs neither the upstream, nor the disk's data, nor an assembled array (a
    refusal, or one cuboid held in memory); ``None`` for the rest. Runs on the event loop."""
    served = site.channel(c, e, ch)
    if not served.opened:  # its geometry would need the upstream
        return None
    want = _checked_read(site, request, served, rest)
    entry = served.memory_answer(want.res, want.box) if want.fmt == BLOSC and want.ids is None else None
    if entry is None:
        return None
    return Response(200, entry.payload, BLOSC, [header(entry.crc)])


def ids(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
    """``GET /v1/ids/...``: the labels (other than 0) in a region of an annotation channel."""
    served = site.channel(c, e, ch)
    if served.geometry().kind != "segmentation":
        raise BossHTTPError(400, ErrorCode.INVALID_REQUEST, f"{served.mount.path} is not an annotation channel")
    res, box, _ = _region(site, served, rest)
    labels = np.unique(served.read(res, box))
    return json_answer({"ids": [str(int(i)) for i in labels if i != 0]})


def write_limit(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> int:
    """The most bytes the body of ``POST /v1/cutout/...`` may have, once all but the body is checked."""
    served = site.channel(c, e, ch)
    _, box, _ = _write_region(site, served, rest)
    _write_format(request)
    return max_body_size(box.size * np.dtype(served.geometry().dtype).itemsize)


def write(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
    """``POST /v1/cutout/...``: the body's voxels, written through to the upstream at resolution 0."""
    served = site.channel(c, e, ch)
    _, box, timed = _write_region(site, served, rest)
    fmt = _write_format(request)
    shape = box.shape if timed else box.shape[1:]
    data = decode(request.body, fmt, dtype=served.geometry().dtype, shape=shape)
    served.write(box, data.reshape(box.shape))
    return Response(201)


def to_black(site: Site, request: Request, c: str, e: str, ch: str, rest: str) -> Response:
    """``PUT /v1/cutout/to_black/...``: zeros written through to the upstream at resolution 0."""
    served = site.channel(c, e, ch)
    _, box, _ = _write_region(site, served, rest)
    served.write(box, np.zeros(box.shape, served.geometry().dtype))
    return Response(200)


def _checked_read(site: Site, request: Request, served: ServedChannel, rest: str) -> _Read:
    """The read a cutout request asks for, every part of it checked (see the module's docstring for the order)."""
    res, box, timed = _region(site, served, rest)
    labels = _filter(request, served, res)
    fmt = _accept(request.headers.get("accept"))
    if fmt == JPEG and (served.geometry().dtype != "uint8" or timed):
        raise BossHTTPError(400, ErrorCode.DATATYPE_NOT_SUPPORTED, "image/jpeg serves uint8 (z, y, x) cutouts only")
    _, z, y, x = box.shape
    if fmt == JPEG and (z * y > _JPEG_SIDE or x > _JPEG_SIDE):
        raise BossHTTPError(400, ErrorCode.INVALID_REQUEST,
                            f"image/jpeg stacks z-slices into one image of at most {_JPEG_SIDE} rows and columns; "
                            f"this cutout would be {z * y} x {x}: ask for fewer slices, or another format")
    return _Read(served, res, box, timed, labels, fmt)


def _region(site: Site, served: ServedChannel, rest: str) -> tuple[int, Box, bool]:
    """(resolution, (t, z, y, x) frame box, whether the URL had a time range), validated."""
    parts = rest.split("/")
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
    bounds = Box((0, *level.offset), (times, *(o + n for o, n in zip(level.offset, level.shape, strict=True))))
    if not bounds.contains(box):
        frame = ", ".join(f"{a}: {lo}:{hi}" for a, lo, hi in zip("tzyx", bounds.start, bounds.stop, strict=True))
        raise BossHTTPError(400, ErrorCode.INVALID_CUTOUT_ARGS,
                            f"the cutout reaches outside the frame at resolution {res} ({frame})")
    itemsize = np.dtype(geometry.dtype).itemsize
    limit = site.config.max_cutout * (4 if itemsize == 8 else 1)
    if box.size * itemsize > limit:
        raise BossHTTPError(413, ErrorCode.REQUEST_TOO_LARGE,
                            f"the cutout is {box.size * itemsize} bytes uncompressed, over the limit of {limit}: "
                            "request smaller blocks")
    return res, box, len(ranges) == 4


def _write_region(site: Site, served: ServedChannel, rest: str) -> tuple[int, Box, bool]:
    res, box, timed = _region(site, served, rest)
    if res != 0:
        raise BossHTTPError(400, ErrorCode.INVALID_REQUEST, "writes go to the base resolution 0 only")
    return res, box, timed


def _filter(request: Request, served: ServedChannel, res: int) -> list[int] | None:
    """The label ids of ``filter=...`` (``None`` without it), once ``access-mode`` and ``iso`` are checked."""
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


def _accept(value: str | None) -> str:
    """The body format an ``Accept`` header asks for (blosc when it asks for anything)."""
    if not value:
        return BLOSC
    for item in value.split(","):
        kind = item.split(";")[0].strip().lower()
        if kind in FORMATS:
            return kind
        if kind in ("*/*", "application/*"):
            return BLOSC
    raise BossHTTPError(406, ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT,
                        f"Accept {value!r}: this relay serves {', '.join(FORMATS)}")


def _write_format(request: Request) -> str:
    fmt = (request.headers.get("content-type") or BLOSC).split(";")[0].strip().lower()
    if fmt not in (BLOSC, BLOSC_PYTHON, NPYGZ):
        raise BossHTTPError(415, ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT,
                            f"Content-Type {fmt!r}: write application/blosc, application/blosc-python or "
                            "application/npygz")
    return fmt
