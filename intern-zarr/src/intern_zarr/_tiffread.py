"""Reading the part of one TIFF page that a box touches, and nothing more.

A page's pixels are stored in segments, strips of rows or rectangular tiles, each encoded on its own. For a box only
the segments it touches are read (``os.pread``: any number of threads read one file without sharing a seek
position) and decoded by tifffile's decoder for that page. Uncompressed pages stored in plain row order, which is
what ``tifffile.imwrite``, ``intern.create`` and most acquisition software write, skip the decoder: the box's rows
are read straight from their byte offsets.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intern.errors import DriverNotInstalledError, InternError, MetadataError, RemoteError

__all__ = ["Files", "PageLayout", "PageRef", "no_decode", "open_fd", "pread", "read_region"]

#: the core cuts reads on chunks of about this many bytes (whole segments, grown until they reach it)
CHUNK_BYTES = 1 << 20


_READ_LOCK = threading.Lock()  # only where os.pread is missing (Windows): seek and read must not interleave


def pread(fd: int, offset: int, nbytes: int, path: str) -> bytes:
    """``nbytes`` bytes of the open file ``fd`` (``path``, for messages) from ``offset``.

    Raises:
        RemoteError: the file ends first (a truncated file).
    """
    parts = []
    got = 0
    while got < nbytes:
        if hasattr(os, "pread"):
            part = os.pread(fd, nbytes - got, offset + got)
        else:
            with _READ_LOCK:
                os.lseek(fd, offset + got, os.SEEK_SET)
                part = os.read(fd, nbytes - got)
        if not part:
            raise RemoteError(f"{path} is truncated: {nbytes} bytes at offset {offset} reach past its end")
        parts.append(part)
        got += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def open_fd(path: str) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


class Files:
    """One read-only descriptor per file of a stack, kept until :meth:`close` (files of a multi-file OME series)."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def fd(self, path: str) -> int:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = self._fds[path] = open_fd(path)
            return fd

    def close(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


def _check_codec(table: Any, code: int, what: str, names: Any, where: str) -> None:
    try:
        table[code]
    except KeyError as exc:
        try:
            name = names(code).name
        except ValueError:
            name = str(code)
        if "imagecodecs" in str(exc):
            raise DriverNotInstalledError(
                f"{where} uses {what} {name}, which tifffile decodes only with imagecodecs: pip install imagecodecs",
                None, "imagecodecs") from None
        raise MetadataError(f"{where} uses {what} {name}, which tifffile cannot decode") from None


@dataclass(frozen=True)
class PageLayout:
    """How the pages of a stack store their pixels (read from its first page, which tifffile calls the keyframe).

    Attributes:
        height, width: the page's pixels.
        samples: samples per pixel (3 for RGB), stored interleaved, or as ``separate`` planes.
        dtype: the samples' type in the file's byte order.
        rows, cols: the shape of one segment (a strip is ``rows`` full-width rows).
        tiled: segments are tiles.
        plain: uncompressed, unpredicted whole-byte samples in row order, so rows can be read where they lie.
    """

    height: int
    width: int
    samples: int
    separate: bool
    dtype: np.dtype
    rows: int
    cols: int
    tiled: bool
    plain: bool
    decode: Callable[..., Any] = field(compare=False, repr=False)
    jpegheader: bytes | None = field(compare=False, repr=False)

    @classmethod
    def of(cls, page: Any, where: str) -> PageLayout:
        """The layout of a ``tifffile.TiffPage``.

        Raises:
            MetadataError: the page stores something intern cannot read (volumetric tiles, an unknown sample format).
            DriverNotInstalledError: its compression needs imagecodecs, which is not installed.
        """
        import tifffile

        if page.dtype is None:
            raise MetadataError(f"{where}: {page.bitspersample}-bit samples of format {page.sampleformat} have no "
                                "numpy type")
        if page.imagedepth > 1:
            raise MetadataError(f"{where}: pages with volumetric tiles (ImageDepth {page.imagedepth}) are not read")
        if page.compression != 1:
            _check_codec(tifffile.TIFF.DECOMPRESSORS, page.compression, "compression", tifffile.COMPRESSION, where)
        if page.predictor != 1:
            _check_codec(tifffile.TIFF.UNPREDICTORS, page.predictor, "predictor", tifffile.PREDICTOR, where)
        separate, _, height, width, contig = page.shaped
        tiled = bool(page.is_tiled)
        rows, cols = (page.tilelength, page.tilewidth) if tiled else (min(page.rowsperstrip or height, height), width)
        plain = (page.compression == 1 and page.predictor == 1 and page.fillorder == 1 and not page.is_subsampled
                 and page.bitspersample in (8, 16, 32, 64) and page.sampleformat != 5
                 and (not tiled or (cols == width and height % rows == 0)))
        return cls(height=height, width=width, samples=separate * contig, separate=separate > 1,
                   dtype=np.dtype(page.dtype).newbyteorder(page.parent.byteorder), rows=max(1, rows),
                   cols=max(1, cols), tiled=tiled, plain=plain, decode=page.decode, jpegheader=page.jpegheader)

    @classmethod
    def in_one_run(cls, *, height: int, width: int, samples: int, separate: bool, dtype: np.dtype) -> PageLayout:
        """Pages of a series whose pixels lie in one run of plain bytes, cut as the series' axes say.

        The file's own page headers may cut the same bytes otherwise (tifffile folds a trailing axis of length 1
        into the rows of one page), so for such series the axes, not the headers, define a page.
        """
        return cls(height=height, width=width, samples=samples, separate=separate, dtype=dtype, rows=height,
                   cols=width, tiled=False, plain=True, decode=no_decode, jpegheader=None)

    @property
    def nbytes(self) -> int:
        return self.height * self.width * self.samples * self.dtype.itemsize

    def same_image(self, other: PageLayout) -> bool:
        """Whether pages of both layouts hold images of one shape and type (they may store them differently)."""
        return (self.height, self.width, self.samples, self.dtype.newbyteorder("=")) == \
            (other.height, other.width, other.samples, other.dtype.newbyteorder("="))

    def chunk(self) -> tuple[int, int]:
        """The (y, x) chunk reads are cut on: whole segments, grown toward :data:`CHUNK_BYTES`."""
        pixel = self.samples * self.dtype.itemsize
        if self.plain or not self.tiled:
            # plain rows can be read in any number; strips only whole
            unit = 1 if self.plain else self.rows
            n = max(1, CHUNK_BYTES // (unit * self.width * pixel))
            return min(self.height, unit * n), self.width
        cy, cx = self.rows, self.cols
        while cy * cx * pixel < CHUNK_BYTES and (cy < self.height or cx < self.width):
            if cx < self.width and (cx <= cy or cy >= self.height):
                cx *= 2
            else:
                cy *= 2
        return min(cy, self.height), min(cx, self.width)


def no_decode(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("plain pages are read row by row, never decoded by segment")


@dataclass(frozen=True)
class PageRef:
    """Where one page's segments lie: the file, their offsets and byte counts, and the page's JPEG tables."""

    path: str
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    jpegtables: bytes | None = None

    @classmethod
    def of(cls, page: Any, path: str) -> PageRef:
        return cls(path, tuple(page.dataoffsets), tuple(page.databytecounts), getattr(page, "jpegtables", None))

    def in_order(self, nbytes: int) -> bool:
        """Whether the segments follow each other in the file with nothing between them, ``nbytes`` in all."""
        if len(self.offsets) == 1:
            return self.counts[0] >= nbytes
        offsets, counts = np.asarray(self.offsets), np.asarray(self.counts)
        return int(counts.sum()) == nbytes and bool(np.all(offsets[:-1] + counts[:-1] == offsets[1:]))


def read_region(layout: PageLayout, ref: PageRef, fd: int, y: tuple[int, int], x: tuple[int, int],
                s: tuple[int, int]) -> np.ndarray:
    """Pixels ``[y0:y1, x0:x1]``, samples ``[s0:s1]``, of the page ``ref`` (in the file open as ``fd``) as an array
    (rows, columns, samples) in the file's byte order."""
    if layout.plain and ref.in_order(layout.nbytes):
        return _rows(layout, ref, fd, y, x, s)
    return _segments(layout, ref, fd, y, x, s)


def _rows(layout: PageLayout, ref: PageRef, fd: int, y: tuple[int, int], x: tuple[int, int],
          s: tuple[int, int]) -> np.ndarray:
    (y0, y1), (x0, x1), (s0, s1) = y, x, s
    item, width, base = layout.dtype.itemsize, layout.width, ref.offsets[0]
    if layout.separate:
        # one plane of rows per sample: (samples, height, width)
        planes = []
        for plane in range(s0, s1):
            data = pread(fd, base + (plane * layout.height + y0) * width * item, (y1 - y0) * width * item, ref.path)
            planes.append(np.frombuffer(data, layout.dtype).reshape(y1 - y0, width)[:, x0:x1])
        return np.stack(planes, axis=-1)
    row = width * layout.samples * item
    data = pread(fd, base + y0 * row, (y1 - y0) * row, ref.path)
    return np.frombuffer(data, layout.dtype).reshape(y1 - y0, width, layout.samples)[:, x0:x1, s0:s1]


def _segments(layout: PageLayout, ref: PageRef, fd: int, y: tuple[int, int], x: tuple[int, int],
              s: tuple[int, int]) -> np.ndarray:
    (y0, y1), (x0, x1), (s0, s1) = y, x, s
    out = np.zeros((y1 - y0, x1 - x0, s1 - s0), layout.dtype)  # segments a file leaves out read as 0
    down = math.ceil(layout.height / layout.rows)
    across = math.ceil(layout.width / layout.cols) if layout.tiled else 1
    planes = range(s0, s1) if layout.separate else range(1)
    cols = range(x0 // layout.cols, (x1 - 1) // layout.cols + 1) if layout.tiled else range(1)
    wanted = [(p * down + i) * across + k for p in planes for i in range(y0 // layout.rows, (y1 - 1) // layout.rows + 1)
              for k in cols]
    for index in wanted:
        if index >= len(ref.offsets) or not ref.offsets[index] or not ref.counts[index]:
            continue
        data = pread(fd, ref.offsets[index], ref.counts[index], ref.path)
        try:
            segment, (plane, _, sy, sx, _), _ = layout.decode(data, index, jpegtables=ref.jpegtables,
                                                               jpegheader=layout.jpegheader)
        except InternError:
            raise
        except Exception as exc:  # noqa: BLE001 - each codec raises its own kind; all mean the segment is unreadable
            raise RemoteError(f"{ref.path}: segment {index} of a page does not decode ({type(exc).__name__}: {exc})") \
                from exc
        segment = segment[0]  # (depth 1, rows, columns, interleaved samples)
        ya, yb = max(y0, sy), min(y1, sy + segment.shape[0])
        xa, xb = max(x0, sx), min(x1, sx + segment.shape[1])
        if ya >= yb or xa >= xb:
            continue
        part = segment[ya - sy:yb - sy, xa - sx:xb - sx]
        if layout.separate:
            out[ya - y0:yb - y0, xa - x0:xb - x0, plane - s0] = part[..., 0]
        else:
            out[ya - y0:yb - y0, xa - x0:xb - x0] = part[..., s0:s1]
    return out
