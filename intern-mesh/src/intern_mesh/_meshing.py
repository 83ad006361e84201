"""The ``mesh`` service: ``{label: intern.Mesh}`` for the labels of any segmentation, meshed chunk by chunk.

How a region is cut. Marching cubes makes triangles in *cells*, the cubes between eight voxel centres. The region is
padded with one voxel of background on every side (``close=True``), so labels cut by the box are capped there, and
its cells are divided among tasks by planes on a grid (aligned with the storage chunks where possible). A task
meshing cells ``[a, b)`` along an axis reads voxels ``[a, b + 1)``: one voxel of overlap with the next task. Every
cell is meshed by exactly one task, so the union of the tasks' triangles is exactly the triangle set of meshing the
whole region at once: no cracks, no duplicates. Vertices are kept as integers (half voxels) until the pieces are
welded, then converted to nm by one formula, so a vertex on a seam gets the same float32 coordinates from both
sides.

Small regions (up to 256^3 voxels by default) are one task; larger ones run on the core's thread pool
(:func:`intern.plugin.run_parallel`), reading their blocks in parallel, or, with ``scheduler=``, on a Dask cluster
through the core's job runner (:func:`intern.jobs.run_jobs`), the same one copies use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intern.plugin import Box, Mesh, VolumeResource, default_scheduler, run_jobs, run_parallel

from ._marching import BACKENDS
from ._region import Region, as_unsigned, block_shift, check_shape, label_ids
from ._simplify import simplify as simplify_mesh

__all__ = ["mesh_skimage", "mesh_zmesh", "plan_blocks"]

#: regions up to this many voxels are meshed as one block by default
WHOLE_VOXELS = 256**3
#: default (z, y, x) cells per task when a region is cut
TASK_SHAPE = (128, 128, 128)


def mesh_zmesh(resource: VolumeResource, *, ids: Sequence[int] | None = None, box: Box | None = None, scale: int = 0,
               simplify: float | bool | None = None, reduction_factor: int = 100, close: bool = True,
               chunk_shape: Sequence[int] | None = None,
               progress: Callable[[int], None] | None = None, scheduler: str | None = None,
               workers: int | None = None) -> dict[int, Mesh]:
    """Meshes of a segmentation's labels by zmesh's multi-label marching cubes.

    The implementation behind ``intern.mesh`` when the datastore does not serve meshes (``prefer="zmesh"``).

    Args:
        resource: a segmentation volume.
        ids: the labels to mesh; all labels in the box by default. Label 0 is background and never meshed; a label
            with no voxel in the box is left out of the result.
        box: the (z, y, x) voxels at ``scale`` to mesh (or a box over every axis); the whole level by default.
        scale: the pyramid level.
        simplify: ``None``/``False`` keeps the marching-cubes surface; a number of nm simplifies so that every
            vertex stays within that distance of the unsimplified surface; ``True`` means one voxel (its largest
            side).
        reduction_factor: with ``simplify``, aim for this many times fewer triangles.
        close: close surfaces where the box cuts a label (default); ``False`` leaves them open there.
        chunk_shape: (z, y, x) voxels per task; by default one task up to 256^3 voxels, 128^3 (rounded to whole
            storage chunks) above.
        progress: called with 1 as each task finishes (the CLI's progress bar).
        scheduler: where several tasks run: threads here by default (or ``INTERN_SCHEDULER``), ``"local"`` for a
            ``dask.distributed`` LocalCluster of ``workers`` processes, ``"tcp://..."`` for a cluster
            (:mod:`intern.jobs`). zmesh holds the GIL, so processes are what make a second core count; the volume
            must then reopen by URI (not ``mem://`` or a wrapped numpy array).
        workers: threads, or Dask worker processes.

    Returns:
        ``{label: intern.Mesh}``, vertices (x, y, z) in nm at their place in the dataset (level offset + box start,
        voxel ``i`` spanning ``[i, i + 1)`` voxel sizes), faces counter-clockwise seen from outside.

    Example:
        >>> import numpy as np, intern
        >>> seg = np.zeros((8, 8, 8), np.uint32); seg[2:6, 2:6, 2:6] = 7
        >>> m = intern.mesh(seg, voxel_size=(40, 4, 4), prefer="zmesh")[7]
        >>> m.is_closed, m.bounds[0].tolist()
        (True, [8.0, 8.0, 80.0])
    """
    return _mesh(resource, "zmesh", ids=ids, box=box, scale=scale, simplify=simplify,
                 reduction_factor=reduction_factor, close=close, chunk_shape=chunk_shape, progress=progress,
                 scheduler=scheduler, workers=workers)


def mesh_skimage(resource: VolumeResource, *, ids: Sequence[int] | None = None, box: Box | None = None, scale: int = 0,
                 simplify: float | bool | None = None, reduction_factor: int = 100, close: bool = True,
                 chunk_shape: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None, scheduler: str | None = None,
                 workers: int | None = None) -> dict[int, Mesh]:
    """The same as :func:`mesh_zmesh`, with scikit-image's marching cubes run label by label (``prefer="skimage"``).

    Slower; the fallback where zmesh is not installed. Surfaces agree with zmesh's (same vertices on the same
    half-voxel grid; areas and volumes within a fraction of a percent: the two resolve ambiguous cells differently).
    Simplification needs zmesh.
    """
    return _mesh(resource, "skimage", ids=ids, box=box, scale=scale, simplify=simplify,
                 reduction_factor=reduction_factor, close=close, chunk_shape=chunk_shape, progress=progress,
                 scheduler=scheduler, workers=workers)


# -- planning -------------------------------------------------------------------------------------------------------
def plan_blocks(region: Region, *, close: bool, task_shape: tuple[int, int, int] | None) -> list[Box]:
    """The cell boxes of the tasks, (z, y, x) relative to the region; cell ``i`` lies between voxels i and i + 1.

    With ``close``, cells run from -1 (between the padding and voxel 0) to ``shape - 1`` (between the last voxel and
    the padding); without, from 0 to ``shape - 2``. Cuts fall on multiples of ``task_shape`` in the dataset's own
    voxel frame, so tasks read whole storage chunks plus the one plane of overlap.
    """
    shape = region.shape
    lo = [-1 if close else 0] * 3
    hi = [s if close else s - 1 for s in shape]
    if any(b <= a for a, b in zip(lo, hi, strict=True)):
        return []
    if task_shape is None:
        return [Box(tuple(lo), tuple(hi))]
    start = region.box.start[-3:]
    axes = []
    for a, b, step, s0 in zip(lo, hi, task_shape, start, strict=True):
        cuts = [c - s0 for c in range((s0 // step + 1) * step, s0 + b, step)]  # grid planes strictly inside
        edges = [a, *[c for c in cuts if a < c < b], b]
        axes.append(list(zip(edges[:-1], edges[1:], strict=True)))
    return [Box((z0, y0, x0), (z1, y1, x1)) for z0, z1 in axes[0] for y0, y1 in axes[1] for x0, x1 in axes[2]]


def _task_shape(region: Region, chunk_shape: Sequence[int] | None) -> tuple[int, int, int] | None:
    explicit = check_shape(chunk_shape, "chunk_shape")
    if explicit is not None:
        return explicit
    if int(np.prod(region.shape, dtype=np.int64)) <= WHOLE_VOXELS:
        return None
    chunks = region.resource.metadata.scale(region.scale).chunks[-3:]
    return tuple(max(c, (t // c) * c) for t, c in zip(TASK_SHAPE, chunks, strict=True))  # type: ignore[return-value]


# -- running --------------------------------------------------------------------------------------------------------
def _mesh(resource: VolumeResource, backend: str, *, ids: Sequence[int] | None, box: Box | None, scale: int,
          simplify: float | bool | None, reduction_factor: int, close: bool, chunk_shape: Sequence[int] | None,
          progress: Callable[[int], None] | None, scheduler: str | None = None,
          workers: int | None = None) -> dict[int, Mesh]:
    region = Region.of(resource, box, scale)
    wanted = label_ids(ids)
    max_error = _max_error(simplify, region)
    if wanted is not None and not len(wanted):
        return {}
    surfaces = BACKENDS[backend]
    blocks = plan_blocks(region, close=close, task_shape=_task_shape(region, chunk_shape))
    if not blocks:
        return {}

    def block_labels(cells: Box) -> np.ndarray:
        return _block_labels(region, cells, wanted, close)

    if len(blocks) == 1:
        cells = blocks[0]
        meshes = {}
        # no reference to the block is kept here: the backend frees it once meshed, before the meshes grow
        for label, vertices, faces in surfaces(block_labels(cells)):
            meshes[label] = (region.place(vertices, cells.start), faces)
        if progress:
            progress(1)
        return _finish(meshes, region, max_error, reduction_factor)

    # several tasks: each returns integer half-voxel positions relative to the region, welded afterwards
    pieces: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def collect(result: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        for label, local, faces in result:
            pieces.setdefault(label, []).append((local, faces))

    scheduler = scheduler if scheduler is not None else default_scheduler()
    if scheduler:
        # on a Dask cluster: tasks are plain data and reopen the volume by URI on the workers
        jobs = [_BlockJob(resource.uri, scale, region.box.start, region.box.stop, cells.start, cells.stop,
                          None if wanted is None else wanted.tolist(), close, backend) for cells in blocks]

        def done(job: _BlockJob, result: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
            collect(result)
            if progress:
                progress(1)

        stats = run_jobs(_run_block_job, jobs, scheduler=scheduler, workers=workers, on_done=done)
        if stats.failures:
            raise stats.failures[0].error
    else:
        in_flight = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))

        def task(cells: Box) -> list[tuple[int, np.ndarray, np.ndarray]]:
            with in_flight:  # bounds the blocks held in memory, whatever the pool's size
                return _block_surfaces(surfaces, block_labels(cells), cells)

        for result in run_parallel(task, blocks, progress=progress):
            collect(result)
    # pieces are let go label by label as they are welded, so they and the result are not both held in full
    seams = _seam_tables(region, blocks)
    meshes = {label: _weld(pieces.pop(label), region, seams) for label in sorted(pieces)}
    return _finish(meshes, region, max_error, reduction_factor)


def _block_labels(region: Region, cells: Box, wanted: np.ndarray | None, close: bool) -> np.ndarray:
    # the voxels whose centres are the corners of these cells; outside the region they read as background
    voxels = Box(cells.start, tuple(b + 1 for b in cells.stop))
    data = as_unsigned(region.read(voxels, pad=close))
    if wanted is not None:
        import fastremap

        fits = wanted[wanted <= np.iinfo(data.dtype).max]  # a label the dtype cannot hold is in no voxel
        data = fastremap.mask_except(data, fits.astype(data.dtype).tolist(), in_place=True)
    return data


def _block_surfaces(surfaces: Callable[..., Any], data: np.ndarray,
                    cells: Box) -> list[tuple[int, np.ndarray, np.ndarray]]:
    return [(label, (vertices + block_shift(cells.start)).astype(np.int32), faces)
            for label, vertices, faces in surfaces(data)]


@dataclass(frozen=True)
class _BlockJob:
    """One meshing task as plain data, for Dask workers."""

    uri: str
    scale: int
    box_start: tuple[int, ...]
    box_stop: tuple[int, ...]
    cells_start: tuple[int, ...]
    cells_stop: tuple[int, ...]
    wanted: list[int] | None
    close: bool
    backend: str


def _run_block_job(job: _BlockJob) -> list[tuple[int, np.ndarray, np.ndarray]]:
    import intern

    region = Region.of(intern.array(job.uri).resource, Box(job.box_start, job.box_stop), job.scale)
    cells = Box(job.cells_start, job.cells_stop)
    wanted = None if job.wanted is None else np.asarray(job.wanted, dtype=np.uint64)
    return _block_surfaces(BACKENDS[job.backend], _block_labels(region, cells, wanted, job.close), cells)


def _weld(parts: list[tuple[np.ndarray, np.ndarray]], region: Region,
          seams: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One mesh from the pieces of a label, merging the vertices two pieces share.

    Only vertices on a seam (the plane of voxel centres two neighbouring tasks both read) can be shared, so only those
    are compared, by their exact integer positions; every other vertex is kept as it is, in its order.

    Args:
        seams: for x, y and z, a boolean table over half-voxel positions, true on the seam planes.
    """
    if len(parts) == 1:
        local, faces = parts[0]
        return region.to_nm(local), faces
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    local = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] + np.uint32(o) for p, o in zip(parts, offsets, strict=True)])
    on_seam = seams[0][local[:, 0]] | seams[1][local[:, 1]] | seams[2][local[:, 2]]
    candidates = np.flatnonzero(on_seam)
    target = np.arange(len(local))
    if len(candidates):
        seam = local[candidates].astype(np.int64)
        base = int(seam.max()) + 1
        if base**3 < 2**63:
            keys = (seam[:, 0] * base + seam[:, 1]) * base + seam[:, 2]
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        else:  # a region beyond 2**21 half voxels: compare rows
            _, first, inverse = np.unique(seam, axis=0, return_index=True, return_inverse=True)
        target[candidates] = candidates[first][inverse.reshape(-1)]  # each shared vertex -> its first copy
    keep = target == np.arange(len(local))
    renumber = np.cumsum(keep) - 1
    return region.to_nm(local[keep]), renumber[target][faces].astype(np.uint32)


