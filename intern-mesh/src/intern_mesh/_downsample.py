"""The ``downsample`` service: block mean for images, block mode for segmentations, by tinybrain.

Without ``dest``, the box is read once and reduced level by level in memory. With ``dest``, every level is made
from the level before it (the source for the first, ``dest`` itself after that) in tasks on the core's thread pool,
each writing whole chunks of ``dest``'s level, so no two tasks ever touch one chunk and nothing larger than a task's
block is held in memory: a pyramid of any size fits.

Where tinybrain is not used as it is:

- 2x averaging over an odd-sized axis: tinybrain's 2x2 path misplaces the last row there (tinybrain 1.7), so the
  odd edge is first extended by a copy of itself, which makes the edge block the mean of the voxels it has;
- modes for factors other than (1, 2, 2) and (2, 2, 2): tinybrain strides there instead of taking the mode, so a
  numpy block mode runs (ties go to the smallest label);
- bool and float16 volumes, which tinybrain does not take, go through uint8 / float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intern.errors import MetadataError
from intern.plugin import Box, VolumeResource, default_scheduler, read_box, run_jobs, run_parallel

from ._region import Region

__all__ = ["block_mode", "downsample", "reduce", "reduce_levels"]

Method = Literal["mean", "mode"]
#: voxels of input a task reduces, roughly (32 MiB of uint64)
TASK_VOXELS = 2**22


def downsample(resource: VolumeResource, *, factor: Sequence[int] = (1, 2, 2), levels: int = 1, dest: Any = None,
               scale: int = 0, box: Box | None = None, method: Method | None = None,
               progress: Callable[[int], None] | None = None, scheduler: str | None = None,
               workers: int | None = None) -> list[Any]:
    """Downsample ``levels`` times by ``factor`` (z, y, x); the implementation behind ``intern.downsample``.

    Args:
        resource: any volume.
        factor: (z, y, x) integer factor of each level relative to the one before it.
        levels: how many levels to make.
        dest: a URI, Array or resource whose pyramid has levels ``scale + 1 ... scale + levels`` with these factors
            (often the source itself). The box must then start on a multiple of ``factor ** levels`` and end on one
            or at the edge of the volume, so every new voxel has all its source voxels.
        scale: the level to start from.
        box: the part of level ``scale`` to downsample (over every axis, or (z, y, x)); the whole level by default.
        method: ``"mean"`` or ``"mode"``; by default ``"mode"`` for segmentations, ``"mean"`` for images. Integer
            means are rounded down (tinybrain), so they may be 1 below the core's rounded numpy fallback.
        progress: called with 1 as each task finishes.
        scheduler: with ``dest``, where the tasks run: threads here by default (or ``INTERN_SCHEDULER``),
            ``"local"`` for a Dask LocalCluster of ``workers`` processes, ``"tcp://..."`` for a cluster, through the
            core's job runner (:func:`intern.jobs.run_jobs`); source and ``dest`` must then reopen by URI.
        workers: threads, or Dask worker processes.

    Returns:
        Without ``dest``: the new levels as numpy arrays, coarsest last. With ``dest``: the written levels as
        ``intern.Array`` objects (they read on demand, so a pyramid larger than memory can be made).

    Example:
        >>> import numpy as np, intern
        >>> img = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
        >>> intern.downsample(img, factor=(1, 2, 2), kind="image", prefer="tinybrain")[0]
        array([[[ 2,  4],
                [10, 12]]], dtype=uint8)
    """
    f = _factor(factor, levels)
    kind = resource.metadata.kind
    method = method or ("mode" if kind == "segmentation" else "mean")
    if method not in ("mean", "mode"):
        raise ValueError(f"method is 'mean' or 'mode', got {method!r}")
    region = Region.of(resource, box, scale, single_channel=False)
    if dest is None:
        out = reduce_levels(read_box(resource, region.box, scale=region.scale), f, method, levels)
        if progress:
            progress(1)
        return out
    return _into(region, dest, f, levels, method, progress, scheduler, workers)


def _factor(factor: Sequence[int], levels: int) -> tuple[int, int, int]:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be a whole number >= 1, got {levels!r}")
    try:
        f = tuple(int(x) for x in factor)
    except (TypeError, ValueError):
        raise ValueError(f"factor must be three whole numbers (z, y, x), got {factor!r}") from None
    if len(f) != 3 or any(x < 1 for x in f) or any(int(x) != x for x in factor):
        raise ValueError(f"factor must be three whole numbers >= 1 (z, y, x), got {factor!r}")
    return f


# -- into a pyramid -----------------------------------------------------------------------------------------------
def _into(region: Region, dest: Any, f: tuple[int, int, int], levels: int, method: Method,
          progress: Callable[[int], None] | None, scheduler: str | None = None,
          workers: int | None = None) -> list[Any]:
    from intern import array

    target = array(dest)
    meta = target.metadata
    scale = region.scale
    if len(meta.scales) <= scale + levels:
        raise MetadataError(f"{target.uri} has scales 0..{len(meta.scales) - 1}; downsampling scale {scale} "
                            f"{levels} times needs scales up to {scale + levels} (create it with more scales)")
    base = np.array(meta.scale(scale).downsample)
    for k in range(1, levels + 1):
        have = np.array(meta.scale(scale + k).downsample) / base
        want = np.array(f, dtype=float) ** k
        if not np.allclose(have, want):
            raise MetadataError(f"scale {scale + k} of {target.uri} is downsampled {tuple(have.tolist())} from scale "
                                f"{scale}, not {tuple(want.tolist())} as factor={f} makes it")
    lead = region.box.ndim - 3
    if target.ndim != region.box.ndim:
        raise MetadataError(f"{target.uri} has axes {target.axes}, the source {region.resource.metadata.axes}")
    whole = np.array(f) ** levels
    shape = np.array(region.resource.metadata.scale(scale).shape[lead:])
    start, stop = np.array(region.box.start[lead:]), np.array(region.box.stop[lead:])
    if (start % whole).any() or ((stop % whole != 0) & (stop != shape)).any():
        raise MetadataError(f"with dest, the box [{region.box}] must start on a multiple of factor**levels = "
                            f"{tuple(whole.tolist())} and end on one or at the volume's edge {tuple(shape.tolist())}, "
                            "so that every new voxel has all its source voxels")
    source, src_scale, src_box = region.resource, scale, region.box
    written: list[Any] = []
    done = 0
    while done < levels:
        n = _stage(target, scale + done, f, levels - done, lead)
        last = target.at_scale(scale + done + n)
        outs = [target.at_scale(scale + done + j) for j in range(1, n + 1)]
        boxes = [src_box]
        for _ in range(n):
            b = boxes[-1]
            boxes.append(Box(b.start[:lead] + tuple(s // x for s, x in zip(b.start[lead:], f, strict=True)),
                             b.stop[:lead] + tuple(-(-s // x) for s, x in zip(b.stop[lead:], f, strict=True))))
        total = tuple(x**n for x in f)

        pieces = list(boxes[-1].split(_task_chunks(last.chunks, total, lead)))
        stage = _Stage(source.uri, src_scale, boxes[0].start, boxes[0].stop, target.uri, scale + done, n, total, f,
                       method, lead)
        sched = scheduler if scheduler is not None else default_scheduler()
        if sched and sched != "threads":
            jobs = [(stage, ob.start, ob.stop) for ob in pieces]
            stats = run_jobs(_run_stage_job, jobs, scheduler=sched, workers=workers,
                             on_done=(lambda job, _: progress(1)) if progress else None)
            if stats.failures:
                raise stats.failures[0].error
        else:
            def task(ob: Box, source: Any = source, outs: list[Any] = outs, stage: _Stage = stage) -> None:
                _stage_task(stage, ob, source, outs)

            run_parallel(task, pieces, progress=progress)
        written += outs
        done += n
        source, src_scale, src_box = last.resource, scale + done, boxes[-1]
    return written


@dataclass(frozen=True)
class _Stage:
    """What every task of one stage shares, as plain data (it travels to Dask workers)."""

    source: str
    src_scale: int
    box_start: tuple[int, ...]
    box_stop: tuple[int, ...]
    dest: str
    first: int  # the destination level the stage starts from; it writes first + 1 ... first + n
    n: int
    total: tuple[int, ...]
    factor: tuple[int, int, int]
    method: Method
    lead: int


def _stage_task(stage: _Stage, ob: Box, source: Any, outs: list[Any]) -> None:
    # the block of the stage's first level that makes these whole chunks of its last level
    ib = _scaled(ob, stage.total, stage.lead).intersection(Box(stage.box_start, stage.box_stop))
    reduced = reduce_levels(read_box(source, ib, scale=stage.src_scale), stage.factor, stage.method, stage.n)
    for j, (level, data) in enumerate(zip(outs, reduced, strict=True), start=1):
        start = ib.start[:stage.lead] + tuple(s // x**j for s, x in zip(ib.start[stage.lead:], stage.factor, strict=True))
        level.write(Box.from_shape(data.shape, start), data)


def _run_stage_job(job: tuple[_Stage, tuple[int, ...], tuple[int, ...]]) -> None:
    """One task on a Dask worker: reopen source and destination by URI, then as on threads."""
    import intern

    stage, start, stop = job
    target = intern.array(stage.dest)
    outs = [target.at_scale(stage.first + j) for j in range(1, stage.n + 1)]
    _stage_task(stage, Box(start, stop), intern.open(stage.source), outs)


def _scaled(box: Box, factor: Sequence[int], lead: int) -> Box:
    return Box(box.start[:lead] + tuple(s * x for s, x in zip(box.start[lead:], factor, strict=True)),
               box.stop[:lead] + tuple(s * x for s, x in zip(box.stop[lead:], factor, strict=True)))


def _stage(target: Any, first: int, f: Sequence[int], remaining: int, lead: int) -> int:
    """How many levels one pass makes from level ``first``: as many as keep a task's input near TASK_VOXELS while
    every intermediate level's part of a task still covers whole chunks of it (so tasks never share a chunk)."""
    n = 1
    while n < remaining:
        m = n + 1
        last = np.array(target.metadata.scale(first + m).chunks[lead:])
        if np.prod(last * np.array(f) ** m) > TASK_VOXELS * 2:
            break
        aligned = all(
            not ((last * np.array(f) ** (m - j)) % np.array(target.metadata.scale(first + j).chunks[lead:])).any()
            for j in range(1, m))
        if not aligned:
            break
        n = m
    return n


