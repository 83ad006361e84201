"""A precomputed ``info`` and intern's :class:`~intern.plugin.VolumeMetadata`, both ways.

Precomputed lists sizes, resolutions, offsets and chunk sizes as (x, y, z); intern keeps (z, y, x) with the channel
axis first. Every reversal between the two orders happens in this module and nowhere else. Resolutions are
nanometres in both, so no unit is converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from intern.errors import MetadataError
from intern.plugin import ScaleLevel, VolumeMetadata

__all__ = ["ENCODINGS", "READ_ENCODINGS", "LevelInfo", "info_from_metadata", "levels_from_info", "metadata_from_info"]

#: encodings intern writes, and the dtypes each takes (reading takes whatever cloud-volume decodes)
ENCODINGS: dict[str, tuple[str, ...]] = {
    "raw": ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"),
    "jpeg": ("uint8",),
    "png": ("uint8",),  # pyspng, which cloud-volume decodes png with, reads no 16-bit grey
    "compressed_segmentation": ("uint32", "uint64"),
}
#: encodings a volume may be read in: cloud-volume's ``chunks.decode`` (some need their codec's package installed)
READ_ENCODINGS = ("raw", "jpeg", "png", "compressed_segmentation", "compresso", "crackle", "fpzip", "kempressed",
                  "zfpc", "jxl", "npz")
_CSEG_BLOCK = (8, 8, 8)


@dataclass(frozen=True)
class LevelInfo:
    """What reading and writing one scale needs, in precomputed's own (x, y, z) terms.

    Attributes:
        key: the scale's directory.
        size, chunk, offset: voxels, chunk size and ``voxel_offset`` as (x, y, z).
        encoding: the chunk encoding (``raw``, ``jpeg``, ``compressed_segmentation``, ...).
        block_size: the compressed_segmentation block size, else ``None``.
        sharding: the ``sharding`` spec, or ``None`` for one file per chunk.
        level: the (z, y, x) :class:`ScaleLevel` intern reports.
    """

    key: str
    size: tuple[int, int, int]
    chunk: tuple[int, int, int]
    offset: tuple[int, int, int]
    encoding: str
    block_size: tuple[int, int, int] | None
    sharding: dict[str, Any] | None
    level: ScaleLevel

    @property
    def sharded(self) -> bool:
        return self.sharding is not None

    def chunk_name(self, x0: int, x1: int, y0: int, y1: int, z0: int, z1: int) -> str:
        """The file of the chunk covering level-relative voxels [x0, x1) x [y0, y1) x [z0, z1) (absolute names)."""
        ox, oy, oz = self.offset
        return f"{self.key}/{x0 + ox}-{x1 + ox}_{y0 + oy}-{y1 + oy}_{z0 + oz}-{z1 + oz}"


def _triple(value: Any, what: str, *, where: str, kind: type = int) -> tuple[Any, Any, Any]:
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise MetadataError(f"{where}: {what} {value!r} is not three numbers (x, y, z)") from None
    if len(out) != 3:
        raise MetadataError(f"{where}: {what} {value!r} is not three numbers (x, y, z)")
    return out


def levels_from_info(info: dict[str, Any], *, where: str) -> list[LevelInfo]:
    """One :class:`LevelInfo` per entry of ``info["scales"]``, in the info's order (finest first).

    ``where`` names the info file in messages.

    Raises:
        MetadataError: the info is not that of an image or segmentation volume, or a scale is malformed.
    """
    kind = info.get("type")
    if kind not in ("image", "segmentation"):
        raise MetadataError(f"{where}: precomputed type {kind!r} is not a volume (image or segmentation)")
    scales = info.get("scales")
    if not isinstance(scales, list) or not scales:
        raise MetadataError(f"{where}: info has no scales")
    try:
        channels = int(info.get("num_channels", 1))
    except (TypeError, ValueError):
        raise MetadataError(f"{where}: num_channels {info.get('num_channels')!r} is not a whole number") from None
    if channels < 1:
        raise MetadataError(f"{where}: num_channels {channels} must be at least 1")
    finest = np.array(_triple(scales[0].get("resolution"), "scale 0 resolution", where=where, kind=float))
    out = []
    for i, scale in enumerate(scales):
        try:
            size = _triple(scale["size"], f"scale {i} size", where=where)
            chunk = _triple(scale["chunk_sizes"][0], f"scale {i} chunk_sizes", where=where)
            resolution = _triple(scale["resolution"], f"scale {i} resolution", where=where, kind=float)
            offset = _triple(scale.get("voxel_offset", (0, 0, 0)), f"scale {i} voxel_offset", where=where)
            key = str(scale["key"])
        except (KeyError, IndexError, TypeError):
            raise MetadataError(f"{where}: scale {i} lacks key, size, resolution or chunk_sizes") from None
        lead = (channels,) if channels > 1 else ()
        try:
            level = ScaleLevel(
                shape=lead + size[::-1],
                chunks=lead + chunk[::-1],
                voxel_size=resolution[::-1],
                downsample=tuple(float(r / f) for r, f in zip(resolution[::-1], finest[::-1], strict=True)),
                offset=offset[::-1],
                key=key,
            )
        except ValueError as exc:
            raise MetadataError(f"{where}: scale {key!r}: {exc}") from None
        encoding = str(scale.get("encoding", "raw"))
        if encoding not in READ_ENCODINGS:
            # refused at open: otherwise every written chunk of the scale fails to decode, and unwritten ones read as 0
            raise MetadataError(f"{where}: scale {key!r} has encoding {encoding!r}, which intern cannot decode; "
                                f"the encodings it reads are {', '.join(READ_ENCODINGS)}")
        block = scale.get("compressed_segmentation_block_size")
        out.append(LevelInfo(
            key=key, size=size, chunk=chunk, offset=offset, encoding=encoding,
            block_size=_triple(block, f"scale {i} compressed_segmentation_block_size", where=where)
            if block is not None else
            (_CSEG_BLOCK if encoding == "compressed_segmentation" else None),
            sharding=scale.get("sharding") or None,
            level=level,
        ))
    return out


def metadata_from_info(info: dict[str, Any], levels: list[LevelInfo], *, where: str) -> VolumeMetadata:
    """intern's metadata of a precomputed volume; the info's own facts go into ``attributes["precomputed"]``."""
    channels = int(info.get("num_channels", 1))
    own: dict[str, Any] = {
        "encoding": [lv.encoding for lv in levels],
        "sharded": [lv.sharded for lv in levels],
    }
    for name in ("mesh", "skeletons", "segment_properties"):
        if info.get(name):
            own[name] = info[name]
    try:
        return VolumeMetadata(
            axes=("c", "z", "y", "x") if channels > 1 else ("z", "y", "x"),
            dtype=str(info.get("data_type")),
            kind=info["type"],
            scales=tuple(lv.level for lv in levels),
            attributes={"precomputed": own},
        )
    except ValueError as exc:
        if isinstance(exc, MetadataError):
            raise MetadataError(f"{where}: {exc}") from None
        raise MetadataError(f"{where}: the info makes no volume intern can read ({exc})") from None


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def info_from_metadata(metadata: VolumeMetadata, *, encoding: str = "raw", where: str) -> dict[str, Any]:
    """A new precomputed info for ``metadata``: one scale per level, keys named by resolution (``8_8_40``).

    Raises:
        MetadataError: precomputed cannot hold the volume (a time axis, a dtype the encoding does not take).
    """
    if "t" in metadata.axes:
        raise MetadataError(f"{where}: precomputed volumes have no time axis; store each time point separately")
    if encoding not in ENCODINGS:
        raise MetadataError(f"{where}: encoding {encoding!r} is not one intern writes ({', '.join(ENCODINGS)})")
    if metadata.dtype not in ENCODINGS[encoding]:
        raise MetadataError(f"{where}: the {encoding} encoding holds {', '.join(ENCODINGS[encoding])}, not "
                            f"{metadata.dtype}" + ("; store booleans as uint8" if metadata.dtype == "bool" else ""))
    channels = metadata.shape[0] if "c" in metadata.axes else 1
    if encoding == "jpeg" and channels not in (1, 3):
        raise MetadataError(f"{where}: jpeg holds 1 or 3 channels, not {channels}")
    scales = []
    keys: set[str] = set()
    for i, level in enumerate(metadata.scales):
        resolution = [_number(v) for v in level.voxel_size[::-1]]
        key = "_".join(str(v) for v in resolution)
        if key in keys:  # two levels of one resolution cannot share a directory
            key = f"{key}_{i}"
        keys.add(key)
        scale: dict[str, Any] = {
            "key": key,
            "size": list(level.shape[-3:][::-1]),
            "resolution": resolution,
            "voxel_offset": list(level.offset[::-1]),
            "chunk_sizes": [list(level.chunks[-3:][::-1])],
            "encoding": encoding,
        }
        if encoding == "compressed_segmentation":
            scale["compressed_segmentation_block_size"] = list(_CSEG_BLOCK)
        scales.append(scale)
    return {
        "@type": "neuroglancer_multiscale_volume",
        "type": metadata.kind,
        "data_type": metadata.dtype,
        "num_channels": int(channels),
        "scales": scales,
    }
