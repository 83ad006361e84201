"""Stored meshes and skeletons of a precomputed segmentation, served as the ``mesh`` and ``skeleton`` services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intern
from intern.errors import NotFoundError, OutOfBoundsError
from intern.plugin import Box, Mesh, Skeleton

RESOLUTION = (8.0, 6.0, 20.0)  # x, y, z nm: anisotropic, so an axis mix-up shows
OFFSET = (4, 2, 1)  # x, y, z voxels


def _segmentation() -> np.ndarray:
    """(z, y, x) labels: a ball (1), a box (2) touching it, and a small ball (3) apart."""
    z, y, x = np.mgrid[0:24, 0:40, 0:48]
    seg = np.zeros((24, 40, 48), np.uint64)
    seg[((x - 14) * 8.0) ** 2 + ((y - 18) * 6.0) ** 2 + ((z - 11) * 20.0) ** 2 < 70.0**2] = 1
    seg[4:18, 8:30, 24:40] = 2
    seg[((x - 40) * 8.0) ** 2 + ((y - 33) * 6.0) ** 2 + ((z - 18) * 20.0) ** 2 < 30.0**2] = 3
    return seg


def _zmesh(seg_zyx: np.ndarray) -> dict[int, Any]:
    """Meshes as the field makes them for precomputed (zmesh, what igneous runs), vertices in absolute nm."""
    import zmesh

    mesher = zmesh.Mesher(RESOLUTION)
    mesher.mesh(np.asfortranarray(seg_zyx.T))
    out = {}
    for label in mesher.ids():
        m = mesher.get(label, normals=False)
        m.vertices = m.vertices + np.array(OFFSET) * np.array(RESOLUTION)
        out[int(label)] = m
    return out


@pytest.fixture
def stored(tmp_path: Path, cloudvolume_info: Any) -> tuple[str, np.ndarray, dict[int, Any]]:
    """A segmentation written by cloud-volume with legacy meshes (zmesh) and skeletons beside it."""
    from cloudvolume import CloudVolume
    from cloudvolume import Skeleton as CVSkeleton
    from cloudvolume.mesh import Mesh as CVMesh

    seg = _segmentation()
    url = f"file://{tmp_path / 'seg'}"
    info = cloudvolume_info(size=seg.shape[::-1], dtype="uint64", layer="segmentation",
                            encoding="compressed_segmentation", chunk=(16, 16, 8), resolution=RESOLUTION,
                            offset=OFFSET, mesh="mesh", skeletons="skeletons")
    cv = CloudVolume(url, info=info, progress=False)
    cv.commit_info()
    o = OFFSET
    cv[o[0]:o[0] + 48, o[1]:o[1] + 40, o[2]:o[2] + 24] = np.asfortranarray(seg.T)
    meshes = _zmesh(seg)
    cv.mesh.put([CVMesh(m.vertices, m.faces, None, segid=label) for label, m in meshes.items()])
    (tmp_path / "seg" / "mesh" / "info").write_text(json.dumps({"@type": "neuroglancer_legacy_mesh"}))
    # skeletons stored in voxels with the resolution as transform, so reading must apply it
    skel_info = {"@type": "neuroglancer_skeletons",
                 "transform": [RESOLUTION[0], 0, 0, 0, 0, RESOLUTION[1], 0, 0, 0, 0, RESOLUTION[2], 0],
                 "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}]}
    (tmp_path / "seg" / "skeletons").mkdir()
    (tmp_path / "seg" / "skeletons" / "info").write_text(json.dumps(skel_info))
    cv = CloudVolume(url, progress=False)
    cv.skeleton.upload([
        CVSkeleton([[10, 10, 5], [20, 10, 5], [20, 30, 9]], [[0, 1], [1, 2]], radii=[1.5, 2.0, 2.5], segid=1),
        CVSkeleton([[30, 15, 8], [35, 15, 8]], [[0, 1]], radii=[0.5, 0.5], segid=2),
    ])
    return f"precomputed://{url}", seg, meshes


def test_the_server_side_implementation_is_chosen(stored: tuple[str, np.ndarray, dict[int, Any]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    uri, _, _ = stored
    caps = intern.capabilities(uri)
    assert caps["mesh"].implementation == "precomputed-server" and caps["mesh"].server_side
    assert caps["skeleton"].implementation == "precomputed-server" and caps["skeleton"].server_side
    assert "-> precomputed-server [server, priority 1000]: the remote serves it" in caps["mesh"].explain()
    from intern.cli import main

    assert main(["capabilities", uri]) == 0
    out = capsys.readouterr().out
    assert f"mesh for {uri}:" in out and f"skeleton for {uri}:" in out
    assert out.count("-> precomputed-server") == 2


def test_images_and_volumes_without_directories_advertise_nothing(tmp_path: Path) -> None:
    img = intern.create(f"precomputed://{tmp_path}/img", shape=(4, 8, 8), dtype="uint8")
    seg = intern.create(f"precomputed://{tmp_path}/seg", shape=(4, 8, 8), dtype="uint32", kind="segmentation")
    for a in (img, seg):
        assert a.resource.remote.server_services(a.resource) == {}
        assert "mesh" not in intern.capabilities(a) or not intern.capabilities(a)["mesh"].server_side


def test_stored_meshes_are_served(stored: tuple[str, np.ndarray, dict[int, Any]]) -> None:
    uri, _, made = stored
    meshes = intern.mesh(uri)
    assert sorted(meshes) == [1, 2, 3]
    for label, mesh in meshes.items():
        assert isinstance(mesh, Mesh) and mesh.id == label
        expected = Mesh(made[label].vertices, made[label].faces).deduplicate()
        assert mesh.allclose(expected, atol=1e-3)
        assert mesh.is_closed
    one = intern.mesh(uri, ids=[2])
    assert list(one) == [2] and one[2].allclose(meshes[2])
    # a box selects the labels in it (at that scale); the meshes come whole
    in_box = intern.mesh(uri, box=Box((15, 30, 36), (24, 40, 48)))
    assert sorted(in_box) == [3] and in_box[3].allclose(meshes[3])
    with pytest.raises(NotFoundError, match="prefer='local'"):
        intern.mesh(uri, ids=[2, 99])
    with pytest.raises(TypeError, match="simplify"):
        intern.mesh(uri, ids=[2], simplify=True)


def test_stored_skeletons_are_served_in_nanometres(stored: tuple[str, np.ndarray, dict[int, Any]]) -> None:
    uri, _, _ = stored
    skeletons = intern.skeleton(uri)
    assert sorted(skeletons) == [1, 2]
    s = skeletons[1]
    assert isinstance(s, Skeleton) and s.id == 1
    np.testing.assert_allclose(s.vertices, np.array([[10, 10, 5], [20, 10, 5], [20, 30, 9]]) * RESOLUTION)
    np.testing.assert_array_equal(s.edges, [[0, 1], [1, 2]])
    np.testing.assert_allclose(s.radii, [1.5, 2.0, 2.5])
    assert intern.skeleton(uri, ids=[2])[2].cable_length == pytest.approx(5 * RESOLUTION[0])
    with pytest.raises(NotFoundError, match="skeleton"):
        intern.skeleton(uri, ids=[3])


def test_stored_meshes_over_s3(s3_bucket: str, tmp_path: Path) -> None:
    """The services read through cloud-volume wherever the volume is, here an S3 endpoint that is not AWS."""
    from cloudvolume.mesh import Mesh as CVMesh

    seg = _segmentation()
    uri = f"precomputed://s3://{s3_bucket}/seg"
    a = intern.create(uri, shape=seg.shape, dtype="uint64", chunks=(8, 16, 16), kind="segmentation",
                      voxel_size=RESOLUTION[::-1])
    a[...] = seg
    cv = a.resource.cloudvolume()
    cv.info["mesh"] = "mesh"
    cv.commit_info()
    made = _zmesh(seg)
    cv = intern.array(uri).resource.cloudvolume()
    cv.mesh.put([CVMesh(m.vertices, m.faces, None, segid=label) for label, m in made.items() if label != 3])
    meshes = intern.mesh(uri)
    assert sorted(meshes) == [1, 2]
    assert meshes[1].allclose(Mesh(made[1].vertices, made[1].faces).deduplicate())


def test_multiresolution_meshes_are_served(tmp_path: Path) -> None:
    """A multi-resolution (Draco) mesh directory, one level of detail, as neuroglancer's format describes it."""
    import DracoPy
    from cloudvolume import CloudVolume
    from cloudvolume.datasource.precomputed.mesh.multilod import MultiLevelPrecomputedMeshManifest

    seg = _segmentation()
    uri = f"precomputed://{tmp_path}/seg"
    a = intern.create(uri, shape=seg.shape, dtype="uint64", chunks=(8, 16, 16), kind="segmentation",
                      voxel_size=RESOLUTION[::-1])
    a[...] = seg
    info = json.loads((tmp_path / "seg" / "info").read_text())
    info["mesh"] = "mesh"
    (tmp_path / "seg" / "info").write_text(json.dumps(info))
    bits = 16
    made = _zmesh(seg)
    mesh_dir = tmp_path / "seg" / "mesh"
    mesh_dir.mkdir()
    # stored model space is voxels; the transform takes it to nanometres
    transform = [RESOLUTION[0], 0, 0, 0, 0, RESOLUTION[1], 0, 0, 0, 0, RESOLUTION[2], 0]
    (mesh_dir / "info").write_text(json.dumps({"@type": "neuroglancer_multilod_draco", "vertex_quantization_bits": bits,
                                               "transform": transform, "lod_scale_multiplier": 1.0}))
    expected = {}
    for label in (1, 2):
        voxels = made[label].vertices / np.array(RESOLUTION) - np.array(OFFSET)  # back to voxels of this volume
        origin = np.floor(voxels.min(axis=0)) - 1
        shape = np.ceil(voxels.max(axis=0) - origin) + 1
        quantized = np.round((voxels - origin) / shape * (2**bits - 1))
        fragment = DracoPy.encode(quantized.astype(np.float32), made[label].faces, quantization_bits=bits,
                                  quantization_range=2**bits - 1, quantization_origin=[0, 0, 0], preserve_order=True)
        manifest = MultiLevelPrecomputedMeshManifest(
            label, chunk_shape=shape, grid_origin=origin, num_lods=1, lod_scales=[1.0], vertex_offsets=[[0, 0, 0]],
            num_fragments_per_lod=[1], fragment_positions=[[[0, 0, 0]]], fragment_offsets=[len(fragment)])
        (mesh_dir / f"{label}.index").write_bytes(manifest.to_binary())
        (mesh_dir / str(label)).write_bytes(fragment)
        expected[label] = (origin + quantized / (2**bits - 1) * shape) * np.array(RESOLUTION)
    meshes = intern.mesh(uri)
    assert sorted(meshes) == [1, 2]
    cv = CloudVolume(f"file://{tmp_path}/seg", progress=False)
    for label, mesh in meshes.items():
        reference = cv.mesh.get(label)[label]  # cloud-volume's own reading of the same files
        np.testing.assert_allclose(np.unique(mesh.vertices, axis=0), np.unique(reference.vertices, axis=0), atol=1e-3)
        np.testing.assert_allclose(np.unique(mesh.vertices, axis=0), np.unique(expected[label].astype(np.float32),
                                                                                axis=0), atol=0.05)
    with pytest.raises(NotFoundError, match="3"):
        intern.mesh(uri, ids=[3])
    with pytest.raises(OutOfBoundsError, match="lod=1"):
        intern.mesh(uri, ids=[1], lod=1)