def _task_chunks(chunks: Sequence[int], f: Sequence[int], lead: int) -> tuple[int, ...]:
    """Whole output chunks per task, enough for about TASK_VOXELS input voxels (whole chunks: tasks never share one)."""
    spatial = np.array(chunks[lead:])
    per_chunk = int(np.prod(spatial * np.array(f)))
    m = max(1, int(round((TASK_VOXELS / max(per_chunk, 1)) ** (1 / 3))))
    return tuple(chunks[:lead]) + tuple(int(c) * m for c in spatial)


# -- one reduction --------------------------------------------------------------------------------------------------
def reduce_levels(data: np.ndarray, factor: Sequence[int], method: Method, levels: int) -> list[np.ndarray]:
    """``levels`` successive reductions of ``data`` (leading axes, then z, y, x) by ``factor`` (z, y, x).

    Means come from one tinybrain call over all the levels where the block divides evenly, which averages the
    original voxels rather than already rounded ones; otherwise, and for modes, level by level.
    """
    f = tuple(int(x) for x in factor)
    if method == "mean" and levels > 1 and data.dtype not in (np.bool_, np.float16):
        if not any(s % (k**levels) for s, k in zip(data.shape[-3:], f, strict=True)):
            import tinybrain

            flat = data.reshape((-1,) + data.shape[-3:])
            mips = tinybrain.downsample_with_averaging(flat.T, f[::-1], num_mips=levels)
            return [np.ascontiguousarray(m.T).reshape(data.shape[:-3] + m.shape[2::-1]) for m in mips]
    out = []
    for _ in range(levels):
        data = reduce(data, f, method)
        out.append(data)
    return out


