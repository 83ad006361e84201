"""The conformance kit on the core's own ``mem://`` driver: 3-D, 4-D (c, z, y, x) and (t, z, y, x), read-only.

The reference implementation is the backdoor zarr-python's store tests use: the arrays the volume keeps, read and
written without going through the driver's ``read`` and ``write``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest

import intern
from intern._builtin.mem import MemRemote
from intern._uri import parse_uri
from intern.testing import Reference, StoredVolume, VolumeDriverTests, reference_data

_run = itertools.count()


def read_levels(volume: intern.Array, scale: int) -> np.ndarray:
    """The level's array as the mem:// store holds it."""
    return volume.resource.levels[scale].copy()


def write_levels(uri: str, stored: StoredVolume) -> None:
    """Store ``stored`` as mem:// holds volumes: one array per level, put in place without the driver's write."""
    remote, name = MemRemote.from_uri(parse_uri(uri))
    volume = remote.create(name, stored.metadata)
    for level, data in zip(volume.levels, stored.levels, strict=True):
        level[...] = data


MEM_BACKDOOR = Reference("mem backdoor", read=read_levels, write=write_levels)


class _Mem(VolumeDriverTests):
    @pytest.fixture
    def new_uri(self) -> Callable[[str], str]:
        run = next(_run)
        return lambda name: f"mem://conformance{run}/{name}"

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        return [MEM_BACKDOOR]


class TestMem(_Mem):
    pass


class TestMemChannels(_Mem):
    """(c, z, y, x): two channels, each chunk one channel deep."""

    dtypes = ("uint16", "float32")
    shape = (2, 20, 37, 45)
    chunks = (1, 8, 16, 16)
    random_boxes = 6


class TestMemTime(_Mem):
    """(t, z, y, x): the first axis named as time."""

    dtypes = ("uint8",)
    shape = (3, 12, 21, 19)
    chunks = (2, 8, 16, 16)
    axes = ("t", "z", "y", "x")
    random_boxes = 4

    def test_axes_are_as_created(self, volume: intern.Array) -> None:
        assert volume.axes == self.axes


class TestMemReadOnly(_Mem):
    """Volumes the test fills by the backdoor and then opens read-only: reads, metadata, refused writes."""

    dtypes = ("uint8", "float32")
    supports_create = False
    supports_write = False

    @pytest.fixture
    def volume(self, new_uri: Callable[[str], str], dtype: str) -> intern.Array:
        made = intern.create(new_uri(f"ro-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                             voxel_size=self.voxel_size)
        made.resource.levels[0][...] = reference_data(self.shape, dtype)
        made.resource.writable = False  # as intern._services.as_volume freezes a numpy array it wraps
        return intern.array(made.uri)
