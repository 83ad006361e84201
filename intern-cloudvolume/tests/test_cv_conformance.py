"""The core's driver conformance kit (:mod:`intern.testing`), run against precomputed:// volumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from intern import testing


class TestPrecomputedConformance(testing.VolumeDriverTests):
    """Local volumes, raw encoding, chunks uncompressed (the default on local disks)."""

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"precomputed://file://{tmp_path}/{name}"


class TestGzipConformance(testing.VolumeDriverTests):
    """Chunks gzipped as cloud-volume stores them (``<chunk>.gz``), given through the URL's query."""

    dtypes = ("uint8", "uint64")
    random_boxes = 6

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"precomputed://file://{tmp_path}/{name}?compress=gzip"


class TestCompressedSegmentationConformance(testing.VolumeDriverTests):
    dtypes = ("uint32", "uint64")
    random_boxes = 6

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"precomputed://{tmp_path}/{name}?encoding=compressed_segmentation"
