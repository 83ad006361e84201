"""Meshes a datastore stores beside the ones intern-mesh makes locally from the same voxels.

Each driver's own tests check the stored meshes alone; comparing them with local meshing needs intern-mesh as well,
so those checks live here, with the DVID test server and cloud-volume's files as the datastores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

import intern
from intern._products import Mesh
from intern.errors import CapabilityUnavailableError

RESOLUTION = (8.0, 6.0, 20.0)  # x, y, z nm: anisotropic, so an axis mix-up shows
VOXEL = (40.0, 8.0, 4.0)  # z, y, x nm, for the DVID volume
BOX5 = (slice(4, 20), slice(8, 40), slice(10, 30))


def _segmentation() -> np.ndarray:
    """(z, y, x) labels: a ball (1), a box (2) touching it, and a small ball (3) apart."""
    z, y, x = np.mgrid[0:24, 0:40, 0:48]
    seg = np.zeros((24, 40, 48), np.uint64)
    seg[((x - 14) * 8.0) ** 2 + ((y - 18) * 6.0) ** 2 + ((z - 11) * 20.0) ** 2 < 70.0**2] = 1
    seg[4:18, 8:30, 24:40] = 2
    seg[((x - 40) * 8.0) ** 2 + ((y - 33) * 6.0) ** 2 + ((z - 18) * 20.0) ** 2 < 30.0**2] = 3
    return seg


@pytest.fixture
def precomputed(tmp_path: Path) -> str:
    """A precomputed segmentation with legacy meshes made by zmesh (as igneous makes them) stored beside it."""
    import zmesh
    from cloudvolume.mesh import Mesh as CVMesh

    seg = _segmentation()
    uri = f"precomputed://{tmp_path}/seg"
    a = intern.create(uri, shape=seg.shape, dtype="uint64", chunks=(8, 16, 16), kind="segmentation",
                      voxel_size=RESOLUTION[::-1])
    a[...] = seg
    cv = a.resource.cloudvolume()
    cv.info["mesh"] = "mesh"
    cv.commit_info()
    mesher = zmesh.Mesher(RESOLUTION)
    mesher.mesh(np.asfortranarray(seg.T))
    made = [mesher.get(label, normals=False) for label in mesher.ids()]
    cv = intern.array(uri).resource.cloudvolume()
    cv.mesh.put([CVMesh(m.vertices, m.faces, None, segid=int(label)) for label, m in zip(mesher.ids(), made, strict=True)])
    return uri


def test_precomputed_local_meshes_agree_with_the_stored_ones(precomputed: str) -> None:
    """intern-mesh meshes the segmentation itself: the same labels, and surfaces within a voxel of the stored."""
    assert intern.resolve("mesh", intern.open(precomputed)).server_side
    resolution = intern.resolve("mesh", intern.open(precomputed), prefer="local")
    assert not resolution.server_side
    local = intern.mesh(precomputed, prefer="local")
    server = intern.mesh(precomputed, prefer="server")
    assert sorted(local) == sorted(server) == [1, 2, 3]
    voxel = max(RESOLUTION)
    for label in server:
        a, b = local[label].vertices, server[label].vertices
        assert cKDTree(b).query(a)[0].max() <= voxel, f"label {label}: a local vertex is over a voxel away"
        assert cKDTree(a).query(b)[0].max() <= voxel, f"label {label}: a stored vertex is over a voxel away"
        assert local[label].area == pytest.approx(server[label].area, rel=0.15)


def _cube(z0: int, y0: int, x0: int, z1: int, y1: int, x1: int, label: int) -> Mesh:
    """The box's surface as a closed triangle mesh, (x, y, z) in nm."""
    vz, vy, vx = VOXEL
    corners = np.array([[x, y, z] for z in (z0 * vz, z1 * vz) for y in (y0 * vy, y1 * vy) for x in (x0 * vx, x1 * vx)])
    faces = [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
             [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
    return Mesh(corners, faces, id=label)


@pytest.fixture(scope="module")
def dvid_root() -> Iterator[str]:
    from intern_dvid.testing import DvidTestServer

    with DvidTestServer() as server:
        yield f"dvid://{server.address}/{server.new_repo('meshes')}"


@pytest.fixture
def dvid_segmentation(dvid_root: str) -> intern.Array:
    """Label 5 fills BOX5; DVID stores its mesh (the box's surface) in the ``seg_meshes`` keyvalue instance."""
    seg = intern.create(f"{dvid_root}/seg", shape=(24, 48, 40), dtype="uint64", kind="segmentation",
                        chunks=(8, 16, 16), voxel_size=VOXEL, exist_ok=True)
    data = np.zeros(seg.shape, np.uint64)
    data[BOX5] = 5
    seg[...] = data
    meshes = seg.resource.node.create_keyvalue("seg_meshes", exist_ok=True)
    meshes.put("5.ngmesh", _cube(4, 8, 10, 20, 40, 30, 5).to_precomputed())
    return intern.array(seg.uri)


def test_dvid_local_meshes_agree_with_the_stored_ones(dvid_segmentation: intern.Array) -> None:
    seg = dvid_segmentation
    assert not intern.resolve("mesh", seg, prefer="local").server_side
    local = intern.mesh(seg, ids=[5], prefer="local")[5]
    stored = intern.mesh(seg, ids=[5])[5]
    # the same body, meshed from its voxels: its bounds agree with the stored box within a voxel
    lo, hi = local.bounds
    slo, shi = stored.bounds
    tolerance = np.array([VOXEL[2], VOXEL[1], VOXEL[0]])
    assert (np.abs(lo - slo) <= tolerance).all() and (np.abs(hi - shi) <= tolerance).all()


def test_dvid_declines_a_box_and_the_local_mesher_takes_over(dvid_segmentation: intern.Array) -> None:
    seg = dvid_segmentation
    # stored meshes are whole bodies: a box is declined by the server and meshed locally instead
    with pytest.raises(CapabilityUnavailableError, match="whole bodies"):
        intern.mesh(seg, ids=[5], box=intern.Box((0, 0, 0), (4, 4, 4)), prefer="server")
    resolution = intern.resolve("mesh", seg)
    outcome = resolution.run(ids=[5], box=intern.Box((0, 0, 0), (16, 32, 32)), scale=0)
    assert 5 in outcome.value and not outcome.server_side and "declined when called" in outcome.explain()
    assert [c.name for c in outcome.declined] == ["dvid-server"] and resolution.server_side  # the report is unchanged
