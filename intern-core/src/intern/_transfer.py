"""`intern.copy`: copy a volume (or a box of it, at some or all scales) from any remote to any other.

The work is cut on the destination's chunk grid, in units that are whole destination chunks (grown to a few MiB and,
where cheap, to whole source chunks as well), so no destination chunk is written twice and only the box's own edges
need a read-modify-write. Units run on threads or on a Dask cluster (:mod:`intern.jobs`).

A journal in the cache directory (:mod:`intern._journal`) records each finished unit, with the checksum of its data
when verifying and the source's chunk stamp (:class:`~intern._traits.SupportsChunkStamps`) taken before it was read;
rerunning an interrupted copy with the same arguments skips what is recorded, except units whose source changed since
(their stamp differs), which are copied again. A source whose metadata changed discards the whole journal, with a
:class:`TransferWarning` saying why. With ``verify=True`` every unit is compared with the source, the skipped ones
included: those are read on both sides. The journal is removed when a copy finishes.

>>> import intern, numpy as np
>>> src = intern.create("mem://copy-doc/src", shape=(8, 40, 40), dtype="uint8", chunks=(4, 16, 16))
>>> src[...] = 7
>>> report = intern.copy("mem://copy-doc/src", "mem://copy-doc/dst", progress=False)
>>> int(intern.array("mem://copy-doc/dst")[3, 20, 20]), report.chunks
(7, 1)
"""

from __future__ import annotations

import hashlib
import math
import shlex
import threading
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._api import array as open_array
from ._api import create_like
from ._array import Array
from ._box import Box
from ._executor import run_parallel
from ._io import read_box, write_box
from ._journal import Journal, describe_source
from ._metadata import ScaleLevel, VolumeMetadata
from ._progress import Progress
from ._traits import SupportsChunkStamps, VolumeResource
from .errors import InvalidArgumentError, NotFoundError, TransferError
from .jobs import run_jobs

__all__ = ["CopyReport", "TransferWarning", "copy"]

_UNIT_BYTES = 8 << 20  # units grow to about this size: big enough to amortise a request, small enough for memory


class TransferWarning(UserWarning):
    """Something a copy did that its caller should know: it discarded the journal of an earlier run, and why."""


@dataclass
class CopyReport:
    """What a copy did. ``str(report)`` is the one-line summary the CLI prints.

    Attributes:
        chunks: units copied by this run (``changed`` of them journaled before, but their source changed since).
        skipped: units an earlier run had copied, left as they were (and, when verifying, compared with the source).
        discarded: why the journal of an earlier run was not used, or ``""``.
    """

    source: str
    destination: str
    chunks: int = 0
    skipped: int = 0
    changed: int = 0
    retried: int = 0
    bytes: int = 0
    seconds: float = 0.0
    verified: bool = False
    mismatched: list[str] = field(default_factory=list)
    discarded: str = ""

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        check = ", verified" if self.verified else ""
        units = "chunk" if self.chunks == 1 else "chunks"
        changed = f" ({self.changed} copied again: their source changed)" if self.changed else ""
        return (f"copied {self.bytes / 1e6:.1f} MB in {self.chunks} {units}{changed} in {self.seconds:.2f}s "
                f"({self.mb_per_s:.1f} MB/s); skipped {self.skipped}, retried {self.retried}{check}")


@dataclass(frozen=True)
class _Unit:
    """One job: copy ``box`` at level ``scale``. Plain data, so it pickles to Dask workers."""

    source: str
    destination: str
    scale: int
    start: tuple[int, ...]
    stop: tuple[int, ...]
    verify: bool
    piece: tuple[int, ...]  # read and written in pieces of this shape (see _piece_shape)
    journaled: bool = False  # an earlier run copied it: check it, copy it again only when its source changed
    known_crc: int | None = None  # what the journal recorded of the source then
    known_stamp: str | None = None

    @property
    def box(self) -> Box:
        return Box(self.start, self.stop)

    @property
    def key(self) -> str:
        return f"{self.scale}:{self.box}"


# arrays opened by URI, per process: workers of a cluster open each volume once; the caller's own arrays are put
# here first so a thread-run copy never reopens (or needs a reopenable URI for) what it was handed
_opened: dict[tuple[str, int], Array] = {}
_opened_lock = threading.Lock()


def _array_at(uri: str, scale: int) -> Array:
    key = (uri, scale)
    with _opened_lock:
        if key not in _opened:
            _opened[key] = open_array(uri, scale=scale)
        return _opened[key]


