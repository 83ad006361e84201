"""A Boss channel as an intern volume: its metadata, and cutouts cut into cuboid-aligned blocks run in parallel.

Geometry. The experiment's coordinate frame gives the extent at resolution 0 and the voxel size; each further
resolution halves x and y (``anisotropic``) or x, y and z (``isotropic``). At resolution r the frame is
``[floor(start / f), ceil(stop / f))`` with f the factor, so every voxel of the data has a place at every level.
intern's indices are relative to the frame's start (the scale level's ``offset``); Boss URLs carry frame coordinates.

Requests. A box becomes blocks aligned to multiples of the 512x512x16 Boss cuboid counted from the frame's origin
(the ``block`` setting, default one cuboid), fetched in parallel on intern's shared thread pool through one pooled
HTTP session. A block that fills whole rows of the output is decompressed straight into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from intern.errors import DTypeError, MetadataError, ReadOnlyError
from intern.plugin import Box, ScaleLevel, VolumeIO, VolumeMetadata, run_parallel, to_nanometres

from ._config import ClientOptions
from ._wire import CUBOID, encode

if TYPE_CHECKING:
    from ._remote import BossRemote

__all__ = ["BossChannel", "channel_metadata"]

_ACCESS_MODES = ("cache", "no-cache", "raw")


def level_factor(method: str, resolution: int) -> tuple[int, int, int]:
    """(z, y, x) factor of ``resolution`` relative to resolution 0."""
    f = 2**resolution
    return (f if method == "isotropic" else 1, f, f)


def channel_metadata(channel: dict[str, Any], experiment: dict[str, Any], frame: dict[str, Any], *,
                     first: int = 0) -> VolumeMetadata:
    """intern metadata of a channel, from the JSON of it, its experiment and its coordinate frame.

    Args:
        first: the resolution that becomes scale 0 (a ``bossdb://coll/exp/chan/RES`` URI).

    Raises:
        MetadataError: fields are missing or make no volume.
    """
    try:
        method = str(experiment.get("hierarchy_method") or "anisotropic")
        levels = int(experiment.get("num_hierarchy_levels") or 1)
        times = int(experiment.get("num_time_samples") or 1)
        unit = frame.get("voxel_unit") or "nanometers"
        start = [int(frame[f"{a}_start"]) for a in "zyx"]
        stop = [int(frame[f"{a}_stop"]) for a in "zyx"]
        voxel = [to_nanometres(float(frame[f"{a}_voxel_size"]), unit) for a in "zyx"]
        dtype = np.dtype(channel["datatype"])
    except (KeyError, TypeError, ValueError) as exc:
        name = channel.get("name", "?")
        raise MetadataError(f"channel {name!r}: the Boss answered incomplete metadata ({exc!r})") from None
    if method not in ("anisotropic", "isotropic"):
        raise MetadataError(f"hierarchy_method {method!r} is neither anisotropic nor isotropic")
    if not 0 <= first < levels:
        raise MetadataError(f"resolution {first} does not exist: the experiment has resolutions 0..{levels - 1}")
    lead = (times,) if times > 1 else ()
    base = level_factor(method, first)
    scales = []
    for r in range(first, levels):
        f = level_factor(method, r)
        lo = [a // k for a, k in zip(start, f, strict=True)]
        hi = [-(-b // k) for b, k in zip(stop, f, strict=True)]
        scales.append(ScaleLevel(
            shape=lead + tuple(h - lo_ for lo_, h in zip(lo, hi, strict=True)),
            chunks=(1,) * len(lead) + CUBOID,
            voxel_size=tuple(v * k for v, k in zip(voxel, f, strict=True)),
            downsample=tuple(k / b for k, b in zip(f, base, strict=True)),
            offset=tuple(lo),
            key=str(r),
        ))
    kind = "segmentation" if channel.get("type") == "annotation" and dtype.kind in "iu" else "image"
    attributes = {
        "boss": {
            "channel": {k: channel.get(k) for k in ("name", "description", "type", "datatype", "base_resolution",
                                                    "downsample_status", "sources", "related", "default_time_sample")},
            "experiment": {k: experiment.get(k) for k in ("name", "collection", "coord_frame", "hierarchy_method",
                                                          "num_hierarchy_levels", "num_time_samples")},
            "coord_frame": dict(frame),
            "first_resolution": first,
        }
    }
    return VolumeMetadata(axes=("t", "z", "y", "x") if lead else ("z", "y", "x"), dtype=dtype.name, kind=kind,
                          scales=tuple(scales), attributes=attributes)


class BossChannel:
    """A Boss channel: a volume at every resolution of its experiment, read and written by cutouts.

    Made by ``intern.open("bossdb://coll/exp/chan")``. Besides the volume protocol it has the channel's annotation
    helpers and downsampling, and :meth:`cutout` for the Boss's own read options.

    >>> ch = intern.open("bossdb://kasthuri/em/images")   # doctest: +SKIP
    >>> ch.metadata.scales[0].voxel_size                     # doctest: +SKIP
    (30.0, 3.0, 3.0)
    """

    # the Boss answers any cutout; every read returns a new array nobody else holds
    io: ClassVar[VolumeIO] = VolumeIO(whole_reads=True, whole_writes=True, fresh_reads=True)

    def __init__(self, remote: BossRemote, path: str, *, info: dict[str, Any], experiment: dict[str, Any],
                 frame: dict[str, Any], first: int = 0, options: ClientOptions, access_mode: str | None = None,
                 mode: str = "a") -> None:
        if access_mode is not None and access_mode not in _ACCESS_MODES:
            raise ValueError(f"access_mode={access_mode!r}: use one of {', '.join(_ACCESS_MODES)}")
        self._remote = remote
        self.path = path
        self.info = info
        self.experiment = experiment
        self.coord_frame = frame
        self.first = first
        self.options = options
        self.access_mode = access_mode
        self._mode = mode
        self.metadata = channel_metadata(info, experiment, frame, first=first)

    # -- identity -------------------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        suffix = f"/{self.first}" if self.first else ""
        return self._remote.uri_for(self.path + suffix)

    @property
    def remote(self) -> BossRemote:
        return self._remote

    @property
    def writable(self) -> bool:
        return self._mode != "r"

    @property
    def base_scale(self) -> int:
        """The scale level the Boss stores writes at (the channel's ``base_resolution``)."""
        return int(self.info.get("base_resolution") or 0) - self.first

    def __repr__(self) -> str:
        return f"<BossChannel {self.uri} {self.metadata.dtype}{list(self.metadata.shape)}>"

    # -- voxels ---------------------------------------------------------------------------------------------------
    def _blocks(self, box: Box, scale: int) -> tuple[ScaleLevel, list[Box]]:
        """The level and the pieces of ``box`` in the level's voxel frame cut along the block grid of the frame."""
        level = self.metadata.scales[scale]
        lead = box.ndim - 3
        block = (1,) * lead + tuple(self.options.block)
        origin = (0,) * lead + tuple(level.offset)
        pieces = [p.relative_to(origin) for p in box.translate(origin).split(block)]
        return level, pieces

    def _route(self, level: ScaleLevel, piece: Box, scale: int, *, to_black: bool = False) -> str:
        start = piece.start[-3:]
        stop = piece.stop[-3:]
        z, y, x = ((a + o, b + o) for a, b, o in zip(start, stop, level.offset, strict=True))
        time = (piece.start[0], piece.stop[0]) if piece.ndim == 4 else None
        return self._remote.api.cutout_route(self.path, self.first + scale, (x, y, z), time, to_black=to_black)

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        return self.cutout(box, scale=scale)

    def cutout(self, box: Box, *, scale: int = 0, ids: list[int] | None = None, access_mode: str | None = None,
               iso: bool = False) -> np.ndarray:
        """Read ``box`` at ``scale`` with the Boss's own options.

        Args:
            ids: keep only these labels (annotation channels; the server zeroes every other voxel).
            access_mode: ``"cache"``, ``"no-cache"`` or ``"raw"`` (how the Boss uses its own cache).
            iso: read the isotropic pyramid of an anisotropic channel.
        """
        box.check_within(Box.from_shape(self.metadata.scale(scale).shape))
        scale %= len(self.metadata.scales)
        params: dict[str, str] = {}
        mode = access_mode or self.access_mode
        if mode:
            if mode not in _ACCESS_MODES:
                raise ValueError(f"access_mode={mode!r}: use one of {', '.join(_ACCESS_MODES)}")
            params["access-mode"] = mode
        if ids:
            params["filter"] = ",".join(str(int(i)) for i in ids)
        if iso:
            params["iso"] = "true"
        dtype = self.metadata.numpy_dtype
        out = np.empty(box.shape, dtype)
        if box.is_empty():
            return out
        level, pieces = self._blocks(box, scale)
        api = self._remote.api
        fmt = self.options.format

        def fetch(piece: Box) -> None:
            target = out[piece.relative_to(box).to_slices()]
            api.get_cutout(self._route(level, piece, scale), dtype=dtype, shape=piece.shape, fmt=fmt,
                           out=target, params=params or None)

        run_parallel(fetch, pieces)
        return out

    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        """Upload ``data`` at ``box``, in parallel cuboid-aligned blocks (all-zero blocks too, unless told not to)."""
        if not self.writable:
            raise ReadOnlyError(f"{self.uri} is open read-only (mode='r')")
        self.metadata.scale(scale)
        scale %= len(self.metadata.scales)
        if scale != self.base_scale:
            raise ReadOnlyError(f"{self.uri}: the Boss stores writes at the channel's base resolution "
                                f"{self.first + self.base_scale} only (scale {self.base_scale} here), not at scale {scale}")
        dtype = self.metadata.numpy_dtype
        if data.dtype != dtype:
            raise DTypeError(f"data is {data.dtype}, the channel {self.path} is {dtype}")
        if data.shape != box.shape:
            raise ValueError(f"data of shape {data.shape} does not fit box [{box}]")
        box.check_within(Box.from_shape(self.metadata.scale(scale).shape))
        level, pieces = self._blocks(box, scale)
        api = self._remote.api
        fmt = self.options.format
        send_zeros = self.options.send_zeros

        def store(piece: Box) -> None:
            block = data[piece.relative_to(box).to_slices()]
            if not send_zeros and not block.any():
                return
            api.post_cutout(self._route(level, piece, scale), encode(block, fmt), fmt=fmt)

        run_parallel(store, pieces)

    def to_black(self, box: Box, *, scale: int = 0) -> None:
        """Zero ``box`` on the server without sending data (``PUT /cutout/to_black``)."""
        if not self.writable:
            raise ReadOnlyError(f"{self.uri} is open read-only (mode='r')")
        box.check_within(Box.from_shape(self.metadata.scale(scale).shape))
        level, pieces = self._blocks(box, scale)
        run_parallel(lambda p: self._remote.api.to_black(self._route(level, p, scale, to_black=True)), pieces)

    # -- annotation helpers and downsampling -----------------------------------------------------------------------
    def reserve_ids(self, count: int) -> int:
        """Reserve ``count`` consecutive new label ids; returns the first."""
        return self._remote.api.reserve_ids(self.path, count)

    def ids_in_region(self, box: Box, *, scale: int = 0) -> list[int]:
        """The labels present in ``box`` (an annotation channel), sorted."""
        box.check_within(Box.from_shape(self.metadata.scale(scale).shape))
        level = self.metadata.scales[scale]
        z, y, x = ((a + o, b + o) for a, b, o in zip(box.start[-3:], box.stop[-3:], level.offset, strict=True))
        time = (box.start[0], box.stop[0]) if box.ndim == 4 else None
        return sorted(self._remote.api.ids_in_region(self.path, self.first + scale, (x, y, z), time))

    def bounding_box(self, label: int, *, scale: int = 0, tight: bool = False) -> Box:
        """The (z, y, x) box holding ``label``, in this scale's voxels (cuboid-aligned unless ``tight``)."""
        got = self._remote.api.bounding_box(self.path, self.first + scale, label, tight=tight)
        level = self.metadata.scales[scale]
        try:
            ranges = [got[f"{a}_range"] for a in "zyx"]
        except KeyError as exc:
            raise MetadataError(f"the Boss answered a bounding box without {exc}") from None
        start = tuple(int(r[0]) - o for r, o in zip(ranges, level.offset, strict=True))
        stop = tuple(int(r[1]) - o for r, o in zip(ranges, level.offset, strict=True))
        return Box(start, stop)

    def downsample_status(self) -> dict[str, Any]:
        """The Boss's downsampling record: ``status``, levels, voxel sizes and extents per resolution."""
        return self._remote.api.downsample_status(self.path)

    def start_downsample(self) -> None:
        """Ask the Boss to build the channel's lower resolutions."""
        self._remote.api.start_downsample(self.path)

    def cancel_downsample(self) -> None:
        self._remote.api.cancel_downsample(self.path)
