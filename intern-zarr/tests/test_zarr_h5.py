"""HDF5 specifics: attributes other tools write, listing, files written by h5py directly."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import intern


def test_reads_conventions_of_other_tools(tmp_path: Path) -> None:
    data = np.arange(6 * 10 * 12, dtype=np.uint32).reshape(6, 10, 12)
    with h5py.File(tmp_path / "tools.h5", "w") as f:
        f.create_dataset("cremi/labels", data=data).attrs["resolution"] = [40.0, 4.0, 4.0]
        f.create_dataset("ilastik", data=data, chunks=(3, 5, 6)).attrs["element_size_um"] = [0.03, 0.005, 0.005]
        f.create_dataset("plain", data=data.astype(np.float32))
        f.create_dataset("flat", data=np.zeros((4, 4)))
    cremi = intern.array(f"h5://{tmp_path}/tools.h5/cremi/labels")
    assert cremi.voxel_size == (40.0, 4.0, 4.0) and cremi.shape == (6, 10, 12)
    np.testing.assert_array_equal(cremi[1:5, 2:9, 3:11], data[1:5, 2:9, 3:11])
    ilastik = intern.array(f"hdf5://{tmp_path}/tools.h5/ilastik")
    assert ilastik.voxel_size == pytest.approx((30.0, 5.0, 5.0)) and ilastik.chunks == (3, 5, 6)
    assert intern.array(f"h5://{tmp_path}/tools.h5/plain").voxel_size == (1.0, 1.0, 1.0)
    with pytest.raises(intern.errors.MetadataError, match="2-D"):
        intern.array(f"h5://{tmp_path}/tools.h5/flat")
    assert intern.ls(f"h5://{tmp_path}/tools.h5") == ["cremi", "flat", "ilastik", "plain"]
    assert intern.ls(f"h5://{tmp_path}/tools.h5/cremi") == ["labels"]
    assert intern.ls(f"h5://{tmp_path}/tools.h5/plain") == []
    assert intern.open(f"h5://{tmp_path}/tools.h5/cremi").uri == f"h5://{tmp_path}/tools.h5/cremi"


def test_created_dataset_is_readable_by_h5py(tmp_path: Path) -> None:
    a = intern.create(f"h5://{tmp_path}/new.hdf5/grp/seg", shape=(5, 20, 20), dtype="uint64", chunks=(5, 8, 8),
                      voxel_size=(30, 6, 6), kind="segmentation")
    a[1:4, 3:17, 2:19] = 2**40 + 7
    a.resource.remote  # noqa: B018 - the Resource protocol
    from intern_zarr import close_hdf5_files

    close_hdf5_files()  # let h5py open it on its own
    with h5py.File(tmp_path / "new.hdf5", "r") as f:
        ds = f["grp/seg"]
        assert ds.chunks == (5, 8, 8) and ds.compression == "gzip"
        assert list(ds.attrs["voxel_size"]) == [30.0, 6.0, 6.0] and ds.attrs["kind"] == "segmentation"
        assert (ds[1:4, 3:17, 2:19] == 2**40 + 7).all() and ds[0].sum() == 0
    again = intern.array(f"h5://{tmp_path}/new.hdf5/grp/seg")
    assert again.kind == "segmentation" and again.voxel_size == (30.0, 6.0, 6.0)


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = intern.create("h5://rel.h5/v", shape=(2, 4, 4), dtype="uint8")
    z = intern.create("zarr://rel.zarr", shape=(2, 4, 4), dtype="uint8")
    assert a.uri == f"h5://{tmp_path}/rel.h5/v" and z.uri == f"zarr://{tmp_path}/rel.zarr"
    assert intern.array("rel.zarr").uri == z.uri  # a plain path with the suffix