def _checksum(data: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(data).data.cast("B"))


@dataclass(frozen=True)
class _Done:
    """What one unit's job did. Plain data, so it comes back from Dask workers."""

    copied: bool  # False: an earlier run's copy stood
    nbytes: int = 0
    crc: int | None = None  # of the source's voxels, when verifying
    stamp: str | None = None  # digest of the source's chunk stamp, taken before reading
    ok: bool = True  # the destination holds what the source held
    changed: bool = False  # journaled before, copied again because the source changed


def _stamp(resource: VolumeResource, unit: _Unit) -> str | None:
    """A short digest of the source's chunk stamp for the unit; ``None`` when the store cannot tell."""
    if not isinstance(resource, SupportsChunkStamps):
        return None
    token = resource.chunk_stamp(unit.box, scale=unit.scale)
    return None if token is None else hashlib.blake2b(token.encode(), digest_size=10).hexdigest()


def _run_unit(unit: _Unit) -> _Done:
    """One job: copy a unit, or check one an earlier run copied and copy it again if its source changed since."""
    if not unit.journaled:
        return _copy_unit(unit)
    now = _stamp(_array_at(unit.source, unit.scale).resource, unit)
    # both stamps known and different: the source changed; otherwise only reading the data can tell
    if now is None or unit.known_stamp is None or now == unit.known_stamp:
        if not unit.verify:
            return _Done(copied=False)
        crc, same = _compare_unit(unit)
        if same:
            return _Done(copied=False)
        if unit.known_crc is None or crc == unit.known_crc:  # the source is as it was: the destination changed
            return _Done(copied=False, ok=False)
    return replace(_copy_unit(unit), changed=True)


def _copy_unit(unit: _Unit) -> _Done:
    """Copy one unit; with ``verify``, read it back and compare checksums."""
    src = _array_at(unit.source, unit.scale)
    dst = _array_at(unit.destination, unit.scale)
    stamp = _stamp(src.resource, unit)  # before reading: a change during the read shows at the next resume

    def copy_piece(piece: Box) -> tuple[int, int | None, bool]:
        data = read_box(src.resource, piece, scale=unit.scale)
        write_box(dst.resource, piece, data, scale=unit.scale)
        if not unit.verify:  # a checksum costs about a tenth of a local copy: only when it is compared
            return data.nbytes, None, True
        crc = _checksum(data)
        return data.nbytes, crc, _checksum(read_box(dst.resource, piece, scale=unit.scale)) == crc

    done = run_parallel(copy_piece, unit.box.split(unit.piece))
    nbytes = sum(n for n, _, _ in done)
    if not unit.verify:
        return _Done(copied=True, nbytes=nbytes, stamp=stamp)
    return _Done(copied=True, nbytes=nbytes, crc=_combined([crc for _, crc, _ in done]), stamp=stamp,
                 ok=all(ok for _, _, ok in done))


def _compare_unit(unit: _Unit) -> tuple[int, bool]:
    """Read a unit on both sides: the source's checksum (as journaled) and whether the destination holds the same."""
    src = _array_at(unit.source, unit.scale)
    dst = _array_at(unit.destination, unit.scale)

    def compare_piece(piece: Box) -> tuple[int, bool]:
        a = np.ascontiguousarray(read_box(src.resource, piece, scale=unit.scale))
        b = np.ascontiguousarray(read_box(dst.resource, piece, scale=unit.scale))
        # bytes, not values: NaN equals itself here, and -0.0 differs from 0.0, as in a copy
        return _checksum(a), np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))

    done = run_parallel(compare_piece, unit.box.split(unit.piece))
    return _combined([crc for crc, _ in done]), all(same for _, same in done)


def _combined(crcs: list[Any]) -> int:
    # a unit's checksum is that of its pieces' checksums, in order: pieces are checked on their own
    return zlib.crc32(np.array(crcs, dtype="<u4").tobytes())


