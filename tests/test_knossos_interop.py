"""KNOSSOS among the other datastores: zarr -> knossos -> zarr gives back the same voxels at every level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern
import intern_zarr  # noqa: F401 - a test dependency; missing, it fails


def _em(shape: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("extension", [".raw", ".png"])
def test_zarr_to_knossos_to_zarr_with_copy(tmp_path: Path, extension: str):
    shape = (40, 90, 110)
    src = intern.create(f"zarr://{tmp_path}/src.zarr", shape=shape, dtype="uint8", chunks=(32, 32, 32),
                        voxel_size=(8, 8, 8), scales=2)
    src[...] = _em(shape)
    intern.downsample(src, factor=(2, 2, 2), levels=1, dest=src)

    # the destination is made by intern.copy from the source's metadata; the cube encoding comes with the URI
    intern.copy(src.uri, f"knossos://{tmp_path}/em?extension={extension}", progress=False)
    mid = intern.array(f"knossos://{tmp_path}/em")
    assert mid.resource.layer.extension == extension
    intern.copy(mid.uri, f"zarr://{tmp_path}/back.zarr", progress=False)

    back = intern.array(f"zarr://{tmp_path}/back.zarr")
    assert len(back.scales) == len(mid.scales) == 2
    for s in range(2):
        assert mid.at_scale(s).voxel_size == src.at_scale(s).voxel_size == back.at_scale(s).voxel_size
        np.testing.assert_array_equal(back.at_scale(s)[...], src.at_scale(s)[...])


def test_zarr_segmentation_through_knossos_with_plain_writes(tmp_path: Path):
    # no copy machinery: what a user writes by hand, a labels volume of uint32 stored as KNOSSOS's uint64
    shape = (33, 65, 70)
    labels = np.random.default_rng(8).integers(0, 2**32, shape, dtype=np.uint64).astype(np.uint32)
    src = intern.create(f"zarr://{tmp_path}/seg.zarr", shape=shape, dtype="uint32", kind="segmentation")
    src[...] = labels
    mid = intern.create(f"knossos://{tmp_path}/seg", shape=shape, dtype="uint64", kind="segmentation",
                        chunks=(128, 128, 128), voxel_size=src.voxel_size)
    mid[...] = src[...]
    back = intern.create(f"zarr://{tmp_path}/back.zarr", shape=shape, dtype="uint32", kind="segmentation")
    back[...] = intern.array(mid.uri)[...].astype(np.uint32)
    np.testing.assert_array_equal(back[...], labels)
