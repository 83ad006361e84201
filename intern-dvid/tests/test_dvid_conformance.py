"""The core's driver conformance kit, run against dvid:// on the test server.

The kit's reference implementation is DVID's HTTP API spoken directly with ``requests`` (``/work/shared/specs``'s
``dvid-http.md``): ``GET .../raw/0_1_2/...`` reads what the driver stored, little-endian, x fastest; new instances
made with ``POST /api/repo/{uuid}/instance`` and filled with block-aligned ``POST .../raw`` are what the driver must
read. Grayscale pyramids are instances ``NAME_1``, ``NAME_2``; a labelmap's levels are read with ``scale=``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import requests

import intern
from intern.plugin import Mesh, Skeleton
from intern.testing import Reference, ServiceContractTests, StoredVolume, VolumeDriverTests, reference_data
from intern_dvid.testing import DvidTestServer


def _parts(uri: str) -> tuple[str, str, str]:
    """(http://host:port, uuid, instance) of a dvid:// URI."""
    host, uuid, name = uri.split("://", 1)[1].split("?", 1)[0].split("/")[:3]
    return f"http://{host}", uuid, name


def read_raw(volume: intern.Array, scale: int) -> np.ndarray:
    base, uuid, name = _parts(volume.uri)
    info = requests.get(f"{base}/api/node/{uuid}/{name}/info", timeout=30).json()
    labels = info["Base"]["TypeName"] != "uint8blk"
    instance, params = (name, {"scale": str(scale)}) if labels else (f"{name}_{scale}" if scale else name, {})
    nz, ny, nx = volume.at_scale(scale).shape
    resp = requests.get(f"{base}/api/node/{uuid}/{instance}/raw/0_1_2/{nx}_{ny}_{nz}/0_0_0", params=params, timeout=30)
    resp.raise_for_status()
    return np.frombuffer(resp.content, dtype="<u8" if labels else "u1").reshape(nz, ny, nx).astype(volume.dtype)


def write_raw(uri: str, stored: StoredVolume) -> list[np.ndarray]:
    """New instances filled by block-aligned POSTs (the data padded with zeros to whole blocks); a labelmap gets its
    finest level only, as it computes the others."""
    base, uuid, name = _parts(uri)
    meta = stored.metadata
    labels = meta.dtype == "uint64"
    levels = stored.levels[:1] if labels else stored.levels  # a labelmap computes its own coarser levels
    held = []
    # for a labelmap ``levels`` holds the finest level only: the scales beyond it are left to DVID
    for s, (level, data) in enumerate(zip(meta.scales, levels, strict=False)):
        instance = f"{name}_{s}" if s else name
        block = level.chunks
        body = {"typename": "labelmap" if labels else "uint8blk", "dataname": instance, "versioned": "true",
                "BlockSize": ",".join(str(b) for b in block[::-1]),
                "VoxelSize": ",".join(f"{v:g}" for v in level.voxel_size[::-1]),
                "VoxelUnits": "nanometers,nanometers,nanometers"}
        requests.post(f"{base}/api/repo/{uuid}/instance", json=body, timeout=30).raise_for_status()
        padded = np.zeros(tuple(-(-n // b) * b for n, b in zip(data.shape, block, strict=True)), data.dtype)
        padded[tuple(slice(0, n) for n in data.shape)] = data
        nz, ny, nx = padded.shape
        requests.post(f"{base}/api/node/{uuid}/{instance}/raw/0_1_2/{nx}_{ny}_{nz}/0_0_0",
                      data=padded.astype(padded.dtype.newbyteorder("<")).tobytes(), timeout=30).raise_for_status()
        held.append(data)
    return held


DVID_HTTP = Reference("DVID HTTP API", read=read_raw, write=write_raw)


class TestDvidConformance(VolumeDriverTests):
    # DVID holds uint8 grayscale (uint8blk) and uint64 labels (labelmap); grayscale comes first so that the
    # pyramid test writes every level (labelmap computes its lower levels itself)
    dtypes = ("uint8", "uint64")
    kinds = {"uint64": "segmentation"}
    writable_scales = ("uint8",)  # a labelmap computes its coarser levels from scale 0
    pyramid_factors = (2.0, 2.0, 2.0)  # a labelmap's levels are 2x coarser on every axis
    shape_in_whole_chunks = True  # a volume intern did not create is as large as DVID's extents: whole blocks

    @pytest.fixture
    def new_uri(self, server: DvidTestServer) -> Callable[[str], str]:
        root = server.new_repo("conformance")
        return lambda name: f"dvid://{server.address}/{root}/{name}"

    @pytest.fixture
    def references(self) -> Sequence[Reference]:
        return [DVID_HTTP]


class TestDvidCommittedConformance(VolumeDriverTests):
    """A committed version is read-only: the kit reads it and checks that writes are refused."""

    dtypes = ("uint8",)
    supports_create = False
    supports_write = False

    @pytest.fixture
    def new_uri(self, server: DvidTestServer) -> Callable[[str], str]:
        root = server.new_repo("committed")
        return lambda name: f"dvid://{server.address}/{root}/{name}"

    @pytest.fixture
    def volume(self, new_uri: Callable[[str], str], dtype: str) -> intern.Array:
        made = intern.create(new_uri(f"conf-{dtype}"), shape=self.shape, dtype=dtype, chunks=self.chunks,
                             voxel_size=self.voxel_size)
        made[...] = reference_data(self.shape, dtype)
        made.resource.commit("kit data")
        return intern.array(made.uri)


# -- services DVID answers itself ---------------------------------------------------------------------------------
def _keyvalue(uri: str, suffix: str, items: Mapping[str, bytes]) -> None:
    base, uuid, name = _parts(uri)
    body = {"typename": "keyvalue", "dataname": f"{name}{suffix}", "versioned": "true"}
    requests.post(f"{base}/api/repo/{uuid}/instance", json=body, timeout=30).raise_for_status()
    for key, value in items.items():
        requests.post(f"{base}/api/node/{uuid}/{name}{suffix}/key/{key}", data=value, timeout=30).raise_for_status()


class TestDvidServices(ServiceContractTests):
    server_services = ("label_at", "size", "bounding_box")

    @pytest.fixture
    def new_uri(self, server: DvidTestServer) -> Callable[[str], str]:
        root = server.new_repo("services")
        return lambda name: f"dvid://{server.address}/{root}/{name}"

    @pytest.fixture
    def store_meshes(self) -> Callable[[intern.Array, Mapping[int, Any]], None]:
        def store(volume: intern.Array, meshes: Mapping[int, Mesh]) -> None:
            _keyvalue(volume.uri, "_meshes", {f"{label}.ngmesh": m.to_precomputed() for label, m in meshes.items()})

        return store

    @pytest.fixture
    def store_skeletons(self) -> Callable[[intern.Array, Mapping[int, Any]], None]:
        def store(volume: intern.Array, skeletons: Mapping[int, Skeleton]) -> None:
            # DVID's convention (NeuTu, neuPrint): SWC in voxel units of scale 0
            vz, vy, vx = volume.voxel_size
            in_voxels = {label: Skeleton(s.vertices / np.array([vx, vy, vz]), s.edges, radii=s.radii / np.mean([vx, vy]))
                         for label, s in skeletons.items()}
            _keyvalue(volume.uri, "_skeletons", {f"{label}_swc": s.to_swc().encode() for label, s in in_voxels.items()})

        return store


def test_reference_reads_bytes_little_endian(server: DvidTestServer) -> None:
    """The reference reader is itself checked against bytes put on the server by hand."""
    root = server.new_repo("reference")
    body = {"typename": "labelmap", "dataname": "seg", "versioned": "true", "BlockSize": "16,16,8"}
    requests.post(f"{server.url}/api/repo/{root}/instance", json=body, timeout=30).raise_for_status()
    values = np.arange(8 * 16 * 16, dtype="<u8").reshape(8, 16, 16) + 2**40
    requests.post(f"{server.url}/api/node/{root}/seg/raw/0_1_2/16_16_8/0_0_0", data=values.tobytes(),
                  timeout=30).raise_for_status()
    got = read_raw(intern.array(f"dvid://{server.address}/{root}/seg"), 0)
    np.testing.assert_array_equal(got, values)
    assert json.loads(requests.get(f"{server.url}/api/node/{root}/seg/label/3_2_1", timeout=30).text)["Label"] == \
        int(values[1, 2, 3])