def _seam_tables(region: Region, blocks: list[Box]) -> list[np.ndarray]:
    """Per axis (x, y, z), which half-voxel positions lie on a seam between two tasks (see :func:`_weld`)."""
    tables = []
    for axis, size in zip((2, 1, 0), region.shape[::-1], strict=True):
        table = np.zeros(2 * size + 4, bool)
        for b in blocks:
            if b.start[axis] > -1:
                table[2 * b.start[axis] + 1] = True  # the centre of the first voxel a task shares with the one before
        tables.append(table)
    return tables


def _max_error(simplify: float | bool | None, region: Region) -> float | None:
    if simplify is None or simplify is False:
        return None
    if simplify is True:
        return max(region.voxel_size)
    try:
        value = float(simplify)
    except (TypeError, ValueError):
        raise TypeError(f"simplify is None, True or an error bound in nm, got {simplify!r}") from None
    if not value > 0 or not np.isfinite(value):
        if value == 0:
            return None
        raise ValueError(f"simplify must be a positive number of nm, got {simplify!r}")
    return value


def _finish(meshes: dict[int, tuple[np.ndarray, np.ndarray]], region: Region, max_error: float | None,
            reduction_factor: int) -> dict[int, Mesh]:
    out = {}
    for label in sorted(meshes):
        vertices, faces = meshes[label]
        if max_error is not None:
            vertices, faces = _canonical(vertices, faces)
            vertices, faces = simplify_mesh(vertices, faces, max_error=max_error, reduction_factor=reduction_factor,
                                            voxel_size=region.voxel_size[::-1])
        out[label] = Mesh(vertices, faces, id=label)
    return out


def _canonical(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices sorted by position and faces sorted, orientation kept: a mesh's form independent of how it was cut.

    Simplification depends on the order it meets vertices and faces; putting both in one order first makes a
    simplified chunked mesh identical to the simplified whole one.
    """
    order = np.lexsort(vertices.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    f = rank[faces]
    turn = np.argmin(f, axis=1)  # rotate each triangle to start at its lowest index, which keeps its orientation
    f = np.take_along_axis(f, (turn[:, None] + np.arange(3)) % 3, axis=1)
    f = f[np.lexsort(f.T[::-1])]
    return np.ascontiguousarray(vertices[order]), f.astype(np.uint32)

