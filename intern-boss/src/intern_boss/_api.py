"""The Boss REST API v1, one method per call: project resources, metadata, annotation helpers, downsampling, cutouts.

Paths name resources as the ``bossdb://`` URIs do: ``"coll"``, ``"coll/exp"``, ``"coll/exp/chan"``; coordinate
frames, which live outside that hierarchy, are named by their own name. Every method returns plain JSON values (the
Boss's own field names) or numpy arrays; :class:`~intern_boss.BossRemote` builds resources and volumes on top.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from intern.errors import InvalidURIError
from intern.plugin import read_body, read_into

from ._checksum import HEADER, check, crc32
from ._config import Endpoint
from ._http import Transport
from ._wire import BLOSC, BLOSC_HEADER, decode, decode_into, format_range, stored_size

__all__ = ["BossAPI", "split_path"]

KINDS = ("collection", "experiment", "channel")


def split_path(path: str, *, most: int = 3) -> list[str]:
    """``"coll/exp/chan"`` -> its parts, checked to be Boss names.

    Raises:
        InvalidURIError: an empty or invalid part, or more parts than ``most``.
    """
    parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
    if len(parts) > most:
        raise InvalidURIError(f"{path!r} has more than {most} parts (COLLECTION/EXPERIMENT/CHANNEL)")
    for p in parts:
        if not p or not all(c.isalnum() or c in "-_" for c in p):
            raise InvalidURIError(f"{path!r}: {p!r} is not a Boss name (letters, digits, '-' and '_')")
    return parts


def _project_route(parts: Sequence[str], *, listing: bool = False) -> str:
    """The project-service route of a collection, experiment or channel (or of the list below it)."""
    names = list(parts)
    route = "collection/"
    # A route names a collection, an experiment or a channel: ``names`` is a prefix of KINDS.
    for i, (kind, name) in enumerate(zip(KINDS, names, strict=False)):
        if i:
            route += f"{kind}/"
        route += name + "/"
    if listing:
        return route + ("" if not names else f"{KINDS[len(names)]}/")
    return route.rstrip("/")


class BossAPI:
    """Calls to one Boss (its project, metadata and volume services may be different endpoints)."""

    def __init__(self, transport: Transport, *, project: Endpoint, metadata: Endpoint, volume: Endpoint) -> None:
        self.transport = transport
        self.project = project
        self.meta = metadata
        self.volume = volume

    def _call(self, endpoint: Endpoint, method: str, route: str, **kwargs: Any) -> Any:
        url = f"{endpoint.base_url}/v1/{route}"
        return self.transport.request(method, url, token=endpoint.token, **kwargs)

    # -- project resources ----------------------------------------------------------------------------------------
    def list(self, path: str = "") -> list[str]:
        """Names below ``path``: collections (``""``), experiments (``"coll"``) or channels (``"coll/exp"``)."""
        parts = split_path(path, most=2)
        key = ("collections", "experiments", "channels")[len(parts)]
        return sorted(self._call(self.project, "GET", _project_route(parts, listing=True)).json()[key])

    def get(self, path: str) -> dict[str, Any]:
        """The JSON of a collection, experiment or channel."""
        parts = split_path(path)
        if not parts:
            raise InvalidURIError("name a collection, experiment or channel (COLL[/EXP[/CHAN]])")
        return self._call(self.project, "GET", _project_route(parts), what=f"GET {path}").json()

    def create(self, path: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create the collection, experiment or channel at ``path`` with ``fields`` (its create body)."""
        parts = split_path(path)
        if not parts:
            raise InvalidURIError("name the collection, experiment or channel to create")
        body = {"name": parts[-1], **fields}
        return self._call(self.project, "POST", _project_route(parts), json_body=body, ok=(201,), idempotent=False,
                          what=f"create {path}").json()

    def update(self, path: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        parts = split_path(path)
        if not parts:
            raise InvalidURIError("name the collection, experiment or channel to update")
        return self._call(self.project, "PUT", _project_route(parts), json_body=dict(changes),
                          what=f"update {path}").json()

    def delete(self, path: str) -> None:
        parts = split_path(path)
        if not parts:
            raise InvalidURIError("name the collection, experiment or channel to delete")
        self._call(self.project, "DELETE", _project_route(parts), ok=(204,), what=f"delete {path}")

    # -- coordinate frames ---------------------------------------------------------------------------------------
    def list_coordinate_frames(self) -> builtins.list[str]:  # builtins': list is also a method here
        return sorted(self._call(self.project, "GET", "coord/").json()["coords"])

    def get_coordinate_frame(self, name: str) -> dict[str, Any]:
        split_path(name, most=1)
        return self._call(self.project, "GET", f"coord/{name}", what=f"GET coordinate frame {name}").json()

    def create_coordinate_frame(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        split_path(name, most=1)
        return self._call(self.project, "POST", f"coord/{name}", json_body={"name": name, **fields}, ok=(201,),
                          idempotent=False, what=f"create coordinate frame {name}").json()

    def update_coordinate_frame(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        split_path(name, most=1)
        return self._call(self.project, "PUT", f"coord/{name}", json_body=dict(changes),
                          what=f"update coordinate frame {name}").json()

    def delete_coordinate_frame(self, name: str) -> None:
        split_path(name, most=1)
        self._call(self.project, "DELETE", f"coord/{name}", ok=(204,), what=f"delete coordinate frame {name}")

    # -- metadata ------------------------------------------------------------------------------------------------
    def _meta_route(self, path: str) -> str:
        parts = split_path(path)
        if not parts:
            raise InvalidURIError("metadata belongs to a collection, experiment or channel (COLL[/EXP[/CHAN]])")
        return "meta/" + "/".join(parts) + "/"

    def list_metadata(self, path: str) -> builtins.list[str]:
        return list(self._call(self.meta, "GET", self._meta_route(path), what=f"metadata keys of {path}").json()["keys"])

    def get_metadata(self, path: str, keys: Iterable[str]) -> dict[str, str]:
        route = self._meta_route(path)
        return {k: self._call(self.meta, "GET", route, params={"key": k}, what=f"metadata {k!r} of {path}").json()["value"]
                for k in keys}

    def create_metadata(self, path: str, values: Mapping[str, Any]) -> None:
        route = self._meta_route(path)
        for k, v in values.items():
            self._call(self.meta, "POST", route, params={"key": k, "value": str(v)}, ok=(201,), idempotent=False,
                       what=f"create metadata {k!r} of {path}")

    def update_metadata(self, path: str, values: Mapping[str, Any]) -> None:
        route = self._meta_route(path)
        for k, v in values.items():
            self._call(self.meta, "PUT", route, params={"key": k, "value": str(v)}, ok=(200,),
                       what=f"update metadata {k!r} of {path}")

    def delete_metadata(self, path: str, keys: Iterable[str]) -> None:
        route = self._meta_route(path)
        for k in keys:
            self._call(self.meta, "DELETE", route, params={"key": k}, ok=(204,), what=f"delete metadata {k!r} of {path}")

    # -- annotation helpers and downsampling ---------------------------------------------------------------------
    def _channel_route(self, service: str, path: str) -> str:
        parts = split_path(path)
        if len(parts) != 3:
            raise InvalidURIError(f"{service} needs a channel, COLL/EXP/CHAN; got {path!r}")
        return f"{service}/{'/'.join(parts)}"

    def reserve_ids(self, path: str, count: int) -> int:
        if int(count) < 1:
            raise ValueError(f"reserve at least one id, not {count}")
        route = self._channel_route("reserve", path) + f"/{int(count)}"
        return int(self._call(self.volume, "GET", route, idempotent=False, what=f"reserve ids in {path}").json()["start_id"])

    def ids_in_region(self, path: str, resolution: int, ranges_xyz: Sequence[tuple[int, int]],
                      time_range: tuple[int, int] | None = None) -> builtins.list[int]:
        route = self._channel_route("ids", path) + f"/{int(resolution)}/" + _ranges(ranges_xyz, time_range)
        return [int(i) for i in self._call(self.volume, "GET", route, what=f"ids in {path}").json()["ids"]]

    def bounding_box(self, path: str, resolution: int, label: int, *, tight: bool = False) -> dict[str, Any]:
        route = self._channel_route("boundingbox", path) + f"/{int(resolution)}/{int(label)}/"
        return self._call(self.volume, "GET", route, params={"type": "tight" if tight else "loose"},
                          what=f"bounding box of {label} in {path}").json()

    def downsample_status(self, path: str) -> dict[str, Any]:
        return self._call(self.volume, "GET", self._channel_route("downsample", path),
                          what=f"downsample status of {path}").json()

    def start_downsample(self, path: str) -> None:
        self._call(self.volume, "POST", self._channel_route("downsample", path), ok=(200, 201, 202),
                   idempotent=False, what=f"start downsampling {path}")

    def cancel_downsample(self, path: str) -> None:
        self._call(self.volume, "DELETE", self._channel_route("downsample", path), ok=(200, 204),
                   what=f"cancel downsampling {path}")

    # -- cutouts -------------------------------------------------------------------------------------------------
    def cutout_route(self, path: str, resolution: int, ranges_xyz: Sequence[tuple[int, int]],
                     time_range: tuple[int, int] | None = None, *, to_black: bool = False) -> str:
        service = "cutout/to_black" if to_black else "cutout"
        return self._channel_route(service, path) + f"/{int(resolution)}/" + _ranges(ranges_xyz, time_range)

    def get_cutout(self, route: str, *, dtype: np.dtype, shape: Sequence[int], fmt: str = BLOSC,
                   out: np.ndarray | None = None, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """One cutout, decoded and checked against ``dtype`` and ``shape`` (into ``out`` when it is contiguous), and
        against the CRC-32 the server sent with it, if any (a relay does: :mod:`._checksum`).

        Raises:
            TransientRemoteError: the body does not match its checksum (damaged on the way).
        """
        url, what = f"{self.volume.base_url}/v1/{route}", f"cutout {route[7:]}"
        if fmt == BLOSC and out is not None and out.flags.c_contiguous:
            return self.transport.fetch(url, token=self.volume.token, accept=fmt, params=params, what=what,
                                        read=lambda resp: _read_blosc_into(resp, out, what))

        def read(resp: Any) -> memoryview:
            body = read_body(resp)
            check(resp.getheader(HEADER), crc32(body), what)
            return body

        body = self.transport.fetch(url, token=self.volume.token, accept=fmt, params=params, what=what, read=read)
        # the other formats' decoders want bytes (and the body's buffer is reused by this thread's next fetch)
        data = decode(bytes(body), fmt, dtype=dtype, shape=shape)
        if out is not None:
            out[...] = data
            return out
        return data

    def post_cutout(self, route: str, body: bytes, *, fmt: str = BLOSC) -> None:
        # a cutout write replaces the region whatever it held: sending it twice is harmless, so it is retried
        self._call(self.volume, "POST", route, data=body, content_type=fmt, ok=(200, 201), what=f"write {route[7:]}")

    def to_black(self, route: str) -> None:
        self._call(self.volume, "PUT", route, ok=(200,), what=f"zero {route[7:]}")


def _read_blosc_into(resp: Any, out: np.ndarray, what: str = "cutout") -> np.ndarray:
    """A blosc body into ``out``, checked against its checksum header if it has one. Voxels blosc could not compress
    (noisy EM often) are stored as they are after its header: those go from the socket straight into ``out``, with no
    buffer and no decompression between."""
    sent = resp.getheader(HEADER)
    head = resp.read(BLOSC_HEADER)
    if stored_size(head) == out.nbytes and resp.getheader("Content-Length") == str(BLOSC_HEADER + out.nbytes):
        raw = out.reshape(-1).view(np.uint8).data
        read_into(resp, raw, start=BLOSC_HEADER)
        if sent is not None:
            check(sent, crc32(head, raw), what)
        return out
    body = read_body(resp, head=head)
    if sent is not None:
        check(sent, crc32(body), what)
    return decode_into(body, out)


def _ranges(ranges_xyz: Sequence[tuple[int, int]], time_range: tuple[int, int] | None) -> str:
    text = "/".join(format_range(a, b) for a, b in ranges_xyz) + "/"
    if time_range is not None:
        text += format_range(*time_range) + "/"
    return text
