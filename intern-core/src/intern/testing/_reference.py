"""The kit's backdoor: another implementation of a driver's format checks the bytes the driver stores, both ways.

A kit that only round-trips through the driver cannot see a format bug: a driver that writes its chunks in the wrong
byte order reads them back in the same wrong order and passes. So a driver's test class hands the kit one or more
:class:`Reference` implementations of its format (TensorStore for Zarr, cloud-volume for precomputed, plain numpy
for a simple file layout, raw HTTP for a server), through the ``references`` fixture, and the kit checks

- **written by the driver, read by the reference**: every level of a volume the driver created and wrote in
  unaligned boxes (so edge chunks and partial chunks are stored) reads the same through ``Reference.read``;
- **written by the reference, read by the driver**: a volume stored by ``Reference.write`` (or copied from golden
  files a reference implementation wrote once, see :func:`golden_files`) opens through the driver with the same
  shape, dtype, voxel size and levels, and reads the same in the whole and in unaligned boxes.

Both run for every dtype of the class and, where the driver makes pyramids, on two scale levels.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import intern
from intern._box import Box
from intern._metadata import VolumeKind, VolumeMetadata

from ._data import reference_data

__all__ = ["ReadLevel", "Reference", "ReferenceTests", "StoredVolume", "WriteVolume", "golden_files",
           "kit_volume"]


@dataclass(frozen=True)
class StoredVolume:
    """A volume as the kit asks a reference implementation to store it (and as a driver must then read it).

    Attributes:
        metadata: axes, dtype, kind, and each level's shape, chunks, voxel size and factor, as intern describes them.
        levels: the voxels of every level, finest first, in intern's axis order (``(t, c,) z, y, x``, C order).
    """

    metadata: VolumeMetadata
    levels: tuple[np.ndarray, ...]

    @property
    def dtype(self) -> np.dtype:
        return self.metadata.numpy_dtype


#: ``read(volume, scale) -> array``: the whole level ``scale`` of an intern volume (an :class:`intern.Array`, whose
#: ``uri`` and ``resource`` say where it is stored), read from storage by another implementation and returned in
#: intern's axis order.
ReadLevel = Callable[[intern.Array, int], np.ndarray]

#: ``write(uri, volume) -> levels or None``: store ``volume`` (a :class:`StoredVolume`) where ``uri`` points, by
#: another implementation. Returns ``None`` when the store holds exactly ``volume.levels``, else the levels as the
#: store now holds them (a server that pads to whole blocks, one that computes its coarser levels itself).
WriteVolume = Callable[[str, StoredVolume], "Sequence[np.ndarray] | None"]


@dataclass(frozen=True)
class Reference:
    """An independent implementation of a driver's storage format, for the kit to check the driver against.

    Attributes:
        name: how failures name it (``"tensorstore"``, ``"cloud-volume"``).
        read: reads a level the driver stored (see :data:`ReadLevel`); ``None`` when it cannot.
        write: stores a volume the driver must read (see :data:`WriteVolume`); ``None`` when it cannot.
        dtypes: the dtypes it handles (default: every dtype of the test class).
        scales: the most scale levels it reads or writes (a format whose pyramids it does not know: 1).
    """

    name: str
    read: ReadLevel | None = None
    write: WriteVolume | None = None
    dtypes: tuple[str, ...] | None = None
    scales: int = 2

    def handles(self, dtype: str) -> bool:
        return self.dtypes is None or np.dtype(dtype).name in self.dtypes


def kit_volume(metadata: VolumeMetadata, seed: int = 0) -> StoredVolume:
    """The content the kit stores in a volume of ``metadata``: :func:`~intern.testing.reference_data` at every level
    (level ``s`` with seed ``seed + s``). Golden files hold exactly this, so they can be written once, outside the
    test run, by the reference implementation."""
    levels = tuple(reference_data(level.shape, metadata.dtype, seed=seed + s) for s, level in enumerate(metadata.scales))
    return StoredVolume(metadata, levels)


def golden_files(name: str, folder: str | Path, *, destination: Callable[[str], Path]) -> Reference:
    """A reference writer made of files a reference implementation wrote once: ``folder/<dtype>`` holds a volume
    whose content is :func:`kit_volume` of the kit's metadata for that dtype (a file or a directory).

    Args:
        name: how failures name it (``"golden files of knossos_utils"``).
        folder: where the golden volumes lie, one per dtype, named after the dtype.
        destination: from a URI the kit chose to the local path the volume must be copied to.
    """
    root = Path(folder)

    def write(uri: str, volume: StoredVolume) -> None:
        source = root / volume.metadata.dtype
        if not source.exists():
            raise FileNotFoundError(f"no golden volume {source} for {volume.metadata.dtype}")
        target = destination(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)

    return Reference(name, write=write, dtypes=tuple(sorted(p.name for p in root.iterdir())))


def _unaligned_cuts(n: int, chunk: int) -> list[tuple[int, int]]:
    """Two pieces of an axis of length ``n``, cut off the chunk grid (a chunk and a few voxels in)."""
    cut = chunk + 3 if chunk + 3 < n else n // 2
    return [(0, cut), (cut, n)] if 0 < cut < n else [(0, n)]


def _pieces(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[Box]:
    """Boxes covering ``shape`` whose faces lie off the chunk grid on the spatial axes (leading axes whole)."""
    lead = len(shape) - 3
    axes = [[(0, n)] for n in shape[:lead]] + [_unaligned_cuts(n, c) for n, c in zip(shape[lead:], chunks[lead:],
                                                                                        strict=True)]
    boxes: list[tuple[tuple[int, ...], tuple[int, ...]]] = [((), ())]
    for cuts in axes:
        boxes = [(a + (lo,), b + (hi,)) for a, b in boxes for lo, hi in cuts]
    return [Box(a, b) for a, b in boxes]


def _inner_box(shape: tuple[int, ...]) -> Box:
    """An unaligned box inside ``shape`` (a third of each spatial axis, starting at a third; leading axes whole)."""
    lead = len(shape) - 3
    start = (0,) * lead + tuple(n // 3 for n in shape[lead:])
    stop = tuple(shape[:lead]) + tuple(max(s + 1, n // 3 + n // 3 + 1) for s, n in zip(start[lead:], shape[lead:], strict=True))
    return Box(start, tuple(min(b, n) for b, n in zip(stop, shape, strict=True)))


def _probe_boxes(rng: np.random.Generator, shape: tuple[int, ...], chunks: tuple[int, ...], n: int) -> list[Box]:
    """``n`` random boxes, and the last chunk of the level clipped to it (the edge chunk)."""
    boxes = []
    for _ in range(n):
        start, stop = [], []
        for size in shape:
            a = int(rng.integers(0, size))
            start.append(a)
            stop.append(int(rng.integers(a + 1, size + 1)))
        boxes.append(Box(tuple(start), tuple(stop)))
    edge = tuple((max(0, size - 1) // c) * c for size, c in zip(shape, chunks, strict=True))
    boxes.append(Box(edge, tuple(shape)))
    return boxes


class ReferenceTests:
    """The two-way comparison with a reference implementation (mixed into :class:`~intern.testing.VolumeDriverTests`)."""

    # provided by VolumeDriverTests
    shape: ClassVar[tuple[int, ...]]
    chunks: ClassVar[tuple[int, ...]]
    voxel_size: ClassVar[tuple[float, float, float]]
    axes: ClassVar[tuple[str, ...] | None]
    supports_create: ClassVar[bool]
    supports_write: ClassVar[bool]
    supports_scales: ClassVar[bool]
    writable_scales: ClassVar[bool | tuple[str, ...]]
    kinds: ClassVar[dict[str, VolumeKind]]
    #: the (z, y, x) factor of each level over the one before it in the kit's two-level pyramids
    pyramid_factors: ClassVar[tuple[float, float, float]] = (1.0, 2.0, 2.0)
    #: True where a volume the driver did not create reports levels rounded up to whole chunks (DVID's extents grow
    #: in whole blocks): the kit then accepts a level up to a chunk larger, reading zeros beyond what was written
    shape_in_whole_chunks: ClassVar[bool] = False

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        """The driver's reference implementations; none by default (the two tests below then skip, by name)."""
        return ()

    def _writes_levels(self, dtype: str) -> bool:
        """Whether the kit writes the coarser levels of a ``dtype`` volume (else the store computes them)."""
        ws = self.writable_scales
        return ws if isinstance(ws, bool) else np.dtype(dtype).name in ws

    def _levels(self) -> int:
        return 2 if self.supports_scales else 1

    def _metadata(self, dtype: str, levels: int) -> VolumeMetadata:
        return VolumeMetadata.pyramid(shape=self.shape, dtype=dtype, chunks=self.chunks, voxel_size=self.voxel_size,
                                      kind=self.kinds.get(dtype, "image"), axes=self.axes,
                                      factors=[self.pyramid_factors] * (levels - 1))

    @staticmethod
    def _pick(references: Sequence[Reference], dtype: str, what: str) -> list[Reference]:
        found = [r for r in references if getattr(r, what) is not None and r.handles(dtype)]
        if not found:
            pytest.skip(f"the driver gives the kit no reference implementation that can {what} {dtype}")
        return found

    def test_reference_reads_what_the_driver_wrote(self, references: Sequence[Reference],
                                                   new_uri: Callable[[str], str], dtype: str) -> None:
        if not (self.supports_create and self.supports_write):
            pytest.skip("the driver does not create and write volumes; its reference writer is checked instead")
        readers = self._pick(references, dtype, "read")
        levels = self._levels()
        volume = intern.create(new_uri(f"ref-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                               voxel_size=self.voxel_size, kind=self.kinds.get(dtype, "image"), axes=self.axes,
                               scales=[self.pyramid_factors] * (levels - 1))
        expected = []
        for s in range(levels):
            level = volume.at_scale(s)
            if s and not self._writes_levels(dtype):
                expected.append(level[...])  # the store computed it: the reference must read what the driver reads
                continue
            data = reference_data(level.shape, dtype, seed=20 + s)
            for box in _pieces(level.shape, level.chunks):
                level.write(box, data[box.to_slices()])
            inner = _inner_box(level.shape)
            patch = reference_data(inner.shape, dtype, seed=40 + s)
            level.write(inner, patch)
            data[inner.to_slices()] = patch
            expected.append(data)
        for reference in readers:
            for s in range(min(levels, reference.scales)):
                got = np.asarray(reference.read(volume.at_scale(s), s))  # type: ignore[misc]
                where = f"{reference.name} reading scale {s} of {volume.uri}"
                assert got.shape == expected[s].shape, f"{where}: shape {got.shape}, the driver wrote {expected[s].shape}"
                assert got.dtype == np.dtype(dtype), f"{where}: dtype {got.dtype}, the driver wrote {dtype}"
                _assert_same(got, expected[s], where)

    def test_driver_reads_what_the_reference_wrote(self, references: Sequence[Reference],
                                                   new_uri: Callable[[str], str], dtype: str) -> None:
        writers = self._pick(references, dtype, "write")
        rng = np.random.default_rng(11)
        for k, reference in enumerate(writers):
            levels = min(self._levels(), reference.scales)
            volume = kit_volume(self._metadata(dtype, levels))
            uri = new_uri(f"ref-{k}-{dtype}")
            stored = reference.write(uri, volume)  # type: ignore[misc]
            stored = volume.levels if stored is None else tuple(np.asarray(a) for a in stored)
            got = intern.array(uri)
            where = f"the driver reading {uri} written by {reference.name}"
            assert got.dtype == np.dtype(dtype), f"{where}: dtype {got.dtype}, not {dtype}"
            assert len(got.scales) >= len(stored), f"{where}: {len(got.scales)} levels, {len(stored)} were written"
            assert tuple(got.voxel_size) == pytest.approx(self.voxel_size), f"{where}: voxel size {got.voxel_size}"
            for s, data in enumerate(stored):
                level = got.at_scale(s)
                if self.shape_in_whole_chunks and level.shape != data.shape:
                    assert all(n <= m < n + c for n, m, c in zip(data.shape, level.shape, level.chunks, strict=True)), \
                        f"{where}: scale {s} has shape {level.shape}, {data.shape} rounded up to whole chunks at most"
                    whole = np.zeros(level.shape, data.dtype)
                    whole[tuple(slice(0, n) for n in data.shape)] = data
                    data = whole
                assert level.shape == data.shape, f"{where}: scale {s} has shape {level.shape}, not {data.shape}"
                _assert_same(level[...], data, f"{where}, scale {s}")
                for box in _probe_boxes(rng, data.shape, level.chunks, 4):
                    _assert_same(level.read(box), data[box.to_slices()], f"{where}, scale {s}, box [{box}]")


def _assert_same(got: Any, expected: np.ndarray, where: str) -> None:
    got = np.asarray(got)
    if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=expected.dtype.kind == "f"):
        wrong = np.argwhere(got != expected) if got.shape == expected.shape else None
        first = "" if wrong is None or not len(wrong) else \
            f"; {len(wrong)} voxels differ, first at {tuple(int(i) for i in wrong[0])}: " \
            f"{got[tuple(wrong[0])]!r} instead of {expected[tuple(wrong[0])]!r}"
        pytest.fail(f"{where}: the voxels differ{first}")
