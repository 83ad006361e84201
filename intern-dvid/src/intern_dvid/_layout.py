"""How DVID instances become intern volumes, and back: types, scale levels, extents, the shape record.

- ``uint8blk`` is a grayscale image (uint8); ``labelblk``, ``labelarray`` and ``labelmap`` are segmentations (uint64).
- Scale levels: ``labelarray``/``labelmap`` hold their own pyramid (``MaxDownresLevel``, each level 2x coarser on
  every axis, read with ``scale=N``). ``uint8blk`` and ``labelblk`` have none; by the field's convention their
  pyramids are separate instances ``NAME_1``, ``NAME_2``, ... whose voxel sizes give the factors.
- Shape: DVID volumes have no fixed size, only extents (``MinPoint``/``MaxPoint``) that grow with every write, in
  whole blocks. A volume intern created keeps the shape it was created with in a record (the keyvalue instance
  ``intern_metadata``, key = the volume's name); any other volume's shape is its extents, voxel 0 at DVID's origin
  (or at ``MinPoint`` on an axis where that is negative, recorded as the level's ``offset``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from intern.errors import MetadataError
from intern.plugin import ScaleLevel, VolumeMetadata, to_nanometres

__all__ = ["LABEL_TYPES", "Level", "RECORD_INSTANCE", "VOLUME_TYPES", "creation_configs", "record_for",
           "volume_metadata"]

VOLUME_TYPES = ("uint8blk", "labelblk", "labelarray", "labelmap")
LABEL_TYPES = ("labelblk", "labelarray", "labelmap")
MULTISCALE_TYPES = ("labelarray", "labelmap")
RECORD_INSTANCE = "intern_metadata"
RECORD_FORMAT = "intern-dvid/1"


@dataclass(frozen=True)
class Level:
    """Where one intern scale level lives in DVID."""

    instance: str
    scale: int | None  # the ``scale=`` parameter, or None for an instance of its own
    block_zyx: tuple[int, int, int]


def _xyz(value: Any, what: str, where: str) -> tuple[Any, Any, Any]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise MetadataError(f"{where}: {what} is {value!r}, not three values (x, y, z)")
    return tuple(value)


def _extents(info: dict[str, Any]) -> tuple[list[int] | None, list[int] | None]:
    ext = info.get("Extended") or {}
    lo, hi = ext.get("MinPoint"), ext.get("MaxPoint")
    if lo is None or hi is None:
        extents = info.get("Extents") or {}
        lo, hi = extents.get("MinPoint"), extents.get("MaxPoint")
    return lo, hi


def _voxel_nm(info: dict[str, Any], where: str) -> tuple[float, float, float]:
    ext = info.get("Extended") or {}
    size = _xyz(ext.get("VoxelSize") or (8, 8, 8), "VoxelSize", where)
    units = ext.get("VoxelUnits") or ("nanometers",) * 3
    units = _xyz(units, "VoxelUnits", where) if not isinstance(units, str) else (units,) * 3
    nm = [to_nanometres(float(v), str(u)) for v, u in zip(size, units, strict=True)]
    return nm[2], nm[1], nm[0]


def _block(info: dict[str, Any], where: str) -> tuple[int, int, int]:
    bx, by, bz = (int(v) for v in _xyz((info.get("Extended") or {}).get("BlockSize"), "BlockSize", where))
    return bz, by, bx


def volume_metadata(name: str, info: dict[str, Any], instances: dict[str, dict[str, Any]],
                    record: dict[str, Any] | None, *, where: str) -> tuple[VolumeMetadata, list[Level]]:
    """The intern metadata of instance ``name`` (its ``info``), given the repo's other instances and the record."""
    base = info.get("Base") or {}
    typename = str(base.get("TypeName", ""))
    if typename not in VOLUME_TYPES:
        raise MetadataError(f"{where} is a DVID {typename or 'instance of unknown type'}, not a volume intern-dvid "
                            f"reads ({', '.join(VOLUME_TYPES)})")
    ext = info.get("Extended") or {}
    values = ext.get("Values") or [{"DataType": "uint64" if typename in LABEL_TYPES else "uint8"}]
    dtype = np.dtype(str(values[0].get("DataType", "uint8")))
    voxel0 = _voxel_nm(info, where)
    block0 = _block(info, where)

    lo, hi = _extents(info)
    offset = (0, 0, 0)
    if record and record.get("shape"):
        shape0 = tuple(int(s) for s in record["shape"])
    elif lo is None or hi is None:
        shape0 = (0, 0, 0)
    else:
        lo_zyx = [int(v) for v in reversed(lo)]
        hi_zyx = [int(v) for v in reversed(hi)]
        offset = tuple(min(a, 0) for a in lo_zyx)  # type: ignore[assignment]
        shape0 = tuple(max(0, b - o + 1) for b, o in zip(hi_zyx, offset, strict=True))
    recorded = [tuple(int(v) for v in s) for s in (record or {}).get("levels") or []]

    levels = [Level(name, 0 if typename in MULTISCALE_TYPES else None, block0)]
    scales = [ScaleLevel(shape=shape0, chunks=block0, voxel_size=voxel0, offset=offset, key=name)]
    if typename in MULTISCALE_TYPES:
        for s in range(1, int(ext.get("MaxDownresLevel") or 0) + 1):
            f = 2 ** s
            shape = recorded[s] if s < len(recorded) else tuple(-(-n // f) for n in shape0)
            levels.append(Level(name, s, block0))
            scales.append(ScaleLevel(shape=shape, chunks=block0, voxel_size=tuple(v * f for v in voxel0),
                                     downsample=(f, f, f), offset=tuple(o // f for o in offset), key=str(s)))
    else:
        s = 1
        while (other := instances.get(f"{name}_{s}")) is not None and \
                (other.get("Base") or {}).get("TypeName") == typename:
            voxel = _voxel_nm(other, f"{where}_{s}")
            factor = tuple(v / v0 for v, v0 in zip(voxel, voxel0, strict=True))
            shape = recorded[s] if s < len(recorded) else \
                tuple(math.ceil(n / f - 1e-9) for n, f in zip(shape0, factor, strict=True))
            block = _block(other, f"{where}_{s}")
            levels.append(Level(f"{name}_{s}", None, block))
            scales.append(ScaleLevel(shape=shape, chunks=block, voxel_size=voxel, downsample=factor,
                                     offset=tuple(int(o // f) for o, f in zip(offset, factor, strict=True)), key=f"{name}_{s}"))
            s += 1
    attributes = dict((record or {}).get("attributes") or {})
    attributes["dvid"] = {"type": typename, "instance": name, "levels": [lv.instance for lv in levels],
                          "compression": base.get("Compression", ""), "data_uuid": base.get("DataUUID", "")}
    kind = "segmentation" if typename in LABEL_TYPES else "image"
    try:
        metadata = VolumeMetadata(dtype=dtype.name, kind=kind, scales=tuple(scales), attributes=attributes)
    except ValueError as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{where}: DVID's info makes no volume: {exc}") from None
    return metadata, levels


def choose_type(metadata: VolumeMetadata, typename: str | None, where: str) -> str:
    """The DVID type for a new volume: ``uint8blk`` for uint8, ``labelmap`` for uint64, or the one asked for."""
    if metadata.axes != ("z", "y", "x"):
        raise MetadataError(f"{where}: DVID volumes are 3-D (z, y, x); {metadata.axes} has more axes")
    dtype = metadata.numpy_dtype
    if typename is None:
        typename = {"uint8": "uint8blk", "uint64": "labelmap"}.get(dtype.name)
        if typename is None:
            raise MetadataError(f"{where}: DVID stores uint8 grayscale (uint8blk) and uint64 labels (labelmap, "
                                f"labelarray, labelblk), not {dtype}; cast the data first")
    if typename not in VOLUME_TYPES:
        raise MetadataError(f"{where}: typename={typename!r} is not one of {', '.join(VOLUME_TYPES)}")
    want = "uint64" if typename in LABEL_TYPES else "uint8"
    if dtype.name != want:
        raise MetadataError(f"{where}: a DVID {typename} holds {want}, not {dtype}")
    return typename


def creation_configs(name: str, metadata: VolumeMetadata, typename: str, *, compression: str | None,
                     where: str) -> list[dict[str, str]]:
    """The ``POST /api/repo/{uuid}/instance`` bodies that make the volume (one per instance)."""

    def xyz(values: Any) -> str:
        return ",".join(_number(v) for v in reversed(tuple(values)))

    def config(instance: str, level: ScaleLevel) -> dict[str, str]:
        body = {"typename": typename, "dataname": instance, "versioned": "true", "BlockSize": xyz(level.chunks),
                "VoxelSize": xyz(level.voxel_size), "VoxelUnits": "nanometers,nanometers,nanometers"}
        if compression:
            body["Compression"] = compression
        return body

    levels = metadata.scales
    if typename in MULTISCALE_TYPES:
        for s, level in enumerate(levels[1:], start=1):
            if tuple(level.downsample) != (2.0 ** s,) * 3 or level.chunks != levels[0].chunks:
                raise MetadataError(f"{where}: a DVID {typename} computes its own levels, each 2x coarser on every "
                                    f"axis with the same blocks; level {s} asks for factor {level.downsample} and "
                                    f"chunks {level.chunks}. Pass scales=N with isotropic voxels, or scales=1")
        first = config(name, levels[0])
        first["MaxDownresLevel"] = str(len(levels) - 1)
        return [first]
    return [config(name if s == 0 else f"{name}_{s}", level) for s, level in enumerate(levels)]


def record_for(metadata: VolumeMetadata) -> bytes:
    """The record intern keeps beside a volume it created: its shape at every level, kind and attributes."""
    attributes = {k: v for k, v in metadata.attributes.items() if k != "dvid"}
    try:
        text = json.dumps({"format": RECORD_FORMAT, "shape": list(metadata.shape),
                           "levels": [list(level.shape) for level in metadata.scales], "kind": metadata.kind,
                           "attributes": attributes})
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"attributes must be JSON-serialisable to be stored in DVID: {exc}") from None
    return text.encode()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
