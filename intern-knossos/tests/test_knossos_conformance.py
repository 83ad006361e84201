"""The core's driver conformance kit (:mod:`intern.testing`), run on the cube encodings intern-knossos writes.

The kit creates its pyramid test volume from the first dtype with the default kind, an image; KNOSSOS holds uint64
only as segmentation cubes, so the ``.seg`` encoding (uint64 only) is covered by ``test_knossos_format.py`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import intern
from intern.testing import VolumeDriverTests


class _KnossosKit(VolumeDriverTests):
    extension = ""

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        query = f"?extension={self.extension}" if self.extension else ""
        return lambda name: f"knossos://{tmp_path}/{name}{query}"

    @pytest.fixture
    def volume(self, new_uri: Callable[[str], str], dtype: str) -> intern.Array:
        # KNOSSOS keeps uint64 only as segmentation ("overlay") cubes; the kit creates images by default
        kind = "segmentation" if dtype == "uint64" else "image"
        return intern.create(new_uri(f"conf-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                             voxel_size=self.voxel_size, kind=kind)


class TestRawAndSnappyCubes(_KnossosKit):
    """The defaults: ``.raw`` image cubes and ``.seg.sz.zip`` segmentation cubes."""

    dtypes = ("uint8", "uint64")


class TestPngCubes(_KnossosKit):
    dtypes = ("uint8",)
    extension = ".png"
    random_boxes = 6
