"""intern.copy through every driver that stores volumes: zarr -> X -> zarr is identical, at random boxes too.

Each hop is a real store: precomputed files written through cloud-volume, the DVID-compatible test server over HTTP,
KNOSSOS cubes, an HDF5 file, a BigTIFF, and memory. Shapes and chunks suit every format (DVID's 32^3 blocks,
KNOSSOS's cubes), dtype uint8 (which all of them hold)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern

SHAPE = (40, 70, 90)
_n = itertools.count()


@pytest.fixture(scope="module")
def dvid_server():
    from intern_dvid.testing import DvidTestServer

    with DvidTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("hops")
    data = np.random.default_rng(11).integers(0, 255, SHAPE, dtype=np.uint8)
    a = intern.create(f"zarr://{root}/src.zarr", shape=SHAPE, dtype="uint8", chunks=(16, 32, 32),
                      voxel_size=(40, 8, 8))
    a[...] = data
    return a, data


def _hop(kind: str, root, dvid_server) -> str:
    name = f"hop{next(_n)}"
    if kind == "precomputed":
        return f"precomputed://file://{root}/{name}"
    if kind == "dvid":
        return f"dvid://{dvid_server.address}/{dvid_server.new_repo(name)}/{name}"
    if kind == "knossos":
        return f"knossos://{root}/{name}"
    if kind == "hdf5":
        return f"h5://{root}/{name}.h5/raw"
    if kind == "tiff":
        return f"tiff://{root}/{name}.tif"
    return f"mem://hops/{name}"


KINDS = ["precomputed", "dvid", "knossos", "hdf5", "tiff", "mem"]


@pytest.mark.parametrize("kind", KINDS)
def test_zarr_to_x_to_zarr_is_identical(kind, source, tmp_path, dvid_server):
    src, data = source
    hop = _hop(kind, tmp_path, dvid_server)
    there = intern.copy(src.uri, hop, progress=False)
    assert there.verified and there.chunks > 0
    np.testing.assert_array_equal(intern.array(hop)[...], data)
    back = f"zarr://{tmp_path}/back-{kind}.zarr"
    intern.copy(hop, back, progress=False)
    np.testing.assert_array_equal(intern.array(back)[...], data)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["precomputed", "dvid", "knossos"]), data=st.data())
def test_random_boxes_through_remote_formats(kind, data, source, tmp_path, dvid_server):
    src, full = source
    start = [data.draw(st.integers(0, n - 1)) for n in SHAPE]
    stop = [data.draw(st.integers(a + 1, n)) for a, n in zip(start, SHAPE, strict=True)]
    box = intern.Box(tuple(start), tuple(stop))
    hop = _hop(kind, tmp_path, dvid_server)
    intern.copy(src.uri, hop, box=box, progress=False)
    np.testing.assert_array_equal(intern.array(hop)[box.to_slices()], full[box.to_slices()])