def reduce(data: np.ndarray, factor: Sequence[int], method: Method) -> np.ndarray:
    """One level down: ``data`` (leading axes, then z, y, x) reduced by ``factor`` (z, y, x); shapes round up.

    Edge blocks that the shape does not fill are reduced over the voxels they have.
    """
    f = tuple(int(x) for x in factor)
    lead_shape = data.shape[:-3]
    flat = data.reshape((-1,) + data.shape[-3:])
    if method == "mean":
        out = _mean(flat, f)
    elif f in ((1, 2, 2), (2, 2, 2)) and data.dtype != np.bool_:
        import tinybrain

        out = tinybrain.downsample_segmentation(flat.T, f[::-1])[0].T
    else:
        out = block_mode(flat, f)
    return np.ascontiguousarray(out).reshape(lead_shape + out.shape[-3:])


def _mean(flat: np.ndarray, f: tuple[int, ...]) -> np.ndarray:
    import tinybrain

    dtype = flat.dtype
    work = flat.astype(np.float32) if dtype in (np.bool_, np.float16) else flat
    xyz = work.T  # (x, y, z, leading): tinybrain's order, without a copy
    pad = [(0, s % 2 if k == 2 else 0) for s, k in zip(xyz.shape[:3], f[::-1], strict=True)] + [(0, 0)]
    if any(p for _, p in pad):
        xyz = np.asfortranarray(np.pad(xyz, pad, mode="edge"))
    out = tinybrain.downsample_with_averaging(xyz, f[::-1])[0].T
    if dtype == np.bool_:
        return out >= 0.5
    return out.astype(dtype, copy=False)


