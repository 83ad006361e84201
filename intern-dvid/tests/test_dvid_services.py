"""Services DVID serves itself: stored meshes and skeletons, labels at points, sparse volumes, label sizes."""

from __future__ import annotations

import numpy as np
import pytest

import intern
from intern.errors import CapabilityUnavailableError, NotFoundError
from intern.plugin import Mesh, Skeleton
from intern_dvid import SparseVolume

VOXEL = (40.0, 8.0, 4.0)  # z, y, x in nm: anisotropic, so axis mix-ups show
BOX5 = (slice(4, 20), slice(8, 40), slice(10, 30))


def _cube(z0: int, y0: int, x0: int, z1: int, y1: int, x1: int, label: int) -> Mesh:
    """The box's surface as a closed triangle mesh, (x, y, z) in nm."""
    vz, vy, vx = VOXEL
    corners = np.array([[x, y, z] for z in (z0 * vz, z1 * vz) for y in (y0 * vy, y1 * vy) for x in (x0 * vx, x1 * vx)])
    faces = [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
             [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
    return Mesh(corners, faces, id=label)


@pytest.fixture
def segmentation(root: str) -> tuple[intern.Array, np.ndarray]:
    seg = intern.create(f"{root}/seg", shape=(24, 48, 40), dtype="uint64", kind="segmentation", chunks=(8, 16, 16),
                        voxel_size=VOXEL)
    data = np.zeros(seg.shape, np.uint64)
    data[BOX5] = 5
    data[0:3, 0:5, 0:7] = 2**50 + 1
    data[10:12, 40:47, 33:39] = 9
    seg[...] = data
    node = seg.resource.node
    meshes = node.create_keyvalue("seg_meshes")
    meshes.put("5.ngmesh", _cube(4, 8, 10, 20, 40, 30, 5).to_precomputed())
    meshes.put("9.ngmesh", _cube(10, 40, 33, 12, 47, 39, 9).to_precomputed())
    meshes.put("notes.json", b"{}")  # other keys are not meshes
    skeletons = node.create_keyvalue("seg_skeletons")
    skeletons.put("5_swc", b"# in voxels of scale 0\n1 0 10 8 4 2 -1\n2 0 29 39 19 1 1\n")
    return intern.array(seg.uri), data


def test_stored_meshes_are_served_by_dvid(segmentation: tuple[intern.Array, np.ndarray]) -> None:
    seg, _ = segmentation
    resolution = intern.resolve("mesh", seg)
    assert resolution.server_side and resolution.implementation == "dvid-server"
    assert "the remote serves it" in resolution.explain()
    meshes = intern.mesh(seg, ids=[5])
    assert meshes[5] == _cube(4, 8, 10, 20, 40, 30, 5)
    everything = intern.mesh(seg)
    assert sorted(everything) == [5, 9] and everything[9].is_closed
    with pytest.raises(NotFoundError, match="prefer='local'"):
        intern.mesh(seg, ids=[2**50 + 1])
    # stored meshes are whole bodies: a box is declined by the server (the hand-over to a local mesher is
    # checked with intern-mesh in tests/test_stored_and_local_meshes.py)
    with pytest.raises(CapabilityUnavailableError, match="whole bodies"):
        intern.mesh(seg, ids=[5], box=intern.Box((0, 0, 0), (4, 4, 4)), prefer="server")


def test_stored_skeletons_are_in_nanometres(segmentation: tuple[intern.Array, np.ndarray]) -> None:
    seg, _ = segmentation
    assert intern.resolve("skeleton", seg).server_side
    skel = intern.skeleton(seg, ids=[5])[5]
    assert isinstance(skel, Skeleton)
    vz, vy, vx = VOXEL
    np.testing.assert_allclose(skel.vertices, [[10 * vx, 8 * vy, 4 * vz], [29 * vx, 39 * vy, 19 * vz]])
    np.testing.assert_array_equal(skel.edges, [[0, 1]])
    as_nm = intern.skeleton(seg, ids=[5], units="nm")[5]
    np.testing.assert_allclose(as_nm.vertices, [[10, 8, 4], [29, 39, 19]])


def test_no_stored_meshes_means_no_server_mesh(root: str) -> None:
    seg = intern.create(f"{root}/plain", shape=(8, 16, 16), dtype="uint64", kind="segmentation", chunks=(8, 16, 16))
    services = seg.resource.remote.server_services(seg.resource)
    assert "mesh" not in services and "skeleton" not in services and "sparsevol" in services
    gray = intern.create(f"{root}/gray", shape=(8, 16, 16), dtype="uint8", chunks=(8, 16, 16))
    assert gray.resource.remote.server_services(gray.resource) == {}


def test_label_at_points_agrees_with_the_volume(segmentation: tuple[intern.Array, np.ndarray]) -> None:
    seg, data = segmentation
    label_at = intern.resolve("label_at", seg)
    assert label_at.server_side
    rng = np.random.default_rng(0)
    points = np.stack([rng.integers(0, n, 200) for n in data.shape], axis=1)
    points[:3] = [[5, 9, 11], [0, 0, 0], [11, 46, 38]]
    labels = label_at(points=points)
    assert labels.dtype == np.uint64
    np.testing.assert_array_equal(labels, data[tuple(points.T)])
    assert label_at(points=(1, 2, 3)) == 2**50 + 1


def test_sparsevol_agrees_with_the_volume(segmentation: tuple[intern.Array, np.ndarray]) -> None:
    seg, data = segmentation
    for label in (5, 9, 2**50 + 1):
        sv = intern.resolve("sparsevol", seg)(label=label)
        assert isinstance(sv, SparseVolume) and sv.label == label
        expected = np.argwhere(data == label)
        np.testing.assert_array_equal(np.array(sorted(map(tuple, sv.coords))), expected)
        box = intern.resolve("bounding_box", seg)(label=label)
        assert box == sv.box
        assert box.to_slices() == tuple(slice(int(a), int(b) + 1) for a, b in zip(expected.min(0), expected.max(0), strict=True))
        np.testing.assert_array_equal(sv.mask(), data[box.to_slices()] == label)
        assert intern.resolve("size", seg)(label=label) == sv.size == len(expected)
    with pytest.raises(NotFoundError, match="no voxels of label 77"):
        intern.resolve("sparsevol", seg)(label=77)
    # DVID's label index has no background: the server declines label 0 and the local scan counts it
    with pytest.raises(CapabilityUnavailableError, match="background"):
        intern.resolve("size", seg, prefer="server")(label=0)
    assert intern.resolve("size", seg)(label=0) == int((data == 0).sum())


def test_sparsevol_follows_versions(segmentation: tuple[intern.Array, np.ndarray]) -> None:
    seg, data = segmentation
    vol = seg.resource
    vol.commit("before")
    child = intern.array(vol.newversion())
    child[0:8, 0:16, 0:16] = 5
    grown = intern.resolve("size", child)(label=5)
    assert grown == int((data == 5).sum()) + 8 * 16 * 16 - int((data[0:8, 0:16, 0:16] == 5).sum())
    assert intern.resolve("size", seg)(label=5) == int((data == 5).sum())
