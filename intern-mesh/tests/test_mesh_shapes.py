"""Meshes of known shapes: geometry, placement, orientation, the files they are written to, and the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _meshtest import assert_oriented_closed, ball, triangles

import intern
from intern.errors import CapabilityUnavailableError, MetadataError, OutOfBoundsError
from intern.plugin import Box, Mesh, as_volume, remote_for
from intern_mesh import mesh_skimage, mesh_zmesh, write_meshes

VOXEL = (40.0, 8.0, 6.0)  # (z, y, x) nm, deliberately all different


def box_volume(shape: tuple[int, int, int], voxel: tuple[float, float, float]) -> float:
    """Volume of the marching-cubes surface of a box of voxels: the box less its chamfered edges and corners.

    In voxel units the surface cuts every edge by a right triangle of legs 1/2 and every corner by 1/12 extra;
    anisotropic voxels scale the whole figure, so the volume scales by their product.
    """
    lz, ly, lx = shape
    return (lx * ly * lz - (lx + ly + lz) / 2 + 2 / 3) * float(np.prod(voxel))


def test_cube_is_closed_outward_and_has_the_exact_volume() -> None:
    seg = np.zeros((10, 12, 14), np.uint16)
    seg[2:7, 3:10, 4:12] = 5
    m = intern.mesh(seg, voxel_size=VOXEL)[5]
    assert isinstance(m, Mesh) and m.id == 5
    assert_oriented_closed(m)
    assert m.volume == pytest.approx(box_volume((5, 7, 8), VOXEL), rel=1e-6)
    # faces on the voxel boundaries: x from voxel 4 to 12, y 3..10, z 2..7, (x, y, z) order, nm
    lo, hi = m.bounds
    assert lo.tolist() == [4 * 6, 3 * 8, 2 * 40]
    assert hi.tolist() == [12 * 6, 10 * 8, 7 * 40]


@pytest.mark.parametrize("voxel", [(8.0, 8.0, 8.0), (40.0, 4.0, 4.0)])
def test_sphere_area_and_volume(voxel: tuple[float, float, float]) -> None:
    radius = 100.0 if voxel[0] == 8 else 240.0
    shape = tuple(int(2 * radius / v) + 4 for v in voxel)
    m = intern.mesh(ball(shape, voxel, radius).astype(np.uint8), voxel_size=voxel)[1]
    assert_oriented_closed(m)
    assert m.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.02)
    # a marching-cubes sphere is a faceted staircase: a little more area than the sphere, never less
    ratio = m.area / (4 * np.pi * radius**2)
    assert 1.0 < ratio < 1.3
    centre = (m.vertices.min(axis=0) + m.vertices.max(axis=0)) / 2
    np.testing.assert_allclose(centre, [s * v / 2 for s, v in zip(shape[::-1], voxel[::-1], strict=True)], atol=max(voxel))


def test_two_touching_labels_each_closed_and_sharing_their_boundary() -> None:
    seg = np.zeros((8, 9, 16), np.uint32)
    seg[2:6, 2:7, 2:8] = 1
    seg[2:6, 2:7, 8:13] = 2
    meshes = intern.mesh(seg, voxel_size=VOXEL)
    assert sorted(meshes) == [1, 2]
    for label, shape in ((1, (4, 5, 6)), (2, (4, 5, 5))):
        assert_oriented_closed(meshes[label])
        assert meshes[label].volume == pytest.approx(box_volume(shape, VOXEL), rel=1e-6)
    on_plane = [{tuple(v) for v in m.vertices.tolist() if v[0] == 8 * 6} for m in meshes.values()]
    assert on_plane[0] and on_plane[0] == on_plane[1]


def test_every_label_is_returned_and_ids_select() -> None:
    seg = np.zeros((6, 20, 20), np.uint64)
    for i, label in enumerate((3, 2**40, 7)):
        seg[1:5, 2 + 6 * i:6 + 6 * i, 2:18] = label
    everything = intern.mesh(seg)
    assert sorted(everything) == [3, 7, 2**40]
    some = intern.mesh(seg, ids=[7, 2**40, 99, 0])  # 99 has no voxel and 0 is background: both left out
    assert sorted(some) == [7, 2**40]
    assert some[7] == everything[7]
    assert intern.mesh(seg, ids=[]) == {}


def test_placement_adds_box_start_and_level_offset(tmp_path: Path) -> None:
    seg = np.zeros((16, 32, 32), np.uint32)
    seg[5:9, 10:20, 12:22] = 4
    whole = intern.mesh(seg, voxel_size=VOXEL)[4]
    box = Box((4, 8, 8), (12, 24, 28))
    part = intern.mesh(seg, voxel_size=VOXEL, box=box)[4]
    np.testing.assert_array_equal(part.bounds[0], whole.bounds[0])
    assert triangles(part) == triangles(whole)
    # a level whose voxel 0 lies elsewhere in the dataset's frame (precomputed voxel_offset): vertices move with it
    meta = intern.VolumeMetadata(dtype="uint32", kind="segmentation", scales=[intern.ScaleLevel(
        shape=(16, 32, 32), chunks=(8, 16, 16), voxel_size=VOXEL, offset=(100, 200, 300))])
    remote, path, _ = remote_for(f"mem://mesh-offset-{tmp_path.name}")
    vol = remote.create(path, meta)
    intern.array(vol)[...] = seg
    moved = intern.mesh(vol)[4]
    np.testing.assert_allclose(moved.vertices - whole.vertices, np.broadcast_to([300 * 6, 200 * 8, 100 * 40],
                                                                                whole.vertices.shape))


def test_open_at_the_box_without_close() -> None:
    seg = np.zeros((6, 10, 10), np.uint8)
    seg[1:5, 2:8, :] = 1  # runs through the x faces of the volume
    assert intern.mesh(seg)[1].is_closed
    open_mesh = intern.mesh(seg, close=False)[1]
    assert not open_mesh.is_closed
    assert open_mesh.bounds[0][0] == 0.5 and open_mesh.bounds[1][0] == 9.5  # voxel centres of the first/last column


def test_labels_of_every_integer_dtype() -> None:
    base = np.zeros((6, 7, 8), np.uint8)
    base[1:5, 2:6, 2:7] = 1
    reference = intern.mesh(base)[1]
    for dtype in ("bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64"):
        assert intern.mesh(base.astype(dtype))[1] == reference
    assert intern.mesh(base, ids=[257]) == {}  # 257 is no uint8 label (and must not wrap around to 1)
    negative = base.astype(np.int32) * -1
    with pytest.raises(MetadataError, match="negative"):
        intern.mesh(negative)


def test_errors_are_clear() -> None:
    seg = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(OutOfBoundsError):
        intern.mesh(seg, box=Box((0, 0, 0), (5, 4, 4)))
    with pytest.raises(OutOfBoundsError):
        intern.mesh(seg, scale=1)
    with pytest.raises(TypeError):
        intern.mesh(seg, ids=["a"])
    with pytest.raises(ValueError, match="simplify"):
        intern.mesh(seg, simplify=-3)
    image = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(CapabilityUnavailableError, match="needs a segmentation"):
        intern.mesh(as_volume(image, kind="image"))


def test_skimage_fallback_agrees_with_zmesh() -> None:
    seg = np.zeros((20, 24, 26), np.uint32)
    seg[ball(seg.shape, VOXEL, 300, centre=(400, 100, 80))] = 1
    seg[3:15, 14:22, 4:24] = 2
    z = mesh_zmesh(as_volume(seg, voxel_size=VOXEL))
    s = intern.mesh(seg, voxel_size=VOXEL, prefer="skimage")
    assert sorted(z) == sorted(s) == [1, 2]
    for label in z:
        assert_oriented_closed(s[label])
        assert s[label].volume == pytest.approx(z[label].volume, rel=0.01)
        assert s[label].area == pytest.approx(z[label].area, rel=0.03)
        # both put vertices on the same half-voxel grid
        assert {tuple(v) for v in s[label].vertices.tolist()} == {tuple(v) for v in z[label].vertices.tolist()}
    assert mesh_skimage(as_volume(seg), ids=[2]).keys() == {2}


@pytest.mark.parametrize("voxel", [(8.0, 8.0, 8.0), (40.0, 4.0, 4.0)])
def test_simplification_keeps_its_error_bound(voxel: tuple[float, float, float]) -> None:
    from scipy.spatial import cKDTree

    radius = 160.0 if voxel[0] == 8 else 240.0
    shape = tuple(int(2 * radius / v) + 4 for v in voxel)
    seg = ball(shape, voxel, radius).astype(np.uint8)
    full = intern.mesh(seg, voxel_size=voxel)[1]
    bound = max(voxel)
    simple = intern.mesh(seg, voxel_size=voxel, simplify=bound)[1]
    assert len(simple.faces) < len(full.faces) / 3
    assert_oriented_closed(simple)
    assert simple.volume == pytest.approx(full.volume, rel=0.03)
    # every simplified vertex lies within the bound of the original surface (sampled densely)
    t = full.vertices.astype(np.float64)[full.faces]
    w = np.array([(a, b) for a in np.linspace(0, 1, 9) for b in np.linspace(0, 1, 9) if a + b <= 1])
    samples = (t[:, None, 0] + w[None, :, :1] * (t[:, None, 1] - t[:, None, 0])
               + w[None, :, 1:] * (t[:, None, 2] - t[:, None, 0])).reshape(-1, 3)
    distance, _ = cKDTree(samples).query(simple.vertices)
    assert distance.max() <= bound
    assert intern.mesh(seg, voxel_size=voxel, simplify=True)[1] == simple


def test_obj_and_ply_load_in_trimesh(tmp_path: Path) -> None:
    import trimesh
    seg = np.zeros((12, 14, 16), np.uint32)
    seg[ball(seg.shape, (8, 8, 8), 40)] = 11
    seg[1:4, 1:4, 1:15] = 12
    meshes = intern.mesh(seg, voxel_size=(8, 8, 8))
    for fmt in ("obj", "ply"):
        out = write_meshes(meshes, tmp_path / fmt, format=fmt, provenance_fields={"source": "test"})
        assert sorted(p.name for p in out.iterdir()) == [f"11.{fmt}", f"12.{fmt}", "provenance.json"]
        for label, m in meshes.items():
            t = trimesh.load(out / f"{label}.{fmt}", process=False)
            assert t.is_watertight and t.is_winding_consistent
            assert t.volume == pytest.approx(m.volume, rel=1e-5)
            np.testing.assert_allclose(t.vertices, m.vertices, rtol=1e-6)


def test_precomputed_round_trips_through_cloud_volume(tmp_path: Path) -> None:
    import cloudvolume
    seg = np.zeros((10, 30, 40), np.uint64)
    seg[2:8, 5:25, 5:20] = 2**50 + 1
    seg[ball(seg.shape, (40, 8, 8), 90, centre=(200, 120, 240))] = 6
    meshes = intern.mesh(seg, voxel_size=(40, 8, 8), box=Box((0, 0, 0), (10, 30, 40)))
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="segmentation", data_type="uint64", encoding="raw", resolution=[8, 8, 40],
        voxel_offset=[0, 0, 0], chunk_size=[64, 64, 16], volume_size=[40, 30, 10], mesh="mesh")
    cloudvolume.CloudVolume(f"file://{tmp_path}", info=info).commit_info()
    write_meshes(meshes, tmp_path / "mesh", provenance_fields={"source": "test", "implementation": "zmesh"})
    assert json.loads((tmp_path / "mesh" / "info").read_text())["@type"] == "neuroglancer_legacy_mesh"
    cv = cloudvolume.CloudVolume(f"file://{tmp_path}")
    for label, m in meshes.items():
        got = cv.mesh.get(label)
        got = got[label] if isinstance(got, dict) else got
        theirs = Mesh(got.vertices, got.faces.astype(np.uint32))
        assert triangles(theirs) == triangles(m)