def _base_shape(dst: ScaleLevel, src: ScaleLevel) -> list[int]:
    """The smallest unit worth copying: whole destination chunks that cover whole source chunks where that is cheap."""
    base = []
    for d, s in zip(dst.chunks, src.chunks, strict=True):
        lcm = d * s // math.gcd(d, s)
        base.append(lcm if lcm <= 4 * max(d, s) else d * -(-s // d))
    return base


def _piece_shape(dst: ScaleLevel, src: ScaleLevel, unit: Sequence[int]) -> tuple[int, ...]:
    """The pieces a unit is read and written in: the unit's full depth, one base unit wide in y and x.

    Arrays are C-ordered, so each destination chunk of such a piece is one contiguous slab of it when the base is a
    single chunk wide: nothing is gathered from rows of chunk-width bytes before it is written (without pieces,
    about a fifth of a local copy's CPU time), and a source on the same grid decodes into whole slabs as well.
    """
    base = _base_shape(dst, src)
    across = len(unit) - 2  # the y and x axes
    return tuple(min(b, u) if axis >= across else u for axis, (b, u) in enumerate(zip(base, unit, strict=True)))


def _unit_shape(dst: ScaleLevel, src: ScaleLevel, itemsize: int, box: Box, chunk: Sequence[int] | None) -> tuple[int, ...]:
    if chunk is not None:
        return _full_chunk(chunk, dst.chunks)
    unit = _base_shape(dst, src)
    # grow z first, then y, then x, up to the target size: the deeper a unit, the fewer pieces it has (_piece_shape)
    for axis in range(max(0, len(unit) - 3), len(unit)):
        while (math.prod(unit) * itemsize * 2 <= _UNIT_BYTES and unit[axis] < box.shape[axis]):
            unit[axis] *= 2
    return tuple(unit)


def _level_box(box: Box | None, scale: int, level: int, meta: VolumeMetadata) -> Box:
    """``box`` (given at ``scale``) in the voxels of ``level``, covering it (floor the start, ceil the stop)."""
    bounds = Box.from_shape(meta.scales[level].shape)
    if box is None:
        return bounds
    a, b = meta.scales[scale].downsample, meta.scales[level].downsample
    lead = box.ndim - 3
    start = box.start[:lead] + tuple(int(math.floor(x * fa / fb)) for x, fa, fb in zip(box.start[lead:], a, b, strict=True))
    stop = box.stop[:lead] + tuple(int(math.ceil(x * fa / fb)) for x, fa, fb in zip(box.stop[lead:], a, b, strict=True))
    return Box(start, stop).intersection(bounds)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_arguments(chunk: Sequence[int] | None, workers: int | None, scale: int, scales: Any,
                     box: Box | None) -> None:
    """Refuse what cannot make a copy, before anything is opened or created."""
    if chunk is not None:
        if isinstance(chunk, str) or not all(_is_int(c) for c in chunk) or not chunk:
            raise InvalidArgumentError(f"chunk={chunk!r}: the unit of work is whole numbers of voxels (Z, Y, X)")
        if any(c < 1 for c in chunk):
            raise InvalidArgumentError(f"chunk={tuple(chunk)}: every size of the unit of work must be at least 1 "
                                       "voxel (and a multiple of the destination's chunks)")
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise InvalidArgumentError(f"workers={workers!r}: give at least 1 (threads, or Dask worker processes)")
    if not _is_int(scale) or scale < 0:
        raise InvalidArgumentError(f"scale={scale!r}: the level the box is given at is a level number, 0 or more")
    if scales != "all" and (isinstance(scales, str) or not all(_is_int(s) for s in scales)):
        raise InvalidArgumentError(f"scales={scales!r}: give 'all' or a list of level numbers")
    if box is not None and not isinstance(box, Box):
        raise InvalidArgumentError(f"box={box!r}: give an intern.Box (Box.parse('0:64,0:512,0:512'))")


def _full_chunk(chunk: Sequence[int], chunks: Sequence[int]) -> tuple[int, ...]:
    """``chunk`` over every axis of a level with these storage chunks (leading axes of 1 added), checked."""
    full = tuple(int(c) for c in chunk)
    full = (1,) * (len(chunks) - len(full)) + full
    if len(full) != len(chunks) or any(c % d for c, d in zip(full, chunks, strict=True)):
        raise InvalidArgumentError(f"chunk={tuple(chunk)} must be a multiple of the destination's chunks "
                                   f"{tuple(chunks)}, on as many axes or fewer")
    return full


def _levels(scales: str | Sequence[int], n: int) -> list[int]:
    if scales == "all":
        return list(range(n))
    if any(not -n <= int(s) < n for s in scales):
        raise InvalidArgumentError(f"scales={list(scales)} are not all among the source's levels 0..{n - 1}")
    return sorted({int(s) % n for s in scales})


def _destination(src: Array, dst: str | Array, upto: int, check: Callable[[VolumeMetadata], None]) -> Array:
    """The destination, created when missing with the source's metadata for its levels up to ``upto``.

    ``check`` sees the metadata of the destination before it is used, or created: a copy that cannot run leaves
    nothing behind.
    """
    if isinstance(dst, Array):
        check(dst.metadata)
        return dst
    try:
        dest = open_array(dst)
    except NotFoundError:
        meta = src.metadata
        levels = tuple(level.model_copy(update={"key": str(i)}) for i, level in enumerate(meta.scales[: upto + 1]))
        meta = meta.model_copy(update={"scales": levels})
        check(meta)
        return create_like(dst, meta)
    check(dest.metadata)
    return dest


def copy(
    src: str | Array,
    dst: str | Array,
    *,
    box: Box | None = None,
    scale: int = 0,
    scales: str | Sequence[int] = "all",
    chunk: Sequence[int] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    verify: bool = True,
    progress: bool = True,
) -> CopyReport:
    """Copy ``src`` to ``dst``, creating ``dst`` with the source's metadata when it does not exist.

    Args:
        src: the source: a URI or an Array.
        dst: the destination: a URI or an Array. Voxels land at the same coordinates in both.
        box: the part to copy, in voxels of level ``scale`` (default: everything); other levels copy the
            corresponding box.
        scales: ``"all"`` the source's levels, or a list of them.
        chunk: the unit of work (a multiple of the destination's chunks); default: chosen from both chunk grids.
        workers: threads, or Dask worker processes with ``scheduler="local"``.
        scheduler: ``"threads"``, ``"local"`` (a LocalCluster) or ``"tcp://..."``; default ``INTERN_SCHEDULER``, else threads.
        resume: skip units the journal of an interrupted run of the same copy records, unless the source's chunk
            stamps say they changed since (those are copied again); a source whose metadata changed discards the
            journal, with a :class:`TransferWarning`.
        verify: read every unit back and compare checksums, and compare the units the journal skipped on both
            sides; mismatches raise.
        progress: a progress bar on stderr (when it is a terminal).

    Raises:
        InvalidArgumentError: ``chunk``, ``workers``, ``scale``, ``scales`` or ``box`` cannot make a copy (nothing
            is created or written then).
        OutOfBoundsError: ``box`` reaches outside level ``scale`` of the source.
        TransferError: units failed permanently (after retries) or did not verify; lists them and how to resume.
    """
    _check_arguments(chunk, workers, scale, scales, box)
    source = open_array(src) if not isinstance(src, Array) else src
    s_meta = source.metadata
    levels = _levels(scales, len(s_meta.scales))
    if scale >= len(s_meta.scales):
        raise InvalidArgumentError(f"scale={scale}: the source has levels 0..{len(s_meta.scales) - 1}")
    if box is not None and box.ndim != len(s_meta.axes):
        raise InvalidArgumentError(f"box [{box}] has {box.ndim} axes; the source has {len(s_meta.axes)} "
                                   f"({', '.join(s_meta.axes)})")
    if box is not None:
        box.check_within(Box.from_shape(s_meta.scales[scale].shape))  # never clipped silently: OutOfBoundsError

    def check_destination(meta: VolumeMetadata) -> None:
        if chunk is not None:
            for lv in levels:
                if lv < len(meta.scales):
                    _full_chunk(chunk, meta.scales[lv].chunks)

    dest = _destination(source, dst, max(levels), check_destination)
    d_meta = dest.metadata
    if s_meta.dtype != d_meta.dtype:
        raise TransferError(f"{dest.uri} is {d_meta.dtype}, the source is {s_meta.dtype}")
    missing = [lv for lv in levels if lv >= len(d_meta.scales) or d_meta.scales[lv].shape != s_meta.scales[lv].shape]
    if missing:
        raise TransferError(f"{dest.uri} has no level matching the source's levels {missing} (shapes differ)")

    units: list[_Unit] = []
    shapes = []
    for lv in levels:
        region = _level_box(box, scale, lv, s_meta)
        shape = _unit_shape(d_meta.scales[lv], s_meta.scales[lv], s_meta.numpy_dtype.itemsize, region, chunk)
        piece = _piece_shape(d_meta.scales[lv], s_meta.scales[lv], shape)
        shapes.append(list(shape))
        units += [_Unit(source.uri, dest.uri, lv, b.start, b.stop, verify, piece) for b in region.split(shape)]

    arguments = {"source": source.uri, "destination": dest.uri, "box": str(box) if box else None, "scale": scale,
                 "scales": scales if scales == "all" else sorted(int(s) for s in scales),
                 "chunk": None if chunk is None else [int(c) for c in chunk]}
    journal, done, discarded = Journal.open(arguments, describe_source(s_meta), {"shapes": shapes, "n": len(units)},
                                            resume=resume)
    report = CopyReport(source.uri, dest.uri, verified=verify, discarded=discarded or "")
    if discarded:
        warnings.warn(discarded, TransferWarning, stacklevel=2)
    jobs = []
    for unit in units:
        entry = done.get(unit.key)
        if entry is None:
            jobs.append(unit)
        elif verify or entry.stamp is not None:  # checked (stamp, data) in a job of its own
            jobs.append(replace(unit, journaled=True, known_crc=entry.crc, known_stamp=entry.stamp))
        else:  # nothing to check it by: the journal's word stands, as it must for a store without stamps
            report.skipped += 1

    unit_bytes = units[0].box.size * s_meta.numpy_dtype.itemsize if units else 0
    bar = Progress(total=len(jobs), label="copy", unit_bytes=unit_bytes, enabled=None if progress else False)
    damaged: list[str] = []

    def finished(unit: _Unit, result: _Done) -> None:
        # called in this thread only (run_jobs' on_done), so the report and the journal need no lock
        if result.copied:
            report.chunks += 1
            report.bytes += result.nbytes
            report.changed += result.changed
            if result.ok:
                journal.record(unit.key, result.crc, result.stamp)
            else:
                report.mismatched.append(unit.key)
        else:
            report.skipped += 1
            if not result.ok:
                damaged.append(unit.key)
                journal.forget(unit.key)
        bar.update(1)

    with _opened_lock:  # the caller's own arrays stand for their URIs in this process
        for lv in levels:
            _opened[(source.uri, lv)] = source.at_scale(lv)
            _opened[(dest.uri, lv)] = dest.at_scale(lv)
    try:
        with bar:
            stats = run_jobs(_run_unit, jobs, workers=workers, scheduler=scheduler, on_done=finished)
    finally:
        journal.close()
        with _opened_lock:  # the caller's arrays are theirs again; nothing of this copy stays cached here
            for lv in levels:
                _opened.pop((source.uri, lv), None)
                _opened.pop((dest.uri, lv), None)
    report.retried, report.seconds = stats.retried, stats.seconds

    # the command repeats what the caller wrote (options in a URI included), not the drivers' canonical URIs
    resume_cmd = _resume_command(src if isinstance(src, str) else source.uri, dst if isinstance(dst, str) else dest.uri,
                                 box, scale, scales, chunk)
    if stats.failures or stats.not_started:
        left = [f.item.key for f in stats.failures] + [u.key for u in stats.not_started]
        first = stats.failures[0].error if stats.failures else None
        raise TransferError(
            f"copy stopped: {len(left)} of {len(units)} units unfinished ({', '.join(left[:5])}"
            f"{', ...' if len(left) > 5 else ''}); first error: {first!r}. {report.chunks} units were copied and "
            f"journaled. Resume with: {resume_cmd}", tuple(left))
    if report.mismatched or damaged:
        problems = []
        if report.mismatched:
            problems.append(f"{len(report.mismatched)} units differ from the source after copying: "
                            f"{_listed(report.mismatched)}")
        if damaged:
            problems.append(f"{len(damaged)} units an earlier run had copied, and the journal skipped, differ from "
                            f"the source, which has not changed since: {_listed(damaged)}; something changed the "
                            "destination after they were copied, and they were removed from the journal")
        raise TransferError(f"{'; '.join(problems)}. Rerun to copy them again: {resume_cmd}",
                            tuple(report.mismatched + damaged))
    journal.remove()
    return report


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")


def _resume_command(src: str, dst: str, box: Box | None, scale: int, scales: Any, chunk: Any) -> str:
    parts = ["intern", "copy", src, dst]
    if box is not None:
        parts += ["--box", str(box)]
    if scale:
        parts += ["--scale", str(scale)]
    if scales != "all":
        parts += ["--scales", ",".join(str(s) for s in scales)]
    if chunk is not None:
        parts += ["--chunk", ",".join(str(c) for c in chunk)]
    return " ".join(shlex.quote(p) for p in parts)

