"""The relay's Boss resources: collections, experiments, channels and coordinate frames, their metadata, the
downsample status, and the relay's own counters.

Everything here is derived from the mounts (``COLL/EXP/CHAN``) and their upstreams' geometry (:mod:`._channel`):
one coordinate frame per experiment, named ``COLL_EXP``. These answers run in a request thread, since a channel not
opened yet opens its upstream. Each handler takes the :class:`~._site.Site`, the request and the parts of its path.
"""

from __future__ import annotations

import os

from .._wire import ErrorCode
from ._answers import BossHTTPError, Request, Response, json_answer
from ._channel import ServedChannel
from ._site import Site

__all__ = ["channel", "channels", "collection", "collections", "coord", "coords", "downsample", "experiment",
           "experiments", "meta", "stats"]

_CREATOR = "intern-relay"


def collections(site: Site, request: Request) -> Response:
    return json_answer({"collections": sorted({m.mount.collection for m in site.channels.values()})})


def collection(site: Site, request: Request, c: str) -> Response:
    found = site.need(c)
    return json_answer({"name": c, "description": "", "creator": _CREATOR,
                        "experiments": sorted({m.mount.experiment for m in found})})


def experiments(site: Site, request: Request, c: str) -> Response:
    return json_answer({"experiments": sorted({m.mount.experiment for m in site.need(c)})})


def experiment(site: Site, request: Request, c: str, e: str) -> Response:
    found = sorted(site.need(c, e), key=lambda m: m.mount.channel)
    geometry = found[0].geometry()  # the mounts of one experiment agree on it (checked at start)
    return json_answer({
        "name": e, "description": "", "collection": c, "coord_frame": _frame_name(c, e),
        "num_hierarchy_levels": len(geometry.levels), "hierarchy_method": geometry.method,
        "num_time_samples": geometry.times or 1, "time_step": 0, "time_step_unit": "", "creator": _CREATOR,
        "channels": [m.mount.channel for m in found], "public": site.public})


def channels(site: Site, request: Request, c: str, e: str) -> Response:
    return json_answer({"channels": sorted(m.mount.channel for m in site.need(c, e))})


def channel(site: Site, request: Request, c: str, e: str, ch: str) -> Response:
    served = site.channel(c, e, ch)
    geometry = served.geometry()
    return json_answer({
        "name": ch, "description": "", "experiment": e, "default_time_sample": 0,
        "type": "annotation" if geometry.kind == "segmentation" else "image", "base_resolution": 0,
        "datatype": geometry.dtype, "creator": _CREATOR, "sources": [], "related": [],
        "downsample_status": _downsampled(served), "public": site.public,
        "storage_type": "spdb", "bucket": None, "cv_path": None})


def coords(site: Site, request: Request) -> Response:
    return json_answer({"coords": sorted({_frame_name(m.mount.collection, m.mount.experiment)
                                          for m in site.channels.values()})})


def coord(site: Site, request: Request, name: str) -> Response:
    for served in sorted(site.channels.values(), key=lambda m: m.mount.path):
        if _frame_name(served.mount.collection, served.mount.experiment) == name:
            return json_answer({"name": name, "description": f"frame of {served.mount.collection}/"
                                                             f"{served.mount.experiment}",
                                **served.geometry().frame()})
    raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"coordinate frame {name} is not served here")


def meta(site: Site, request: Request, c: str, e: str | None = None, ch: str | None = None) -> Response:
    """The upstream's attributes as a channel's metadata keys (collections and experiments have none)."""
    attributes: dict[str, str] = {}
    if ch is not None:
        attributes = site.channel(c, e or "", ch).geometry().attributes
    else:
        site.need(c, e)
    key = request.query.get("key")
    if key is None:
        return json_answer({"keys": sorted(attributes)})
    if key not in attributes:
        raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"metadata key {key!r} does not exist")
    return json_answer({"key": key, "value": attributes[key]})


def downsample(site: Site, request: Request, c: str, e: str, ch: str) -> Response:
    served = site.channel(c, e, ch)
    levels = served.geometry().levels
    return json_answer({
        "status": _downsampled(served), "num_hierarchy_levels": len(levels),
        "voxel_size": {str(r): list(reversed(lv.voxel)) for r, lv in enumerate(levels)},
        "extent": {str(r): list(reversed(lv.shape)) for r, lv in enumerate(levels)},
        "cuboid_size": {str(r): [512, 512, 16] for r in range(len(levels))}})


def stats(site: Site, request: Request) -> Response:
    """This worker's cache counters (not a Boss route)."""
    return json_answer({"pid": os.getpid(), "memory_bytes": site.memory.size, "heap_trims": site.trimmer.trims,
                        **site.stats.as_dict()})


def _frame_name(c: str, e: str) -> str:
    """The coordinate frame of experiment ``c/e``."""
    return f"{c}_{e}"


def _downsampled(served: ServedChannel) -> str:
    """A channel written through this relay has stale lower resolutions: the Boss says so as ``NOT_DOWNSAMPLED``."""
    if served.was_written():
        return "NOT_DOWNSAMPLED"
    return "DOWNSAMPLED" if len(served.geometry().levels) > 1 else "NOT_DOWNSAMPLED"
