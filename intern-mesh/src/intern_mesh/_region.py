"""The part of a volume a service works on: box, scale, voxel size, physical origin, and reads of labels from it.

Every service here takes ``(resource, box, scale)``. A :class:`Region` checks them once, and reads spatial blocks of
it (optionally reaching one voxel beyond it, where it reads zeros: that is how surfaces get closed at the region's
faces) through the core's chunked reader, so each block read is cut on the storage grid and runs in parallel.

Physical placement: voxel ``(z, y, x)`` of the region covers ``[(o + i) * r, (o + i + 1) * r)`` nm on each axis,
where ``o`` is the level's ``offset`` plus the box's start and ``r`` the level's voxel size, so its centre is at
``(o + i + 0.5) * r``. That is neuroglancer's convention, which makes meshes and skeletons overlay the volume there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intern.errors import MetadataError
from intern.plugin import Box, VolumeResource, read_box

__all__ = ["Region", "as_unsigned", "block_shift", "check_shape", "label_ids"]


@dataclass(frozen=True)
class Region:
    """A box of one scale level of a volume, with what the services need to know about it.

    Attributes:
        resource: the volume.
        scale: the level.
        box: the box over every axis of the volume (leading ``t``/``c`` axes one voxel wide).
        voxel_size: (z, y, x) nm at this level.
        origin: (z, y, x) voxel position of the box's first voxel in the dataset's frame (level offset + box start).
    """

    resource: VolumeResource
    scale: int
    box: Box
    voxel_size: tuple[float, float, float]
    origin: tuple[int, int, int]

    @classmethod
    def of(cls, resource: VolumeResource, box: Box | None, scale: int, *, single_channel: bool = True) -> Region:
        """Check ``box`` (a (z, y, x) box, or one over every axis) against level ``scale`` of ``resource``.

        Args:
            single_channel: require leading ``t``/``c`` axes to be one voxel wide in the box (labels have one value
                per voxel); a (z, y, x) box then takes index 0 of them, and otherwise all of them.

        Raises:
            OutOfBoundsError: the box reaches outside the level, or the level does not exist.
            MetadataError: the box has the wrong number of axes, or spans several channels/times.
        """
        meta = resource.metadata
        level = meta.scale(scale)
        lead = len(meta.axes) - 3
        bounds = Box.from_shape(level.shape)
        if box is None:
            box = Box((0,) * lead + bounds.start[lead:], (1,) * lead + bounds.stop[lead:]) if single_channel else bounds
        elif not isinstance(box, Box):
            raise TypeError(f"box must be an intern.Box, got {box!r}")
        elif box.ndim == 3 and lead:  # a (z, y, x) box: the first channel/time for labels, all of them otherwise
            box = Box((0,) * lead + box.start, (level.shape[:lead] if not single_channel else (1,) * lead) + box.stop)
        if box.ndim != len(meta.axes):
            raise MetadataError(f"box [{box}] has {box.ndim} axes; give (z, y, x) or all of {', '.join(meta.axes)}")
        box.check_within(bounds)
        if single_channel and any(n != 1 for n in box.shape[:lead]):
            raise MetadataError(f"box [{box}] spans several {'/'.join(meta.axes[:lead])} values; labels need one "
                                f"(give {', '.join(f'{a}=k:k+1' for a in meta.axes[:lead])})")
        (oz, oy, ox), (sz, sy, sx) = level.offset, box.start[lead:]
        origin = (int(oz) + int(sz), int(oy) + int(sy), int(ox) + int(sx))
        vz, vy, vx = level.voxel_size
        return cls(resource, scale % len(meta.scales), box, (float(vz), float(vy), float(vx)), origin)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) voxels of the region."""
        return self.box.shape[-3:]  # type: ignore[return-value]

    @property
    def spatial(self) -> Box:
        """The region as a (z, y, x) box relative to its own first voxel."""
        return Box.from_shape(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.resource.metadata.numpy_dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def _full(self, spatial: Box) -> Box:
        """A (z, y, x) box relative to the region as a box over every axis of the volume."""
        lead = self.box.ndim - 3
        start = self.box.start[:lead] + tuple(a + s for a, s in zip(spatial.start, self.box.start[lead:], strict=True))
        stop = self.box.stop[:lead] + tuple(a + s for a, s in zip(spatial.stop, self.box.start[lead:], strict=True))
        return Box(start, stop)

    def read(self, block: Box, *, pad: bool = False) -> np.ndarray:
        """The labels of ``block`` ((z, y, x) relative to the region) as a new C-order (z, y, x) array.

        Args:
            pad: allow ``block`` to reach outside the region; voxels there read as 0 (background).
        """
        if not pad:
            block.check_within(self.spatial)
            out = np.empty(block.shape, self.dtype)
        else:
            out = np.zeros(block.shape, self.dtype)
        inner = block.intersection(self.spatial)
        if inner.is_empty():
            return out
        view = out[inner.relative_to(block).to_slices()]
        lead = self.box.ndim - 3
        read_box(self.resource, self._full(inner), scale=self.scale, out=view[(np.newaxis,) * lead])
        return out

    def to_nm(self, half_units: np.ndarray) -> np.ndarray:
        """Integer positions in half voxels, (x, y, z) columns, from the region's first voxel corner -> float32 nm.

        One float32 addition of exact integers and one multiplication: the result depends on the global half-voxel
        position alone, so pieces meshed separately agree to the bit where they meet (see :meth:`place`).
        """
        out = np.add(half_units, self._half_origin, dtype=np.float32)
        out *= self._half_voxel
        return out

    def place(self, vertices: np.ndarray, block_start: tuple[int, ...]) -> np.ndarray:
        """Half-voxel vertices of a block, (x, y, z) from the centre of its first voxel -> nm, in place.

        ``vertices`` (float32) is overwritten and returned: the same two float32 operations as :meth:`to_nm` on the
        same integers, without a copy.
        """
        vertices += self._half_origin + block_shift(block_start)
        vertices *= self._half_voxel
        return vertices

    @property
    def _half_origin(self) -> np.ndarray:
        """(x, y, z) origin in half voxels, float32 (exact below 2**24)."""
        return np.array([2 * o for o in self.origin[::-1]], dtype=np.float32)

    @property
    def _half_voxel(self) -> np.ndarray:
        """(x, y, z) half voxel in nm, float32."""
        return np.array([v / 2 for v in self.voxel_size[::-1]], dtype=np.float32)

    def provenance(self) -> dict[str, Any]:
        return {"source": self.resource.uri, "box": self.box, "scale": self.scale}


def block_shift(block_start: Sequence[int]) -> np.ndarray:
    """(x, y, z) half voxels from the centre of a block's first voxel ((z, y, x) ``block_start``) to the region's
    first voxel corner."""
    return np.array([2 * s + 1 for s in block_start[::-1]], dtype=np.float32)


def label_ids(ids: Iterable[Any] | None) -> np.ndarray | None:
    """``ids`` as a sorted, unique uint64 array without 0 (background), or None for all labels.

    Raises:
        TypeError: an id is not an integer.
        ValueError: an id is negative or beyond uint64.
    """
    if ids is None:
        return None
    if isinstance(ids, (int, np.integer)):
        ids = [ids]
    out = []
    for value in ids:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"ids must be integer labels, got {value!r}")
        if not 0 <= int(value) < 2**64:
            raise ValueError(f"label {value} is not a uint64 label")
        out.append(int(value))
    return np.unique(np.array([v for v in out if v != 0], dtype=np.uint64))


def as_unsigned(labels: np.ndarray) -> np.ndarray:
    """Labels as an unsigned integer array of the same width (a view where possible).

    Raises:
        MetadataError: signed labels with negative values (a mesh or skeleton id is a uint64).
    """
    if labels.dtype == np.bool_:
        return labels.view(np.uint8)
    if labels.dtype.kind == "i":
        if labels.size and labels.min() < 0:
            raise MetadataError(f"the segmentation has negative labels (down to {labels.min()}); mesh and skeleton "
                                "ids are unsigned: relabel them first")
        return labels.view(labels.dtype.str.replace("i", "u"))
    if labels.dtype.kind != "u":
        raise MetadataError(f"labels must be integers, not {labels.dtype}")
    return labels


def check_shape(value: Sequence[int] | None, what: str) -> tuple[int, int, int] | None:
    if value is None:
        return None
    shape = tuple(int(v) for v in value)
    if len(shape) != 3 or any(v < 1 for v in shape):
        raise ValueError(f"{what} must be three positive (z, y, x) sizes, got {value!r}")
    return shape
