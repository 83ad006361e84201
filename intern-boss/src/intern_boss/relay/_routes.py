"""The relay's routes: which method on which path is answered by which handler.

:data:`ROUTES` is the whole table, one row per method and path pattern. A path is matched against the patterns in
the table's order; the first that matches decides what the path is (so ``/v1/cutout/to_black/...`` comes before
``/v1/cutout/...``, which would match it too), and the rows with that pattern say which methods it serves. Handlers
take the :class:`~._site.Site`, the request, and the named parts of the path as keywords.

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

import re
from collections.abc import Callable
from dataclasses import dataclass

from .._wire import ErrorCode
from . import _cutouts as cutouts
from . import _resources as resources
from ._answers import BossHTTPError, Response

__all__ = ["ROUTES", "WRITES", "Route", "find"]

#: the methods whose requests carry a body: they are admitted before it is read
WRITES = ("POST", "PUT")


@dataclass(frozen=True)
class Route:
    """One method on one path pattern.

    Attributes:
        method: the HTTP method.
        pattern: the path, its variable parts as named groups (passed to the handlers as keywords).
        handler: the answer, in a request thread.
        on_loop: the answer on the event loop when it needs no waiting (a refusal, a cuboid held in memory), or
            ``None`` to leave it to ``handler``; ``None`` for routes that are never answered on the loop.
        body_limit: for writes, the most bytes the body may have, found before it is read, once everything else
            about the request is checked; ``None``: a body without voxels, at most :data:`SMALL_BODY`.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Response]
    on_loop: Callable[..., Response | None] | None = None
    body_limit: Callable[..., int] | None = None


#: what a write without voxels (``to_black``) may carry: it is read and ignored
SMALL_BODY = 1 << 16

_NAME = r"[A-Za-z0-9_-]+"
_CHANNEL = rf"(?P<c>{_NAME})/(?P<e>{_NAME})/(?P<ch>{_NAME})"
_TO_BLACK = re.compile(rf"^/v1/cutout/to_black/{_CHANNEL}/(?P<rest>.*)$")
_CUTOUT = re.compile(rf"^/v1/cutout/{_CHANNEL}/(?P<rest>.*)$")

ROUTES: tuple[Route, ...] = (
    Route("GET", re.compile(r"^/v1/collection/?$"), resources.collections),
    Route("GET", re.compile(rf"^/v1/collection/(?P<c>{_NAME})/?$"), resources.collection),
    Route("GET", re.compile(rf"^/v1/collection/(?P<c>{_NAME})/experiment/?$"), resources.experiments),
    Route("GET", re.compile(rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/?$"), resources.experiment),
    Route("GET", re.compile(rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/channel/?$"),
          resources.channels),
    Route("GET", re.compile(rf"^/v1/collection/(?P<c>{_NAME})/experiment/(?P<e>{_NAME})/channel/(?P<ch>{_NAME})/?$"),
          resources.channel),
    Route("GET", re.compile(r"^/v1/coord/?$"), resources.coords),
    Route("GET", re.compile(rf"^/v1/coord/(?P<name>{_NAME})/?$"), resources.coord),
    Route("PUT", _TO_BLACK, cutouts.to_black),
    Route("GET", _CUTOUT, cutouts.read, on_loop=cutouts.read_from_memory),
    Route("POST", _CUTOUT, cutouts.write, body_limit=cutouts.write_limit),
    Route("GET", re.compile(rf"^/v1/ids/{_CHANNEL}/(?P<rest>.*)$"), cutouts.ids),
    Route("GET", re.compile(rf"^/v1/meta/(?P<c>{_NAME})(?:/(?P<e>{_NAME}))?(?:/(?P<ch>{_NAME}))?/?$"),
          resources.meta),
    Route("GET", re.compile(rf"^/v1/downsample/{_CHANNEL}/?$"), resources.downsample),
    Route("GET", re.compile(r"^/relay/stats/?$"), resources.stats),
)


def find(method: str, path: str, *, writable: bool) -> tuple[Route, dict[str, str]]:
    """The route of ``method`` on ``path``, and the named parts of the path that are present.

    Raises:
        BossHTTPError: 404 when no pattern matches the path; 405 when its pattern is not served with this method (a
            relay's resources are its mounts: nothing creates, changes or deletes them); 403 for a write to a relay
            that is not ``writable``.
    """
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is not None:
            break
    else:
        raise BossHTTPError(404, ErrorCode.INVALID_URL, f"no Boss route is {path}")
    served = [r for r in ROUTES if r.pattern is route.pattern]
    chosen = next((r for r in served if r.method == method), None)
    if chosen is None:
        allowed = ", ".join(r.method for r in served)
        raise BossHTTPError(405, ErrorCode.INVALID_REQUEST,
                            f"{method} is not served on {path} (allowed: {allowed}); a relay's resources are its "
                            "mounts and cannot be created, changed or deleted")
    if chosen.method in WRITES and not writable:
        raise BossHTTPError(403, ErrorCode.MISSING_PERMISSION,
                            "this relay is read-only (start it with --writable to write through)")
    return chosen, {k: v for k, v in match.groupdict().items() if v is not None}
