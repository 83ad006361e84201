"""Front doors of the services: ``intern.mesh``, ``intern.skeleton``, ``intern.downsample``.

Each takes a volume in any form (URI, Array, resource, or a numpy array with its voxel size), resolves the
implementation (:mod:`intern._resolver`) and runs it. The algorithms live in plugins; these functions only pick one
and pass the arguments through, so every implementation of a service answers the same call.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._box import Box
from ._metadata import VolumeKind, VolumeMetadata
from ._resolver import resolve
from ._traits import VolumeResource

__all__ = ["as_volume", "downsample", "mesh", "skeleton"]


def as_volume(source: Any, *, voxel_size: Sequence[float] | None = None, kind: VolumeKind | None = None) -> VolumeResource:
    """A VolumeResource for ``source``: a URI, an Array, a resource, or a (z, y, x) numpy array.

    A numpy array is wrapped without copying in an unregistered in-memory volume; ``kind`` defaults to ``"image"``
    for uint8 and floats (greyscale) and to ``"segmentation"`` for wider integers (labels), ``voxel_size`` to 1 nm.
    """
    if isinstance(source, np.ndarray):
        from ._builtin.mem import MemRemote, MemVolume
        from ._uri import URI

        if kind is None:
            kind = "segmentation" if source.dtype.kind in "iu" and source.dtype.itemsize > 1 else "image"
        meta = VolumeMetadata.single_scale(shape=source.shape, dtype=source.dtype, chunks=source.shape or None,
                                           voxel_size=voxel_size or (1.0, 1.0, 1.0), kind=kind)
        remote, _ = MemRemote.from_uri(URI("mem", "anonymous"))
        vol = MemVolume(remote, f"numpy-{uuid.uuid4().hex[:8]}", meta)
        vol.levels[0] = source
        vol.writable = False
        return vol
    resource = getattr(source, "resource", source)
    if isinstance(source, str):
        from ._api import open as open_uri

        resource = open_uri(source)
    return resource


def mesh(source: Any, *, ids: Sequence[int] | None = None, box: Box | None = None, scale: int = 0,
         prefer: str | None = None, voxel_size: Sequence[float] | None = None, **params: Any) -> Any:
    """Meshes of a segmentation's labels, ``{label: intern.Mesh}``, vertices in nm.

    Runs on the datastore when it stores meshes, locally otherwise (``prefer="local"`` forces local meshing).
    """
    resource = as_volume(source, voxel_size=voxel_size, kind="segmentation" if isinstance(source, np.ndarray) else None)
    return resolve("mesh", resource, prefer)(ids=ids, box=box, scale=scale, **params)


def skeleton(source: Any, *, ids: Sequence[int] | None = None, box: Box | None = None, scale: int = 0,
             prefer: str | None = None, voxel_size: Sequence[float] | None = None, **params: Any) -> Any:
    """Skeletons of a segmentation's labels, ``{label: intern.Skeleton}``, vertices in nm."""
    resource = as_volume(source, voxel_size=voxel_size, kind="segmentation" if isinstance(source, np.ndarray) else None)
    return resolve("skeleton", resource, prefer)(ids=ids, box=box, scale=scale, **params)


def downsample(source: Any, *, factor: Sequence[int] = (1, 2, 2), levels: int = 1, dest: Any = None,
               scale: int = 0, box: Box | None = None, prefer: str | None = None,
               voxel_size: Sequence[float] | None = None, kind: VolumeKind | None = None, **params: Any) -> Any:
    """Downsample ``levels`` times by ``factor`` (z, y, x): block mean for images, block mode for segmentations.

    Returns the new levels as numpy arrays, coarsest last. With ``dest`` (a URI or Array whose pyramid has the
    levels), level ``k`` is written to ``dest`` at scale ``scale + k`` instead and the written levels are returned as
    :class:`~intern.Array` objects (a pyramid larger than memory never has to be held).
    """
    resource = as_volume(source, voxel_size=voxel_size, kind=kind)
    return resolve("downsample", resource, prefer)(factor=tuple(factor), levels=levels, dest=dest, scale=scale,
                                                   box=box, **params)
