"""The core's last-resort label queries: ``label_at``, ``bounding_box`` and ``size`` by scanning the volume.

Datastores with a label index (DVID) answer these on the server; on any other segmentation these read it chunk by
chunk, in parallel, at scale 0. They answer exactly what the server-side versions answer, so the resolver can use
either.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from .._box import Box
from .._executor import run_parallel
from .._traits import VolumeResource
from ..errors import NotFoundError, OutOfBoundsError


def _spatial(resource: VolumeResource) -> tuple[Box, tuple[int, ...]]:
    level = resource.metadata.scales[0]
    if len(level.shape) != 3:
        raise OutOfBoundsError(f"{resource.uri} has axes {resource.metadata.axes}; label queries need (z, y, x) only")
    return Box.from_shape(level.shape), level.chunks


def label_at(resource: VolumeResource, points: Any = None) -> np.ndarray | int:
    """The label at (z, y, x) voxel ``points`` of scale 0: an ``(n,)`` uint64 array, or an int for one point."""
    if points is None:
        raise TypeError("label_at needs points: one (z, y, x) voxel or an (n, 3) array of them")
    bounds, chunks = _spatial(resource)
    pts = np.asarray(points, dtype=np.int64)
    single = pts.ndim == 1
    pts = pts.reshape(-1, 3)
    if len(pts) and ((pts < 0).any() or (pts >= np.asarray(bounds.stop)).any()):
        raise OutOfBoundsError(f"points outside the volume {bounds}")
    out = np.zeros(len(pts), dtype=np.uint64)
    by_chunk: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, p in enumerate(pts):
        by_chunk[tuple(int(v) // c for v, c in zip(p, chunks, strict=True))].append(i)

    def lookup(item: tuple[tuple[int, ...], list[int]]) -> None:
        idx, rows = item
        box = Box(tuple(i * c for i, c in zip(idx, chunks, strict=True)), tuple((i + 1) * c for i, c in zip(idx, chunks, strict=True)))
        box = box.intersection(bounds)
        block = resource.read(box, scale=0)
        local = pts[rows] - np.asarray(box.start)
        out[rows] = block[tuple(local.T)]

    run_parallel(lookup, list(by_chunk.items()))
    return int(out[0]) if single else out


def _scan(resource: VolumeResource, label: int) -> tuple[int, Box | None]:
    bounds, chunks = _spatial(resource)

    def count(box: Box) -> tuple[int, Box | None]:
        block = resource.read(box, scale=0) == label
        n = int(block.sum())
        if not n:
            return 0, None
        lo, hi = [], []
        for axis in range(3):
            hit = np.flatnonzero(block.any(axis=tuple(a for a in range(3) if a != axis)))
            lo.append(box.start[axis] + int(hit[0]))
            hi.append(box.start[axis] + int(hit[-1]) + 1)
        return n, Box(tuple(lo), tuple(hi))

    total, found = 0, None
    for n, box in run_parallel(count, list(bounds.chunk_boxes(chunks, bounds=bounds))):
        total += n
        if box is not None:
            found = box if found is None else Box(tuple(map(min, found.start, box.start)),
                                                  tuple(map(max, found.stop, box.stop)))
    if not total:
        raise NotFoundError(f"{resource.uri} has no voxels of label {label}")
    return total, found


def bounding_box(resource: VolumeResource, label: Any = None) -> Box:
    """The (z, y, x) half-open box around ``label``'s voxels at scale 0."""
    if label is None:
        raise TypeError("bounding_box needs a label")
    return _scan(resource, int(label))[1]  # type: ignore[return-value]


def size(resource: VolumeResource, label: Any = None) -> int:
    """How many voxels ``label`` has at scale 0."""
    if label is None:
        raise TypeError("size needs a label")
    return _scan(resource, int(label))[0]
