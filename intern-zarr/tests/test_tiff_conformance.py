"""The core's driver conformance kit (:mod:`intern.testing`), run against tiff:// files and folders of slices.

tifffile is the reference implementation: it reads the BigTIFF files intern creates and writes in place, writes tiled
OME-TIFF files for intern to read, and writes the folders of 2-D slices the read-only class opens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.plugin import VolumeMetadata
from intern.testing import Reference, StoredVolume, VolumeDriverTests, golden_files, kit_volume, reference_data

#: the sample types OME-XML names; tifffile writes others only as plain TIFF without a voxel size
_OME_DTYPES = ("int8", "int16", "int32", "uint8", "uint16", "uint32", "float32", "float64")


def _local(uri: str) -> Path:
    return Path(uri.split("://", 1)[1].split("?", 1)[0])


# -- TIFF: tifffile --------------------------------------------------------------------------------------------------
def read_with_tifffile(volume: intern.Array, scale: int) -> np.ndarray:
    import tifffile

    return tifffile.imread(_local(volume.uri))


def write_with_tifffile(uri: str, stored: StoredVolume) -> None:
    """An OME-TIFF with the voxel size as OME ``PhysicalSize`` in nm, tiled, as microscopes' exporters write."""
    import tifffile

    vz, vy, vx = stored.metadata.scales[0].voxel_size
    tifffile.imwrite(_local(uri), stored.levels[0], ome=True, tile=(16, 16), photometric="minisblack",
                     metadata={"axes": "ZYX", "PhysicalSizeZ": vz, "PhysicalSizeZUnit": "nm", "PhysicalSizeY": vy,
                               "PhysicalSizeYUnit": "nm", "PhysicalSizeX": vx, "PhysicalSizeXUnit": "nm"})


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Golden files as a lab would commit them: the kit's content for its default volume, written once by tifffile,
    one file per dtype."""
    folder = tmp_path_factory.mktemp("golden")
    kit = VolumeDriverTests
    for dtype in ("uint8", "float32"):
        meta = VolumeMetadata.single_scale(shape=kit.shape, dtype=dtype, chunks=kit.chunks, voxel_size=kit.voxel_size)
        write_with_tifffile(f"tiff://{folder / dtype}", kit_volume(meta))
    return folder


class TestTiffConformance(VolumeDriverTests):
    """Multipage BigTIFF files intern creates and writes in place."""

    dtypes = ("uint8", "uint16", "uint32", "uint64", "float32", "int16", "float64")
    supports_scales = False  # one multipage file per volume

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"tiff://{tmp_path}/{name}.tif"

    @pytest.fixture
    def references(self, golden: Path) -> Sequence[Reference]:
        return [Reference("tifffile", read=read_with_tifffile, scales=1),
                Reference("tifffile OME-TIFF", write=write_with_tifffile, dtypes=_OME_DTYPES, scales=1),
                golden_files("golden files of tifffile", golden, destination=_local)]


class TestTiffSlicesConformance(VolumeDriverTests):
    """Folders of 2-D slices written by tifffile: read-only volumes, on the data the test provides."""

    dtypes = ("uint8", "float32")
    supports_create = False
    supports_write = False
    supports_scales = False

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"tiff://{tmp_path}/{name}"

    @pytest.fixture
    def volume(self, tmp_path: Path, dtype: str) -> intern.Array:
        import tifffile

        folder = tmp_path / f"slices-{dtype}"
        folder.mkdir()
        for z, plane in enumerate(reference_data(self.shape, dtype)):
            tifffile.imwrite(folder / f"section_{z}.tif", plane)  # natural order: section_2 before section_10
        voxel = ",".join(f"{v:g}" for v in self.voxel_size)
        return intern.array(f"tiff://{folder}?voxel_size={voxel}")
