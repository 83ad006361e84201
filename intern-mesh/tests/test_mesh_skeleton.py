"""Skeletons: a tube's centreline, the voxel size as anisotropy, SWC and the precomputed directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import ParameterError
from intern.plugin import Box, Skeleton, read_precomputed_skeleton_dir
from intern_mesh import write_skeletons

VOXEL = (40.0, 8.0, 8.0)  # (z, y, x) nm: z five times coarser, as in serial-section EM


def tube(shape: tuple[int, int, int] = (15, 39, 120), radius_nm: float = 80.0) -> np.ndarray:
    """Label 9: a tube along x through the middle of y and z (a voxel centre: the sizes are odd), ``radius_nm``
    thick in nm (elliptic in voxels)."""
    z = (np.arange(shape[0]) + 0.5) * VOXEL[0] - shape[0] * VOXEL[0] / 2
    y = (np.arange(shape[1]) + 0.5) * VOXEL[1] - shape[1] * VOXEL[1] / 2
    inside = z[:, None] ** 2 + y[None, :] ** 2 <= radius_nm**2
    seg = np.zeros(shape, np.uint32)
    seg[:, :, 10:110] = np.where(inside, 9, 0)[:, :, None]
    return seg


def test_tube_skeleton_follows_its_centreline() -> None:
    seg = tube()
    sk = intern.skeleton(seg, voxel_size=VOXEL)[9]
    assert isinstance(sk, Skeleton) and sk.id == 9
    x, y, z = sk.vertices.T
    centre_y, centre_z = 39 * 8 / 2, 15 * 40 / 2
    # along the tube's length, end to end (TEASAR stops within a radius of the ends)
    assert x.min() <= 10 * 8 + 80 and x.max() >= 110 * 8 - 80
    # on the axis along the body, and never outside the tube
    off_axis = np.hypot(y - centre_y, z - centre_z)
    body = (x > 10 * 8 + 100) & (x < 110 * 8 - 100)
    assert np.median(off_axis[body]) < 1e-3
    assert off_axis.max() <= 80
    # the path is one chain, and its radius is the tube's
    assert len(sk.edges) == len(sk.vertices) - 1
    assert np.median(sk.radii[body]) == pytest.approx(80, rel=0.35)
    # no detours: the length is the tube's, plus the end paths TEASAR takes to the rim (at most a diameter each)
    assert x.max() - x.min() <= sk.cable_length <= x.max() - x.min() + 4 * 80


def test_box_and_offset_place_skeletons_in_the_dataset_frame() -> None:
    seg = tube()
    whole = intern.skeleton(seg, voxel_size=VOXEL)[9]
    part = intern.skeleton(seg, voxel_size=VOXEL, box=Box((0, 0, 5), (15, 39, 120)))[9]
    assert part.allclose(whole)


def test_parameters_reach_kimimaro_and_unknown_ones_fail() -> None:
    seg = tube()
    assert intern.skeleton(seg, voxel_size=VOXEL, dust_threshold=10**7) == {}
    assert intern.skeleton(seg, voxel_size=VOXEL, ids=[8]) == {}
    coarse = intern.skeleton(seg, voxel_size=VOXEL, teasar_scale=4, const=500)[9]
    assert len(coarse.vertices) > 10
    with pytest.raises(ParameterError, match="'smoothness'.*teasar_scale"):  # a TypeError, as Python's own
        intern.skeleton(seg, voxel_size=VOXEL, smoothness=3)


def test_swc_parses_and_precomputed_reads_in_cloud_volume(tmp_path: Path) -> None:
    import cloudvolume
    seg = tube()
    seg[2:6, 2:8, 20:60] = 4
    skeletons = intern.skeleton(seg, voxel_size=VOXEL, dust_threshold=50)
    assert sorted(skeletons) == [4, 9]
    out = write_skeletons(skeletons, tmp_path / "swc", format="swc", provenance_fields={"source": "test"})
    for label, sk in skeletons.items():
        text = (out / f"{label}.swc").read_text()
        # read back by the core and by cloud-volume's SWC reader, which knows nothing of intern
        back = Skeleton.load(out / f"{label}.swc")
        assert back.cable_length == pytest.approx(sk.cable_length, rel=1e-5)
        theirs = cloudvolume.Skeleton.from_swc(text)
        assert len(theirs.vertices) == len(sk.vertices)
        assert theirs.cable_length() == pytest.approx(sk.cable_length, rel=1e-5)
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="segmentation", data_type="uint32", encoding="raw", resolution=[8, 8, 40],
        voxel_offset=[0, 0, 0], chunk_size=[64, 64, 16], volume_size=[120, 39, 15], skeletons="skeletons")
    cloudvolume.CloudVolume(f"file://{tmp_path / 'layer'}", info=info).commit_info()
    write_skeletons(skeletons, tmp_path / "layer" / "skeletons", provenance_fields={"source": "test"})
    cv = cloudvolume.CloudVolume(f"file://{tmp_path / 'layer'}")
    for label, sk in skeletons.items():
        theirs = cv.skeleton.get(label)
        np.testing.assert_allclose(theirs.vertices, sk.vertices)
        np.testing.assert_array_equal(theirs.edges, sk.edges)
        np.testing.assert_allclose(theirs.radius, sk.radii)
        assert read_precomputed_skeleton_dir(tmp_path / "layer" / "skeletons", label) == sk
