"""The core's driver conformance kit (:mod:`intern.testing`), run against zarr:// and h5://."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import intern.testing as testing


class TestZarrConformance(testing.VolumeDriverTests):
    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"zarr://{tmp_path}/{name}.zarr"


class TestZarrPythonEngineConformance(testing.VolumeDriverTests):
    """The engine URLs use, on local stores, so the kit covers it without a network."""

    dtypes = ("uint8", "uint64")
    random_boxes = 6

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"zarr://{tmp_path}/{name}.zarr?engine=zarr-python"


class TestHDF5Conformance(testing.VolumeDriverTests):
    supports_scales = False  # intern-zarr keeps one dataset per HDF5 volume

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"h5://{tmp_path}/volumes.h5/{name}"
