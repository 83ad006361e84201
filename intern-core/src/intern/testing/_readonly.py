"""Kit tests of read-only volumes: the data the test provides reads back, and writes are refused without damage.

A driver whose volumes cannot be written (a folder of TIFF slices, a volume behind a plain HTTP server, a committed
version) sets ``supports_create = False`` and ``supports_write = False`` and overrides the ``volume`` fixture to open
a volume it stored beforehand, by its own means, holding ``reference_data(shape, dtype)`` (the class's ``shape``,
``chunks`` and ``voxel_size``). Every other test of the kit then runs on it, and these two check its reads and its
refusals.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

import intern
from intern._box import Box
from intern._traits import SupportsWrite
from intern.errors import ReadOnlyError

from ._data import reference_data
from ._reference import _assert_same, _probe_boxes

__all__ = ["ReadOnlyTests"]


class ReadOnlyTests:
    """Reads and refused writes of a read-only volume (mixed into :class:`~intern.testing.VolumeDriverTests`)."""

    # provided by VolumeDriverTests
    shape: ClassVar[tuple[int, ...]]
    supports_write: ClassVar[bool]

    def _need_read_only(self) -> None:
        if self.supports_write:
            pytest.skip("the driver writes; its reads are checked against what it wrote")

    def test_read_only_volume_reads_the_provided_data(self, volume: intern.Array, dtype: str) -> None:
        self._need_read_only()
        expected = reference_data(self.shape, dtype)
        _assert_same(volume[...], expected, f"reading {volume.uri}")
        for box in _probe_boxes(np.random.default_rng(5), self.shape, volume.chunks, 6):
            _assert_same(volume.read(box), expected[box.to_slices()], f"reading [{box}] of {volume.uri}")

    def test_read_only_volume_refuses_writes(self, volume: intern.Array, dtype: str) -> None:
        self._need_read_only()
        before = volume[...]
        resource = volume.resource
        assert not (isinstance(resource, SupportsWrite) and resource.writable), \
            f"{volume.uri} says it is writable; a read-only driver's volume says writable = False"
        box = Box.from_shape(tuple(min(2, n) for n in self.shape))
        with pytest.raises(ReadOnlyError):
            volume.write(box, np.zeros(box.shape, dtype))
        with pytest.raises(ReadOnlyError):
            volume[...] = np.zeros(self.shape, dtype)
        _assert_same(intern.array(volume.uri)[...], before, f"{volume.uri} after refused writes")
