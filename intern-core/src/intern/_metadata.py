"""Metadata of volumes, shared by every driver.

A volume has one or more **scale levels**. Scale 0 is the finest; each level has its own shape, chunk shape, voxel size
and downsampling factor relative to scale 0. Shapes and chunks cover every axis (``axes``, e.g. ``("c", "z", "y", "x")``);
voxel sizes, factors and offsets cover the spatial axes (z, y, x) only. Voxel sizes are always in nanometres
(``voxel_unit`` stays ``"nm"``): drivers convert micrometres and the like once, when they read metadata.

>>> m = VolumeMetadata.single_scale(shape=(64, 512, 512), dtype="uint8", chunks=(64, 64, 64), voxel_size=(40, 4, 4))
>>> m.scales[0].voxel_size
(40.0, 4.0, 4.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .errors import MetadataError

__all__ = ["MAX_VOXELS", "SPATIAL_AXES", "ScaleLevel", "VolumeMetadata", "VolumeKind", "to_nanometres"]

SPATIAL_AXES = ("z", "y", "x")
#: the most voxels a level may have, in all and along one axis: TensorStore's index limit (2**62 - 2), below numpy's
#: (2**63 - 1); a shape beyond it is damaged metadata, not a dataset
MAX_VOXELS = 2**62 - 2
VolumeKind = Literal["image", "segmentation"]
"""What a volume holds: ``"image"`` (intensities) or ``"segmentation"`` (integer labels)."""

# how many nanometres one unit is; the names OME-Zarr (UDUNITS-2), Boss and precomputed use
_NM_PER_UNIT = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "micrometer": 1e3, "micrometers": 1e3, "micrometre": 1e3, "micron": 1e3, "microns": 1e3,
    "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6, "millimetre": 1e6,
    "cm": 1e7, "centimeter": 1e7, "centimeters": 1e7,
    "m": 1e9, "meter": 1e9, "meters": 1e9, "metre": 1e9,
    "angstrom": 0.1, "å": 0.1, "picometer": 1e-3, "pm": 1e-3,
}


def check_spatial(values: Sequence[Any], argument: str) -> None:
    """Refuse a per-axis value that does not have exactly the three spatial axes (z, y, x).

    Per-axis values are combined axis by axis (``zip(..., strict=True)``); this check comes first so that the
    error names the argument rather than an unequal length deep inside.

    Raises:
        MetadataError: ``values`` does not have three entries.
    """
    if len(values) != len(SPATIAL_AXES):
        raise MetadataError(f"{argument} {tuple(values)} has {len(values)} entries; it needs one for each of z, y, x")


def to_nanometres(value: float, unit: str | None) -> float:
    """Convert ``value`` in ``unit`` to nanometres; a missing unit is taken as nanometres.

    Raises:
        MetadataError: the unit is not a length.
    """
    if unit is None or unit == "":
        return float(value)
    try:
        return float(value) * _NM_PER_UNIT[unit.strip().lower()]
    except KeyError:
        raise MetadataError(f"voxel unit {unit!r} is not a length intern knows ({', '.join(sorted(_NM_PER_UNIT))})") from None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScaleLevel(_Model):
    """One level of a volume's pyramid.

    Attributes:
        shape: voxels on every axis of the volume (leading time/channel axes included).
        chunks: the storage chunk shape on every axis; reads and writes are cut along it.
        voxel_size: (z, y, x) size of one voxel in nm.
        downsample: (z, y, x) factor relative to scale 0 (``(1, 1, 1)`` at scale 0).
        offset: (z, y, x) position of voxel 0 in the dataset's own voxel frame at this scale
            (precomputed ``voxel_offset``, a Boss frame's start); indices given to intern are relative to it.
        key: the driver's name for the level (``"0"``, ``"s1"``, ``"8_8_40"``).
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    downsample: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[int, int, int] = (0, 0, 0)
    key: str = "0"

    @model_validator(mode="after")
    def _consistent(self) -> ScaleLevel:
        if len(self.shape) != len(self.chunks):
            raise MetadataError(f"shape {self.shape} and chunks {self.chunks} differ in length")
        if len(self.shape) < 3:
            raise MetadataError(f"a volume has at least the axes z, y, x; shape {self.shape} has fewer")
        if any(s < 0 for s in self.shape) or any(c < 1 for c in self.chunks):
            raise MetadataError(f"shape {self.shape} must be >= 0 and chunks {self.chunks} >= 1")
        if math.prod(self.shape) > MAX_VOXELS or max(self.shape + self.chunks) > MAX_VOXELS:
            raise MetadataError(f"shape {list(self.shape)} (chunks {list(self.chunks)}) holds more voxels than an "
                                f"array can address ({MAX_VOXELS}); the metadata is damaged")
        if any(v <= 0 for v in self.voxel_size) or any(f <= 0 for f in self.downsample):
            raise MetadataError(f"voxel size {self.voxel_size} and downsample {self.downsample} must be positive")
        return self


class VolumeMetadata(_Model):
    """What intern knows about a volume, whichever datastore holds it.

    Attributes:
        axes: names of the axes in order; the last three are ``z, y, x``, before them optionally ``t`` then ``c``.
        dtype: numpy dtype name (``"uint8"``, ``"uint64"``, ``"float32"``, ...).
        kind: ``"image"`` or ``"segmentation"`` (labels).
        scales: the pyramid, finest first.
        voxel_unit: always ``"nm"``; kept so that what a driver reports is explicit.
        attributes: free-form facts a driver wants to expose (OME metadata, Boss channel fields, ...).
    """

    axes: tuple[str, ...] = SPATIAL_AXES
    dtype: str
    kind: VolumeKind = "image"
    scales: tuple[ScaleLevel, ...]
    voxel_unit: Literal["nm"] = "nm"
    attributes: dict[str, Any] = {}

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype(cls, v: Any) -> str:
        try:
            dt = np.dtype(v)
        except TypeError:
            raise MetadataError(f"dtype {v!r} is not a numpy dtype") from None
        if dt.kind not in "biuf" or dt.byteorder == ">":
            raise MetadataError(f"dtype {dt} is not supported: use a native bool, integer or float type")
        return dt.name

    @field_validator("axes", mode="before")
    @classmethod
    def _axes(cls, v: Any) -> tuple[str, ...]:
        axes = tuple(v)
        lead = axes[:-3]
        if axes[-3:] != SPATIAL_AXES or lead not in ((), ("t",), ("c",), ("t", "c")):
            raise MetadataError(f"axes {axes} must be (z, y, x) optionally preceded by t and/or c, in that order")
        return axes

    @model_validator(mode="after")
    def _consistent(self) -> VolumeMetadata:
        if not self.scales:
            raise MetadataError("a volume has at least one scale level")
        n = len(self.axes)
        lead = self.scales[0].shape[:-3]
        for i, level in enumerate(self.scales):
            if len(level.shape) != n:
                raise MetadataError(f"scale {i} shape {level.shape} does not have the {n} axes {self.axes}")
            if level.shape[:-3] != lead:
                raise MetadataError(f"scale {i} changes the non-spatial axes {level.shape[:-3]} != {lead}")
        if self.kind == "segmentation" and np.dtype(self.dtype).kind not in "iub":
            raise MetadataError(f"a segmentation holds integer labels, not {self.dtype}")
        return self

    # -- conveniences for scale 0 -------------------------------------------------------------------------------
    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.scales[0].shape

    @property
    def chunks(self) -> tuple[int, ...]:
        return self.scales[0].chunks

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        return self.scales[0].voxel_size

    def scale(self, index: int) -> ScaleLevel:
        """The level ``index`` (negative counts from the coarsest); a clear error when there is none."""
        from .errors import OutOfBoundsError

        n = len(self.scales)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"scale is an integer level, got {index!r}")
        if not -n <= index < n:
            raise OutOfBoundsError(f"scale {index} does not exist: this volume has scales 0..{n - 1}")
        return self.scales[index]

    # -- constructors -------------------------------------------------------------------------------------------
    @classmethod
    def single_scale(
        cls,
        *,
        shape: Sequence[int],
        dtype: Any,
        chunks: Sequence[int] | None = None,
        voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
        kind: VolumeKind = "image",
        axes: Sequence[str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> VolumeMetadata:
        shape = tuple(int(s) for s in shape)
        return cls.pyramid(shape=shape, dtype=dtype, chunks=chunks, voxel_size=voxel_size, kind=kind, axes=axes,
                           factors=[], attributes=attributes)

    @classmethod
    def pyramid(
        cls,
        *,
        shape: Sequence[int],
        dtype: Any,
        chunks: Sequence[int] | None = None,
        voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
        kind: VolumeKind = "image",
        axes: Sequence[str] | None = None,
        factors: Sequence[Sequence[float]] = (),
        attributes: dict[str, Any] | None = None,
    ) -> VolumeMetadata:
        """Metadata of a volume and its downsampled levels.

        Args:
            factors: for each level after scale 0, its (z, y, x) factor relative to the level before it,
                e.g. ``[(1, 2, 2), (1, 2, 2)]`` for two levels halving x and y. Shapes round up.
            chunks: the same chunk shape at every level (defaults to 64 on spatial axes, 1 on others).
        """
        shape = tuple(int(s) for s in shape)
        if axes is None and not 3 <= len(shape) <= 5:
            raise MetadataError(f"shape {shape} has {len(shape)} axes; a volume has (z, y, x) and optionally t, c before")
        axes = tuple(axes) if axes is not None else ("t", "c", *SPATIAL_AXES)[-len(shape):]
        if chunks is None:
            chunks = tuple([1] * (len(shape) - 3) + [min(64, max(1, s)) for s in shape[-3:]])
        chunks = tuple(int(c) for c in chunks)
        check_spatial(voxel_size, "voxel_size")
        voxel = tuple(float(v) for v in voxel_size)
        levels = [ScaleLevel(shape=shape, chunks=chunks, voxel_size=voxel, key="0")]
        total: tuple[float, ...] = (1.0, 1.0, 1.0)  # ScaleLevel checks it has three factors
        for i, given in enumerate(factors, start=1):
            check_spatial(given, f"factors[{i - 1}]")
            f = tuple(float(x) for x in given)
            total = tuple(t * x for t, x in zip(total, f, strict=True))
            prev = levels[-1].shape
            spatial = tuple(-(-int(s) // int(x)) for s, x in zip(prev[-3:], f, strict=True))
            levels.append(ScaleLevel(
                shape=prev[:-3] + spatial,
                chunks=chunks,
                voxel_size=tuple(v * t for v, t in zip(voxel, total, strict=True)),
                downsample=total,
                key=str(i),
            ))
        return cls(axes=axes, dtype=dtype, kind=kind, scales=tuple(levels), attributes=attributes or {})
