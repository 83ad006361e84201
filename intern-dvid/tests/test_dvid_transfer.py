"""A volume copied memory -> DVID -> memory is identical (voxels, shape, voxel size), for grayscale and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern
from intern.plugin import Box


def _copy(src: intern.Array, dest: intern.Array) -> None:
    """Copy level by level, in slabs of whole destination chunks (as a transfer tool would)."""
    step = dest.chunks[0] * 2
    for z in range(0, src.shape[0], step):
        box = Box((z, 0, 0), (min(z + step, src.shape[0]), *src.shape[1:]))
        dest.write(box, src.read(box))


@pytest.mark.parametrize(("dtype", "kind"), [("uint8", "image"), ("uint64", "segmentation")])
def test_memory_to_dvid_to_memory(tmp_path: Path, root: str, dtype: str, kind: str) -> None:
    # mem:// keeps intern-dvid's tests to the core and this driver; zarr -> DVID -> zarr is in tests/
    here = f"mem://dvid-transfer/{tmp_path.name}"
    shape, voxel = (21, 70, 53), (30.0, 6.0, 6.0)
    rng = np.random.default_rng(11)
    data = rng.integers(0, 250, shape).astype(dtype)
    if dtype == "uint64":
        data *= np.uint64(2**41 + 7)
    source = intern.create(f"{here}/source", shape=shape, dtype=dtype, kind=kind,
                           chunks=(7, 32, 32), voxel_size=voxel)
    source[...] = data

    dvid = intern.create(f"{root}/copy", shape=source.shape, dtype=source.dtype, kind=source.kind,
                         chunks=(16, 16, 16), voxel_size=source.voxel_size)
    _copy(source, dvid)
    back = intern.create(f"{here}/back", shape=dvid.shape, dtype=dvid.dtype, kind=dvid.kind,
                         chunks=(10, 20, 30), voxel_size=dvid.voxel_size)
    _copy(intern.array(dvid.uri), back)

    again = intern.array(f"{here}/back")
    assert again.shape == shape and again.dtype == np.dtype(dtype) and again.voxel_size == voxel
    np.testing.assert_array_equal(again[...], data)
