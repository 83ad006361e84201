"""The core's driver conformance kit (:mod:`intern.testing`), run against precomputed:// volumes.

The kit checks the stored chunks both ways against cloud-volume (which reads what intern writes, and writes volumes
with its own ``create_new_info``, ``add_scale`` and chunk encoders for intern to read) and against TensorStore's
``neuroglancer_precomputed`` driver (a second reader, for the encodings it follows: uncompressed raw chunks and
compressed_segmentation; it does not read cloud-volume's ``.gz`` files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intern
from intern import testing
from intern.testing import Reference, StoredVolume


def _url(uri: str) -> str:
    """The file:// URL of a precomputed:// URI (its query is intern's, not the store's)."""
    rest = uri.split("://", 1)[1].split("?", 1)[0]
    return rest if rest.startswith("file://") else f"file://{rest}"


def _to_intern(xyzc: np.ndarray, ndim: int) -> np.ndarray:
    """(x, y, z, c) as precomputed readers return it -> intern's (c,) z, y, x."""
    czyx = np.ascontiguousarray(np.asarray(xyzc).transpose(3, 2, 1, 0))
    return czyx[0] if ndim == 3 else czyx


def read_with_cloudvolume(volume: intern.Array, scale: int) -> np.ndarray:
    from cloudvolume import CloudVolume

    cv = CloudVolume(_url(volume.uri), mip=scale, fill_missing=True, progress=False)
    return _to_intern(cv[cv.bounds], len(volume.shape))


def read_with_tensorstore(volume: intern.Array, scale: int) -> np.ndarray:
    import tensorstore as ts

    path = _url(volume.uri).removeprefix("file://")
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": path},
                     "scale_index": scale}, read=True).result()
    return _to_intern(store.read().result(), len(volume.shape))


def cloudvolume_writer(encoding: str = "raw", compress: Any = None) -> Callable[[str, StoredVolume], None]:
    """A writer making volumes the way cloud-volume users do: a new info, ``add_scale`` per level, chunks written."""

    def write(uri: str, stored: StoredVolume) -> None:
        from cloudvolume import CloudVolume

        meta = stored.metadata
        base = meta.scales[0]
        channels = meta.shape[0] if "c" in meta.axes else 1
        info = CloudVolume.create_new_info(
            num_channels=channels, layer_type=meta.kind, data_type=meta.dtype, encoding=encoding,
            resolution=list(base.voxel_size[::-1]), voxel_offset=[0, 0, 0], volume_size=list(base.shape[-3:][::-1]),
            chunk_size=list(base.chunks[-3:][::-1]))
        url = _url(uri)
        cv = CloudVolume(url, info=info, compress=compress, progress=False)
        for level in meta.scales[1:]:
            cv.add_scale([int(f) for f in level.downsample[::-1]], chunk_size=list(level.chunks[-3:][::-1]))
        cv.commit_info()
        for mip, data in enumerate(stored.levels):
            xyzc = (data[None] if data.ndim == 3 else data).transpose(3, 2, 1, 0)
            CloudVolume(url, mip=mip, compress=compress, progress=False)[...] = np.asfortranarray(xyzc)

    return write


class _PrecomputedKit(testing.VolumeDriverTests):
    query = ""
    encoding = "raw"
    compress: Any = None
    tensorstore_reads = True

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"precomputed://file://{tmp_path}/{name}{self.query}"

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        found = [Reference("cloud-volume", read=read_with_cloudvolume,
                           write=cloudvolume_writer(self.encoding, self.compress))]
        if self.tensorstore_reads:
            found.append(Reference("tensorstore", read=read_with_tensorstore))
        return found


class TestPrecomputedConformance(_PrecomputedKit):
    """Local volumes, raw encoding, chunks uncompressed (the default on local disks)."""


class TestPrecomputedChannelsConformance(_PrecomputedKit):
    """(c, z, y, x): precomputed keeps every channel of a chunk in one file."""

    dtypes = ("uint16",)
    shape = (2, 20, 37, 45)
    chunks = (2, 8, 16, 16)
    random_boxes = 4


class TestGzipConformance(_PrecomputedKit):
    """Chunks gzipped as cloud-volume stores them (``<chunk>.gz``), given through the URL's query."""

    dtypes = ("uint8", "uint64")
    random_boxes = 6
    query = "?compress=gzip"
    compress = "gzip"
    tensorstore_reads = False  # TensorStore does not follow cloud-volume's .gz files


class TestCompressedSegmentationConformance(_PrecomputedKit):
    dtypes = ("uint32", "uint64")
    kinds = {"uint32": "segmentation", "uint64": "segmentation"}
    random_boxes = 6
    query = "?encoding=compressed_segmentation"
    encoding = "compressed_segmentation"


# -- services precomputed stores: meshes and skeletons ----------------------------------------------------------------
def _add_to_info(volume: intern.Array, key: str) -> Path:
    root = Path(_url(volume.uri).removeprefix("file://"))
    info = json.loads((root / "info").read_text())
    info[key] = key
    (root / "info").write_text(json.dumps(info))
    return root / key


class TestPrecomputedServices(testing.ServiceContractTests):
    """Meshes and skeletons stored beside a segmentation (legacy meshes, precomputed skeletons), served by
    cloud-volume, against intern-mesh's local ones."""

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        return lambda name: f"precomputed://file://{tmp_path}/{name}"

    @pytest.fixture
    def store_meshes(self) -> Callable[[intern.Array, Any], None]:
        from intern.plugin import write_precomputed_mesh_dir

        return lambda volume, meshes: write_precomputed_mesh_dir(_add_to_info(volume, "mesh"), meshes)

    @pytest.fixture
    def store_skeletons(self) -> Callable[[intern.Array, Any], None]:
        from intern.plugin import write_precomputed_skeleton_dir

        return lambda volume, skeletons: write_precomputed_skeleton_dir(_add_to_info(volume, "skeletons"), skeletons)
