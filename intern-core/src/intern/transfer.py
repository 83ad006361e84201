"""`intern.copy`: copy a volume (or a box of it, at some or all scales) from any remote to any other.

The work is cut on the destination's chunk grid, in units that are whole destination chunks (grown to a few MiB and,
where cheap, to whole source chunks as well), so no destination chunk is written twice and only the box's own edges
need a read-modify-write. Units run on threads or on a Dask cluster (:mod:`intern.jobs`).

A journal in the cache directory records each finished unit (with the checksum of its data when verifying); rerunning
an interrupted copy with the same arguments skips what is recorded. With ``verify=True`` every unit is read back from the
destination and its checksum compared with the source's. The journal is removed when a copy finishes and verifies.

>>> import intern, numpy as np
>>> src = intern.create("mem://copy-doc/src", shape=(8, 40, 40), dtype="uint8", chunks=(4, 16, 16))
>>> src[...] = 7
>>> report = intern.copy("mem://copy-doc/src", "mem://copy-doc/dst", progress=False)
>>> int(intern.array("mem://copy-doc/dst")[3, 20, 20]), report.chunks
(7, 1)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import config
from ._array import Array
from .api import array as open_array
from .api import create_like
from .box import Box
from .errors import NotFoundError, TransferError
from .executor import run_parallel
from .io import read_box, write_box
from .jobs import run_jobs
from .metadata import ScaleLevel, VolumeMetadata
from .progress import Progress

__all__ = ["CopyReport", "copy"]

_UNIT_BYTES = 8 << 20  # units grow to about this size: big enough to amortise a request, small enough for memory


@dataclass
class CopyReport:
    """What a copy did. ``str(report)`` is the one-line summary the CLI prints."""

    source: str
    destination: str
    chunks: int = 0
    skipped: int = 0
    retried: int = 0
    bytes: int = 0
    seconds: float = 0.0
    verified: bool = False
    mismatched: list[str] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        check = ", verified" if self.verified else ""
        units = "chunk" if self.chunks == 1 else "chunks"
        return (f"copied {self.bytes / 1e6:.1f} MB in {self.chunks} {units} in {self.seconds:.2f}s "
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
    return zlib.crc32(memoryview(np.ascontiguousarray(data)).cast("B"))


def _copy_unit(unit: _Unit) -> tuple[int, int | None, bool]:
    """Copy one unit; (bytes, source checksum when verified, whether the destination matched)."""
    src = _array_at(unit.source, unit.scale)
    dst = _array_at(unit.destination, unit.scale)

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
        return nbytes, None, True
    # the unit's checksum is that of its pieces' checksums, in order: pieces are checked on their own
    crcs = np.array([crc for _, crc, _ in done], dtype="<u4")
    return nbytes, zlib.crc32(crcs.tobytes()), all(ok for _, _, ok in done)


def _base_shape(dst: ScaleLevel, src: ScaleLevel) -> list[int]:
    """The smallest unit worth copying: whole destination chunks that cover whole source chunks where that is cheap."""
    base = []
    for d, s in zip(dst.chunks, src.chunks):
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
    return tuple(min(b, u) if axis >= across else u for axis, (b, u) in enumerate(zip(base, unit)))


def _unit_shape(dst: ScaleLevel, src: ScaleLevel, itemsize: int, box: Box, chunk: Sequence[int] | None) -> tuple[int, ...]:
    if chunk is not None:
        chunk = tuple(int(c) for c in chunk)
        chunk = (1,) * (len(dst.chunks) - len(chunk)) + chunk if len(chunk) < len(dst.chunks) else chunk
        if len(chunk) != len(dst.chunks) or any(c % d for c, d in zip(chunk, dst.chunks)):
            raise ValueError(f"chunk {chunk} must be a multiple of the destination's chunks {dst.chunks}")
        return chunk
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
    start = box.start[:lead] + tuple(int(math.floor(x * fa / fb)) for x, fa, fb in zip(box.start[lead:], a, b))
    stop = box.stop[:lead] + tuple(int(math.ceil(x * fa / fb)) for x, fa, fb in zip(box.stop[lead:], a, b))
    return Box(start, stop).intersection(bounds)


def _levels(scales: str | Sequence[int], n: int) -> list[int]:
    if scales == "all":
        return list(range(n))
    if isinstance(scales, str):
        raise ValueError(f"scales is 'all' or a list of levels, got {scales!r}")
    levels = sorted({int(s) % n for s in scales})
    if any(not -n <= int(s) < n for s in scales):
        raise ValueError(f"scales {list(scales)} are not all among the source's levels 0..{n - 1}")
    return levels


def _destination(src: Array, dst: str | Array, upto: int) -> Array:
    """The destination, created when missing with the source's metadata for its levels up to ``upto``."""
    if isinstance(dst, Array):
        return dst
    try:
        return open_array(dst)
    except NotFoundError:
        meta = src.metadata
        levels = tuple(level.model_copy(update={"key": str(i)}) for i, level in enumerate(meta.scales[: upto + 1]))
        return create_like(dst, meta.model_copy(update={"scales": levels}))


