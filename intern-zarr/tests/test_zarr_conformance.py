"""The core's driver conformance kit (:mod:`intern.testing`), run against zarr:// and h5:// (tiff:// has its own file).

Each class hands the kit independent implementations of its format, which check the stored bytes both ways:
TensorStore and zarr-python read the OME-Zarr groups intern writes, and zarr-python writes OME-Zarr 0.5 groups by
hand (metadata written here, from the NGFF specification) for intern to read; h5py reads and writes HDF5 datasets
(with CREMI's ``resolution`` attribute).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

import intern
import intern.testing as testing
from intern.testing import Reference, StoredVolume

_NGFF_TYPES = {"t": "time", "c": "channel"}


# -- Zarr: TensorStore and zarr-python ------------------------------------------------------------------------------
def _local(uri: str) -> Path:
    return Path(uri.split("://", 1)[1].split("?", 1)[0])


def _dataset_path(group: Path, scale: int) -> Path:
    """The array of level ``scale``, found from the group's NGFF 0.5 metadata as any OME-Zarr reader finds it."""
    meta = json.loads((group / "zarr.json").read_text())
    if meta["node_type"] == "array":
        return group
    return group / meta["attributes"]["ome"]["multiscales"][0]["datasets"][scale]["path"]


def read_with_tensorstore(volume: intern.Array, scale: int) -> np.ndarray:
    import tensorstore as ts

    path = _dataset_path(_local(volume.uri), scale)
    store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}, read=True).result()
    return store.read().result()


def read_with_zarr_python(volume: intern.Array, scale: int) -> np.ndarray:
    import zarr

    return zarr.open_array(store=str(_dataset_path(_local(volume.uri), scale)), mode="r")[...]


def write_ome_zarr(uri: str, stored: StoredVolume) -> None:
    """An OME-Zarr 0.5 multiscales image by zarr-python: axes in nanometres, one scale transform per dataset."""
    import zarr

    meta = stored.metadata
    axes = [{"name": a, "type": _NGFF_TYPES.get(a, "space"), **({} if a in "tc" else {"unit": "nanometer"})}
            for a in meta.axes]
    lead = [1.0] * (len(meta.axes) - 3)
    datasets = [{"path": f"s{s}", "coordinateTransformations": [{"type": "scale", "scale": lead + list(level.voxel_size)}]}
                for s, level in enumerate(meta.scales)]
    group = zarr.create_group(store=str(_local(uri)), zarr_format=3, attributes={
        "ome": {"version": "0.5", "multiscales": [{"name": "kit", "axes": axes, "datasets": datasets}]}})
    for s, (level, data) in enumerate(zip(meta.scales, stored.levels, strict=True)):
        arr = group.create_array(name=f"s{s}", shape=data.shape, chunks=level.chunks, dtype=data.dtype, fill_value=0,
                                 dimension_names=list(meta.axes))
        arr[...] = data


ZARR_REFERENCES = (
    Reference("tensorstore", read=read_with_tensorstore),
    Reference("zarr-python", read=read_with_zarr_python, write=write_ome_zarr),
)


class _ZarrKit(testing.VolumeDriverTests):
    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"zarr://{tmp_path}/{name}.zarr"

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        return ZARR_REFERENCES


class TestZarrConformance(_ZarrKit):
    creation_options = {"compressor": "none"}


class TestZarrChannelsConformance(_ZarrKit):
    """(c, z, y, x) volumes: OME-Zarr's channel axis."""

    dtypes = ("uint16",)
    shape = (2, 20, 37, 45)
    chunks = (1, 8, 16, 16)
    random_boxes = 4


class TestZarrPythonEngineConformance(_ZarrKit):
    """The engine URLs use, on local stores, so the kit covers it without a network."""

    dtypes = ("uint8", "uint64")
    random_boxes = 6

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"zarr://{tmp_path}/{name}.zarr?engine=zarr-python"


# -- HDF5: h5py ------------------------------------------------------------------------------------------------------
def _h5(uri: str) -> tuple[str, str]:
    file, _, inner = uri.split("://", 1)[1].split("?", 1)[0].partition(".h5/")
    return file + ".h5", inner


def read_with_h5py(volume: intern.Array, scale: int) -> np.ndarray:
    import h5py

    file, inner = _h5(volume.uri)
    with h5py.File(file, "r") as f:
        return f[inner][...]


def write_with_h5py(uri: str, stored: StoredVolume) -> None:
    """A chunked dataset with CREMI's ``resolution`` attribute (z, y, x in nm)."""
    import h5py

    file, inner = _h5(uri)
    level = stored.metadata.scales[0]
    with h5py.File(file, "a") as f:
        ds = f.create_dataset(inner, data=stored.levels[0], chunks=level.chunks)
        ds.attrs["resolution"] = np.asarray(level.voxel_size, dtype=np.float64)


class TestHDF5Conformance(testing.VolumeDriverTests):
    supports_scales = False  # intern-zarr keeps one dataset per HDF5 volume
    creation_options = {"compression": "gzip"}

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"h5://{tmp_path}/volumes.h5/{name}"

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        return [Reference("h5py", read=read_with_h5py, write=write_with_h5py, scales=1)]
