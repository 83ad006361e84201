"""The tests behind :class:`VolumeDriverTests` (see :mod:`intern.testing`)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest

import intern
from intern._box import Box
from intern._metadata import VolumeKind
from intern._traits import Remote, SupportsChunkStamps, VolumeResource
from intern.errors import (
    AlreadyExistsError,
    DTypeError,
    InternError,
    NotFoundError,
    OutOfBoundsError,
)

from ._data import reference_data
from ._listing import ListingTests, split_name
from ._readonly import ReadOnlyTests
from ._reference import ReferenceTests

__all__ = ["VolumeDriverTests", "reference_data"]


def _random_box(rng: np.random.Generator, shape: tuple[int, ...]) -> Box:
    start, stop = [], []
    for n in shape:
        a = int(rng.integers(0, n))
        b = int(rng.integers(a + 1, n + 1))
        start.append(a)
        stop.append(b)
    return Box(tuple(start), tuple(stop))


class VolumeDriverTests(ReferenceTests, ReadOnlyTests, ListingTests):
    """Inherit, provide ``new_uri``, and the driver is checked against the traits' contract."""

    dtypes: ClassVar[tuple[str, ...]] = ("uint8", "uint16", "uint32", "uint64", "float32")
    shape: ClassVar[tuple[int, ...]] = (20, 37, 45)
    chunks: ClassVar[tuple[int, ...]] = (8, 16, 16)
    voxel_size: ClassVar[tuple[float, float, float]] = (40.0, 8.0, 8.0)
    axes: ClassVar[tuple[str, ...] | None] = None  # ("t", "z", "y", "x") for a 4-D shape whose first axis is time
    supports_create: ClassVar[bool] = True
    supports_write: ClassVar[bool] = True
    supports_scales: ClassVar[bool] = True
    # False where the store computes levels above 0 itself; or the dtypes whose levels it stores as written
    writable_scales: ClassVar[bool | tuple[str, ...]] = True
    kinds: ClassVar[dict[str, VolumeKind]] = {}  # dtype -> "segmentation" where the store holds that dtype only as labels
    random_boxes: ClassVar[int] = 12
    #: False where one chunk stamp covers more than a chunk (a whole file, a server's version of the whole volume)
    chunk_stamps_per_chunk: ClassVar[bool] = True

    # -- fixtures a driver provides or overrides ----------------------------------------------------------------
    @pytest.fixture
    def new_uri(self) -> Callable[[str], str]:
        raise NotImplementedError("a driver's test class provides the new_uri fixture: name -> URI of a new volume")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # pytest calls this per class, so each driver's tests run for exactly its own dtypes
        if "dtype" in metafunc.fixturenames:
            metafunc.parametrize("dtype", self.dtypes)

    @pytest.fixture
    def volume(self, new_uri: Callable[[str], str], dtype: str) -> intern.Array:
        if not self.supports_create:
            pytest.skip("the driver does not create volumes; override the 'volume' fixture")
        return intern.create(new_uri(f"conf-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                             voxel_size=self.voxel_size, kind=self.kinds.get(dtype, "image"), axes=self.axes)

    def _need_write(self) -> None:
        if not self.supports_write:
            pytest.skip("the driver is read-only")

    # -- the contract -------------------------------------------------------------------------------------------
    def test_metadata_matches_creation(self, volume: intern.Array, dtype: str) -> None:
        assert isinstance(volume.resource, VolumeResource)
        assert isinstance(volume.resource.remote, Remote)
        assert volume.shape == self.shape
        assert volume.dtype == np.dtype(dtype)
        assert volume.axes[-3:] == ("z", "y", "x")
        assert tuple(volume.voxel_size) == pytest.approx(self.voxel_size)
        assert volume.voxel_unit == "nm"
        assert len(volume.chunks) == len(self.shape)

    def test_reopen_by_uri(self, volume: intern.Array, dtype: str) -> None:
        self._need_write()
        data = reference_data(self.shape, dtype, seed=1)
        volume[...] = data
        again = intern.array(volume.uri)
        assert again.shape == volume.shape and again.dtype == volume.dtype
        np.testing.assert_array_equal(again[...], data)

    def test_reopen_by_the_creating_uri(self, volume: intern.Array, new_uri: Callable[[str], str], dtype: str) -> None:
        # the URI given to create, creation options in its query and all, opens what it created
        self._need_write()
        data = reference_data(self.shape, dtype, seed=2)
        volume[...] = data
        np.testing.assert_array_equal(intern.array(new_uri(f"conf-{dtype}"))[...], data)

    def test_unwritten_reads_zero(self, volume: intern.Array) -> None:
        if not self.supports_create:
            pytest.skip("needs a new volume")
        assert not volume[...].any()

    def test_random_box_round_trips(self, volume: intern.Array, dtype: str) -> None:
        self._need_write()
        rng = np.random.default_rng(7)
        expected = np.zeros(self.shape, dtype)
        for i in range(self.random_boxes):
            box = _random_box(rng, self.shape)
            block = reference_data(box.shape, dtype, seed=100 + i)
            volume.write(box, block)
            expected[box.to_slices()] = block
            probe = _random_box(rng, self.shape)
            np.testing.assert_array_equal(volume.read(probe), expected[probe.to_slices()])
        np.testing.assert_array_equal(volume[...], expected)

    def test_partial_chunk_write_keeps_neighbours(self, volume: intern.Array, dtype: str) -> None:
        self._need_write()
        base = reference_data(self.shape, dtype, seed=3)
        volume[...] = base
        lead = self.shape[:-3]  # leading t/c axes whole: the test cuts the spatial axes only
        box = Box((0,) * len(lead) + (1, 5, 7), lead + (3, 9, 8))
        volume[box.to_slices()] = np.zeros(box.shape, dtype)
        base[box.to_slices()] = 0
        np.testing.assert_array_equal(volume[...], base)

    def test_scales(self, new_uri: Callable[[str], str]) -> None:
        if not (self.supports_scales and self.supports_create and self.supports_write):
            pytest.skip("the driver does not create pyramids")
        dtype = self.dtypes[0]
        a = intern.create(new_uri("conf-pyramid"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                          voxel_size=(8.0, 8.0, 8.0), scales=3, kind=self.kinds.get(dtype, "image"), axes=self.axes)
        assert len(a.scales) == 3
        for s in range(3):
            level = a.at_scale(s)
            assert level.shape[-3:] == tuple(-(-n // 2**s) for n in self.shape[-3:])
            assert tuple(level.voxel_size) == pytest.approx(tuple(8.0 * 2**s for _ in range(3)))
            if s == 0 or self._writes_levels(dtype):
                level[...] = reference_data(level.shape, dtype, seed=s)
        for s in range(3):  # each level keeps its own data
            got = a.at_scale(s)[...]
            assert got.shape == a.at_scale(s).shape and got.dtype == np.dtype(dtype)
            if s == 0 or self._writes_levels(dtype):
                np.testing.assert_array_equal(got, reference_data(a.at_scale(s).shape, dtype, seed=s))

    def test_chunk_stamps_follow_writes(self, new_uri: Callable[[str], str]) -> None:
        """A stamp changes when a chunk under the box is created or rewritten, and with nothing else."""
        if not (self.supports_create and self.supports_write):
            pytest.skip("needs a new volume to write")
        dtype = self.dtypes[0]
        a = intern.create(new_uri("conf-stamps"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                          voxel_size=self.voxel_size, kind=self.kinds.get(dtype, "image"))
        if not isinstance(a.resource, SupportsChunkStamps):
            pytest.skip("the driver does not report chunk stamps")
        chunks = a.chunks
        first = Box.from_shape(tuple(min(c, n) for c, n in zip(chunks, self.shape, strict=True)))
        last = Box(tuple((n - 1) // c * c for c, n in zip(chunks, self.shape, strict=True)), self.shape)

        def stamps(resource: Any) -> tuple[str | None, str | None]:
            return resource.chunk_stamp(first, scale=0), resource.chunk_stamp(last, scale=0)

        unwritten = stamps(a.resource)
        if unwritten[0] is None:
            pytest.skip("the store cannot tell for this volume")
        a[...] = reference_data(self.shape, dtype, seed=5)
        written = stamps(a.resource)
        assert written[0] != unwritten[0], "creating a chunk changes the stamp"
        assert stamps(a.resource) == written, "an unchanged store gives the same stamp"
        assert stamps(intern.array(a.uri).resource) == written, "the volume reopened by URI gives the same stamp"
        a.write(first, reference_data(first.shape, dtype, seed=6))
        rewritten = stamps(a.resource)
        assert rewritten[0] != written[0], "rewriting a chunk changes the stamp"
        if self.chunk_stamps_per_chunk:
            assert rewritten[1] == written[1], "a chunk outside the box leaves the stamp as it was"

    def test_out_of_bounds_is_an_error(self, volume: intern.Array) -> None:
        n = self.shape[0]
        with pytest.raises(OutOfBoundsError):
            volume[0:n + 1]
        with pytest.raises(OutOfBoundsError):
            volume[n]
        with pytest.raises(OutOfBoundsError):
            volume.read(Box((0,) * len(self.shape), (1,) * (len(self.shape) - 1) + (self.shape[-1] + 5,)))
        with pytest.raises(OutOfBoundsError):
            intern.array(volume.uri, scale=len(volume.scales))

    def test_wrong_dtype_write_is_an_error(self, volume: intern.Array, dtype: str) -> None:
        self._need_write()
        where = Box.from_shape((1,) * (len(self.shape) - 3) + (2, 2, 2)).to_slices()
        before = volume[where]
        shape = before.shape
        bad = np.full(shape, 1.5, dtype=np.float64) if np.dtype(dtype).kind != "f" else np.full(shape, 1 + 2j)
        with pytest.raises((DTypeError, TypeError)):
            volume[where] = bad
        np.testing.assert_array_equal(volume[where], before)

    def test_create_existing_is_an_error(self, volume: intern.Array, new_uri: Callable[[str], str], dtype: str) -> None:
        if not self.supports_create:
            pytest.skip("the driver does not create volumes")
        with pytest.raises(AlreadyExistsError):
            intern.create(new_uri(f"conf-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                          kind=self.kinds.get(dtype, "image"), axes=self.axes)
        same = intern.create(new_uri(f"conf-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks, exist_ok=True,
                             kind=self.kinds.get(dtype, "image"), axes=self.axes)
        assert same.shape == self.shape

    def test_missing_is_not_found(self, new_uri: Callable[[str], str]) -> None:
        with pytest.raises(NotFoundError):
            intern.array(new_uri("conf-does-not-exist"))

    def test_errors_pickle(self, new_uri: Callable[[str], str]) -> None:
        try:
            intern.array(new_uri("conf-does-not-exist"))
        except InternError as exc:
            again = pickle.loads(pickle.dumps(exc))
            assert type(again) is type(exc) and str(again) == str(exc)
        else:  # pragma: no cover - the previous test fails first
            pytest.fail("opening a missing volume raised nothing")

    def test_ls_lists_created(self, volume: intern.Array) -> None:
        parent, name = split_name(volume.uri)  # the volume the fixture gave, whatever it is named
        if parent.endswith(":/") or parent.endswith("://"):
            pytest.skip("the volume lies at the root of its remote")
        assert name in intern.ls(parent)
