"""Chunked, parallel reads and writes of boxes on any VolumeResource.

This is the one place where requests are cut along a volume's chunk grid, run in parallel, assembled in place, and
where partial chunks are merged (read-modify-write) before a write. Drivers only ever see single chunks, unless their
volume's ``io`` record (:class:`~intern._traits.VolumeIO`) asks for whole reads or whole writes.

Every write holds the locks of the chunks it touches (:mod:`intern._locks`): a chunk's read, merge and write-back
never interleave with another writer of that chunk in this process, nor, where the driver says the level is in a
local directory, in another process. A whole-chunk write takes its chunk's lock as well, so it cannot land between
another writer's read and write-back and be undone by it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable
from typing import Protocol, cast

import numpy as np

from ._box import Box
from ._executor import run_parallel
from ._locks import LevelLocks, level_locks
from ._traits import LevelStorage, SupportsLevelStorage, SupportsWrite, VolumeIO, VolumeResource
from .errors import DTypeError, PluginError, ReadOnlyError, ShapeError

__all__ = ["check_volume", "check_writable", "read_box", "update_box", "volume_io", "write_box"]

#: the loose attributes that said what ``VolumeIO`` says now; a volume still carrying one is refused, since the core
#: no longer reads them and the driver would silently get other behaviour than it asks for
RETIRED_FLAGS = {
    "handles_any_box": "whole_reads=..., whole_writes=...",
    "handles_any_read_box": "whole_reads=...",
    "handles_any_write_box": "whole_writes=...",
    "fresh_reads": "fresh_reads=...",
    "read_only_reason": "read_only_reason=...",
}


def volume_io(resource: VolumeResource) -> VolumeIO:
    """The volume's declared :class:`~intern._traits.VolumeIO`.

    Raises:
        PluginError: the driver's volume declares no ``io`` record, declares something else under that name, or
            still carries one of the loose attributes the record replaced.
    """
    try:
        io = resource.io
    except AttributeError:
        io = None
    if not isinstance(io, VolumeIO):
        kind = type(resource).__name__
        found = "declares none" if io is None else f"has io={io!r}"
        raise PluginError(f"the driver's volume {kind} ({_where(resource)}) {found}: every volume declares how it "
                          "takes reads and writes as io = intern.plugin.VolumeIO(...) (see the plugin guide)")
    # set on the class (checked once per class) or on the instance (a few dict lookups)
    retired = _retired_flags(type(resource)) or tuple(n for n in RETIRED_FLAGS if n in getattr(resource, "__dict__", ()))
    if retired:
        raise PluginError(f"the driver's volume {type(resource).__name__} ({_where(resource)}) still sets "
                          f"{', '.join(retired)}, which intern no longer reads: declare io = VolumeIO("
                          f"{', '.join(dict.fromkeys(RETIRED_FLAGS[r] for r in retired))}) instead")
    return io


def check_volume(resource: object) -> None:
    """Refuse a driver's volume that does not declare its :class:`~intern._traits.VolumeIO`, clearly, where the core
    first meets it (open, create, Array): a resource with ``metadata`` and ``read`` is a volume, and without ``io`` it
    would otherwise only be "not a volume".

    Raises:
        PluginError: as :func:`volume_io` says.
    """
    if hasattr(resource, "metadata") and callable(getattr(resource, "read", None)):
        volume_io(resource)  # type: ignore[arg-type]  # a volume by its members; volume_io checks the rest


@functools.lru_cache(maxsize=256)
def _retired_flags(cls: type) -> tuple[str, ...]:
    """Retired flags set on a volume class (a class's attributes do not change; checked once per class)."""
    return tuple(name for name in RETIRED_FLAGS if any(name in vars(k) for k in cls.__mro__))


def _where(resource: object) -> str:
    try:
        return str(resource.uri)  # type: ignore[attr-defined]  # any object may arrive here; its uri is a courtesy
    except Exception:  # the error being built must not be replaced by another one
        return "no uri"


def _bounds(resource: VolumeResource, scale: int) -> tuple[Box, tuple[int, ...]]:
    level = resource.metadata.scale(scale)
    return Box.from_shape(level.shape), level.chunks


def _checked(data: np.ndarray, box: Box, dtype: np.dtype, resource: VolumeResource) -> np.ndarray:
    data = np.asarray(data)
    if data.shape != box.shape or data.dtype != dtype:
        raise PluginError(
            f"driver of {resource.uri} returned {data.dtype}{list(data.shape)} for box [{box}], expected "
            f"{dtype}{list(box.shape)}")
    return data


def read_box(
    resource: VolumeResource,
    box: Box,
    *,
    scale: int = 0,
    out: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Read ``box`` at ``scale``, in parallel chunk-sized pieces, into ``out`` (a new array by default).

    Raises:
        OutOfBoundsError: the box reaches outside the level.
    """
    bounds, chunks = _bounds(resource, scale)
    box.check_within(bounds)
    dtype = resource.metadata.numpy_dtype
    if out is not None and (out.shape != box.shape or out.dtype != dtype):
        raise ShapeError(f"out is {out.dtype}{list(out.shape)}, the box needs {dtype}{list(box.shape)}")
    if box.is_empty():
        return out if out is not None else np.empty(box.shape, dtype)
    io = volume_io(resource)
    if io.whole_reads:
        data = _checked(resource.read(box, scale=scale), box, dtype, resource)
        if progress:
            progress(1)
        if out is None:
            # a fresh array the driver let go of needs no copy; a view into its memory does
            fresh = io.fresh_reads or data.base is None
            return data if fresh and data.flags.writeable and data.flags.c_contiguous else data.copy()
        out[...] = data
        return out
    if out is None:
        out = np.empty(box.shape, dtype)

    def fetch(piece: tuple[Box, tuple[slice, ...]]) -> None:
        part, where = piece
        out[where] = _checked(resource.read(part, scale=scale), part, dtype, resource)

    run_parallel(fetch, _pieces(box, chunks), progress=progress)
    return out


def _pieces(box: Box, chunks: tuple[int, ...]) -> list[tuple[Box, tuple[slice, ...]]]:
    """``box`` cut on the chunk grid: each piece and where it goes in the box's own array, in C order.

    Plain integer arithmetic per axis, then the product: a 512^3 read in 64^3 chunks makes 512 of these, and each
    costs a few microseconds instead of several box operations.
    """
    axes = []
    for a, b, c in zip(box.start, box.stop, chunks, strict=True):
        cuts = [a, *range((a // c + 1) * c, b, c), b]
        # Neighbouring cuts: the shifted copy is one shorter by design.
        axes.append([(lo, hi, slice(lo - a, hi - a)) for lo, hi in zip(cuts, cuts[1:], strict=False)])
    return [(Box._trusted(tuple(p[0] for p in parts), tuple(p[1] for p in parts)), tuple(p[2] for p in parts))
            for parts in itertools.product(*axes)]


class WritableVolume(VolumeResource, SupportsWrite, Protocol):
    """A volume that has ``write`` (what :func:`check_writable` returns)."""


def check_writable(resource: VolumeResource) -> WritableVolume:
    """``resource``, as a volume that may be written now.

    Raises:
        ReadOnlyError: its driver cannot write, or this volume cannot be written now (with the driver's reason).
    """
    if not isinstance(resource, SupportsWrite):
        raise ReadOnlyError(f"{resource.uri} cannot be written: its driver is read-only")
    if not resource.writable:
        reason = volume_io(resource).read_only_reason
        raise ReadOnlyError(f"{resource.uri} cannot be written: {reason}" if reason else
                            f"{resource.uri} is open read-only (or its version is committed)")
    return cast(WritableVolume, resource)  # checked just above; isinstance cannot narrow to both protocols at once


def write_box(
    resource: VolumeResource,
    box: Box,
    data: np.ndarray,
    *,
    scale: int = 0,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``data`` (exactly ``box``'s shape and the volume's dtype) at ``box``.

    Whole chunks are written as they are; chunks the box covers only in part are read, merged and written back.
    Each chunk is written once, by one thread, holding the chunk's lock (see the module's description).

    Raises:
        OutOfBoundsError: the box reaches outside the level.
        ReadOnlyError: the resource cannot be written.
        DTypeError: ``data`` is not of the volume's dtype.
    """
    writable = check_writable(resource)
    bounds, chunks = _bounds(resource, scale)
    box.check_within(bounds)
    dtype = resource.metadata.numpy_dtype
    if data.dtype != dtype:
        raise DTypeError(f"data is {data.dtype}, the volume is {dtype}")
    if data.shape != box.shape:
        raise ShapeError(f"data of shape {data.shape} does not fit box [{box}] of shape {box.shape}")
    if box.is_empty():
        return
    _write(writable, box, data, scale, chunks, bounds, _level_locks(resource, scale, bounds, chunks), progress)


def update_box(resource: VolumeResource, box: Box, merge: Callable[[np.ndarray], None], *, scale: int = 0) -> None:
    """Read ``box``, let ``merge`` change that array in place, and write it back, as one read-modify-write.

    The locks of every chunk the box touches are held from the read to the end of the write, so writers of other
    voxels of those chunks lose nothing (a stepped assignment, ``a[:, ::2] = v``, is written this way).

    Raises:
        OutOfBoundsError: the box reaches outside the level.
        ReadOnlyError: the resource cannot be written.
    """
    writable = check_writable(resource)
    bounds, chunks = _bounds(resource, scale)
    box.check_within(bounds)
    if box.is_empty():
        return
    with _level_locks(resource, scale, bounds, chunks).hold(*_chunk_span(box, chunks)):
        block = read_box(resource, box, scale=scale)
        merge(block)
        _write(writable, box, block, scale, chunks, bounds, None, None)


def _chunk_span(box: Box, chunks: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The grid positions of the first chunk ``box`` touches and one past its last."""
    return (tuple(a // c for a, c in zip(box.start, chunks, strict=True)), tuple(-(-b // c) for b, c in zip(box.stop, chunks, strict=True)))


def _write(resource: WritableVolume, box: Box, data: np.ndarray, scale: int, chunks: tuple[int, ...], bounds: Box,
           locks: LevelLocks | None, progress: Callable[[int], None] | None) -> None:
    """Write checked ``data`` at ``box``; ``locks`` None: the caller holds the locks of every chunk of the box."""
    hold = locks.hold if locks is not None else _already_held
    if volume_io(resource).whole_writes:
        # the driver merges partial chunks itself: hold every chunk the box touches for the whole call
        with hold(*_chunk_span(box, chunks)):
            resource.write(box, np.ascontiguousarray(data), scale=scale)
        if progress:
            progress(1)
        return
    dtype = resource.metadata.numpy_dtype

    def store(chunk: Box) -> None:
        part = chunk.intersection(box)
        src = data[part.relative_to(box).to_slices()]
        # the chunk's lock spans the read, the merge and the write-back: another writer's voxels cannot be lost
        with hold(tuple(a // c for a, c in zip(chunk.start, chunks, strict=True))):
            if part == chunk:
                block = np.ascontiguousarray(src)
            else:
                block = np.array(_checked(resource.read(chunk, scale=scale), chunk, dtype, resource), copy=True)
                block[part.relative_to(chunk).to_slices()] = src
            resource.write(chunk, block, scale=scale)

    run_parallel(store, box.chunk_boxes(chunks, bounds=bounds), progress=progress)


def _already_held(lo: tuple[int, ...], hi: tuple[int, ...] | None = None) -> contextlib.nullcontext[None]:
    return contextlib.nullcontext()


@functools.lru_cache(maxsize=256)
def _says_storage(cls: type) -> bool:
    """Whether a volume class implements :class:`SupportsLevelStorage` (a protocol check costs tens of microseconds,
    too much for every small write; a class's methods do not change)."""
    return issubclass(cls, SupportsLevelStorage)


def _level_locks(resource: VolumeResource, scale: int, bounds: Box, chunks: tuple[int, ...]) -> LevelLocks:
    """The chunk locks of level ``scale``: keyed by the level's directory where the driver names one, else by the
    volume's URI (without its query, which holds options, not identity) and the level."""
    level = scale % len(resource.metadata.scales)
    # _says_storage is the protocol check, cached per class; cast tells the type checker what it checked
    storage = cast(SupportsLevelStorage, resource).level_storage(level) if _says_storage(type(resource)) else \
        LevelStorage()
    grid = tuple(-(-n // c) for n, c in zip(bounds.stop, chunks, strict=True))
    return level_locks(("uri", resource.uri.split("?", 1)[0], level), grid, storage.local_directory,
                       lock_file=not storage.atomic_chunks)