def block_mode(flat: np.ndarray, factor: Sequence[int]) -> np.ndarray:
    """The most frequent value of every block (ties: the smallest), for any factor; ``flat`` is (n, z, y, x)."""
    f = (1,) + tuple(int(x) for x in factor)
    out_shape = tuple(-(-s // k) for s, k in zip(flat.shape, f, strict=True))
    pad = [(0, o * k - s) for s, k, o in zip(flat.shape, f, out_shape, strict=True)]
    values = np.pad(flat, pad)
    valid = np.pad(np.ones(flat.shape, bool), pad)
    split = [x for o, k in zip(out_shape, f, strict=True) for x in (o, k)]
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    values = values.reshape(split).transpose(order).reshape(-1, int(np.prod(f)))
    valid = valid.reshape(split).transpose(order).reshape(-1, int(np.prod(f)))
    # sort each block, its padding last; then the longest run of equal values is the mode
    idx = np.lexsort((values, ~valid), axis=-1)
    v = np.take_along_axis(values, idx, axis=-1)
    ok = np.take_along_axis(valid, idx, axis=-1)
    cols = np.arange(v.shape[1])
    starts = np.ones(v.shape, bool)
    starts[:, 1:] = (v[:, 1:] != v[:, :-1]) | (ok[:, 1:] != ok[:, :-1])
    first = np.maximum.accumulate(np.where(starts, cols, 0), axis=1)
    run = np.where(ok, cols - first + 1, 0)
    pick = run.argmax(axis=1)  # the end of the first longest run: the smallest of the tied values
    return v[np.arange(len(v)), pick].reshape(out_shape)