def _journal_path(units_key: str) -> Path:
    digest = hashlib.sha1(units_key.encode()).hexdigest()[:20]
    return config.cache_dir() / "transfers" / f"{digest}.journal"


def _read_journal(path: Path, header: str) -> dict[str, int | None]:
    """Finished unit keys and their checksums ("-": not verified); another job's journal or a torn last line is ignored."""
    try:
        lines = path.read_text().split("\n")
    except FileNotFoundError:
        return {}
    if not lines or lines[0] != header:
        return {}
    done: dict[str, int | None] = {}
    for line in lines[1:-1]:  # the last element is "" after a complete line, or a torn line after a crash
        key, _, crc = line.rpartition(" ")
        if key and (crc.isdigit() or crc == "-"):
            done[key] = int(crc) if crc != "-" else None
    return done


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
        src, dst: URIs (or Arrays). Voxels land at the same coordinates in both.
        box: the part to copy, in voxels of level ``scale`` (default: everything); other levels copy the
            corresponding box.
        scales: ``"all"`` the source's levels, or a list of them.
        chunk: the unit of work (a multiple of the destination's chunks); default: chosen from both chunk grids.
        workers: threads, or Dask worker processes with ``scheduler="local"``.
        scheduler: ``"threads"``, ``"local"`` (a LocalCluster) or ``"tcp://..."``; default ``INTERN_SCHEDULER``, else threads.
        resume: skip units the journal of an interrupted run of the same copy records.
        verify: read every unit back and compare checksums; mismatches raise.
        progress: a progress bar on stderr (when it is a terminal).

    Raises:
        TransferError: units failed permanently (after retries) or did not verify; lists them and how to resume.
    """
    source = open_array(src) if not isinstance(src, Array) else src
    s_meta = source.metadata
    levels = _levels(scales, len(s_meta.scales))
    dest = _destination(source, dst, max(levels))
    d_meta = dest.metadata
    if s_meta.dtype != d_meta.dtype:
        raise TransferError(f"{dest.uri} is {d_meta.dtype}, the source is {s_meta.dtype}")
    missing = [lv for lv in levels if lv >= len(d_meta.scales) or d_meta.scales[lv].shape != s_meta.scales[lv].shape]
    if missing:
        raise TransferError(f"{dest.uri} has no level matching the source's levels {missing} (shapes differ)")
    with _opened_lock:  # the caller's own arrays stand for their URIs in this process
        for lv in levels:
            _opened[(source.uri, lv)] = source.at_scale(lv)
            _opened[(dest.uri, lv)] = dest.at_scale(lv)

    units: list[_Unit] = []
    for lv in levels:
        region = _level_box(box, scale, lv, s_meta)
        shape = _unit_shape(d_meta.scales[lv], s_meta.scales[lv], s_meta.numpy_dtype.itemsize, region, chunk)
        piece = _piece_shape(d_meta.scales[lv], s_meta.scales[lv], shape)
        units += [_Unit(source.uri, dest.uri, lv, b.start, b.stop, verify, piece) for b in region.split(shape)]

    header = json.dumps({"source": source.uri, "destination": dest.uri, "box": str(box) if box else None,
                         "scale": scale, "levels": levels, "units": [u.key for u in units[:1]], "n": len(units)})
    journal = _journal_path(header)
    done = _read_journal(journal, header) if resume else {}
    todo = [u for u in units if u.key not in done]
    report = CopyReport(source.uri, dest.uri, skipped=len(units) - len(todo), verified=verify)
    journal.parent.mkdir(parents=True, exist_ok=True)
    log = journal.open("a" if done else "w")
    if not done:
        log.write(header + "\n")
        log.flush()

    unit_bytes = units[0].box.size * s_meta.numpy_dtype.itemsize if units else 0
    bar = Progress(total=len(todo), label="copy", unit_bytes=unit_bytes, enabled=None if progress else False)

    def finished(unit: _Unit, result: tuple[int, int | None, bool]) -> None:
        nbytes, crc, ok = result
        report.chunks += 1
        report.bytes += nbytes
        if not ok:
            report.mismatched.append(unit.key)
        else:
            log.write(f"{unit.key} {'-' if crc is None else crc}\n")
            log.flush()
        bar.update(1)

    try:
        with bar:
            stats = run_jobs(_copy_unit, todo, workers=workers, scheduler=scheduler, on_done=finished)
    finally:
        os.fsync(log.fileno())
        log.close()
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
    if report.mismatched:
        raise TransferError(f"{len(report.mismatched)} units differ after copying: {', '.join(report.mismatched[:5])}; "
                            f"rerun to copy them again: {resume_cmd}", tuple(report.mismatched))
    journal.unlink(missing_ok=True)
    return report


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

