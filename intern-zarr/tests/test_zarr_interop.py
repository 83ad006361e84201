"""OME-Zarr and plain Zarr written by intern and read by others, and written by others and read by intern."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import MetadataError
from intern.plugin import remote_for


def _data(shape: tuple[int, ...], dtype: str = "uint8", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 200, shape).astype(dtype)


@pytest.fixture
def written(tmp_path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """An intern-written OME-Zarr pyramid with an offset: (path, scale-0 data, scale-1 data)."""
    path = str(tmp_path / "em.ome.zarr")
    a = intern.create(path, shape=(12, 40, 36), dtype="uint16", chunks=(4, 16, 16), voxel_size=(30, 4, 4), scales=2)
    d0, d1 = _data((12, 40, 36), "uint16"), _data((12, 20, 18), "uint16", 1)
    a[...] = d0
    a.at_scale(1)[...] = d1
    return path, d0, d1


def test_intern_ome_zarr_read_by_zarr_python(written: tuple[str, np.ndarray, np.ndarray]) -> None:
    import zarr

    path, d0, d1 = written
    group = zarr.open_group(path, mode="r")
    assert group.metadata.zarr_format == 3
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert all(a["unit"] == "nanometer" and a["type"] == "space" for a in ms["axes"])
    assert [d["path"] for d in ms["datasets"]] == ["0", "1"]
    assert ms["datasets"][1]["coordinateTransformations"] == [{"type": "scale", "scale": [30.0, 8.0, 8.0]}]
    assert group["0"].metadata.dimension_names == ("z", "y", "x")
    np.testing.assert_array_equal(group["0"][...], d0)
    np.testing.assert_array_equal(group["1"][...], d1)
    codec = json.loads((Path(path) / "0" / "zarr.json").read_text())["codecs"][-1]
    assert codec["name"] == "blosc" and codec["configuration"]["cname"] == "zstd"


def test_intern_ome_zarr_is_valid_ngff(written: tuple[str, np.ndarray, np.ndarray]) -> None:
    import ome_zarr_models.v05 as models
    import zarr

    image = models.Image.from_zarr(zarr.open_group(written[0], mode="r"))
    assert image.attributes.ome.multiscales[0].datasets[0].path == "0"


def test_intern_ome_zarr_read_by_tensorstore(written: tuple[str, np.ndarray, np.ndarray]) -> None:
    import tensorstore as ts

    path, d0, d1 = written
    for key, data in (("0", d0), ("1", d1)):
        store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/{key}/"}}).result()
        assert store.domain.labels == ("z", "y", "x")
        np.testing.assert_array_equal(store.read().result(), data)


def test_segmentation_and_offsets_round_trip(tmp_path: Path) -> None:
    import zarr

    from intern.plugin import ScaleLevel, VolumeMetadata

    meta = VolumeMetadata(dtype="uint64", kind="segmentation", scales=(
        ScaleLevel(shape=(8, 16, 16), chunks=(8, 8, 8), voxel_size=(8, 8, 8), offset=(2, 4, 6), key="0"),))
    remote, path = remote_for(f"zarr://{tmp_path}/seg.zarr")[:2]
    remote.create(path, meta)
    ome = zarr.open_group(str(tmp_path / "seg.zarr"), mode="r").attrs["ome"]
    assert "image-label" in ome
    assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][1] == \
        {"type": "translation", "translation": [16.0, 32.0, 48.0]}
    again = intern.array(f"zarr://{tmp_path}/seg.zarr")
    assert again.kind == "segmentation"
    assert again.level.offset == (2, 4, 6)


def _ome_zarr_py(path: Path, data: np.ndarray, fmt: str) -> None:
    """A pyramid written by ome-zarr-py, in micrometres, halving y and x."""
    import zarr
    from ome_zarr import format as ome_format
    from ome_zarr.writer import write_image

    kwargs = {}
    if fmt == "0.4":
        group = zarr.open_group(str(path), mode="w", zarr_format=2)
        kwargs["fmt"] = ome_format.FormatV04()
    else:
        group = zarr.open_group(str(path), mode="w")
    write_image(data, group, axes="zyx", scale_factors=[{"y": 2, "x": 2}, {"y": 4, "x": 4}],
                scale={"z": 0.03, "y": 0.004, "x": 0.004}, axes_units={"z": "micrometer", "y": "micrometer",
                                                                       "x": "micrometer"},
                method="nearest", storage_options={"chunks": (8, 16, 16)}, **kwargs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ome-zarr-py's own internals
@pytest.mark.parametrize("fmt", ["0.5", "0.4"])
def test_ome_zarr_py_pyramid_read_by_intern(tmp_path: Path, fmt: str) -> None:
    import ome_zarr  # noqa: F401 - a test dependency; missing, it fails
    import zarr

    data = _data((10, 48, 40))
    path = tmp_path / "py.ome.zarr"
    _ome_zarr_py(path, data, fmt)
    group = zarr.open_group(str(path), mode="r")
    assert group.metadata.zarr_format == (2 if fmt == "0.4" else 3)
    a = intern.array(str(path))
    assert a.axes == ("z", "y", "x")
    assert len(a.scales) == 3
    assert [lv.shape for lv in a.scales] == [(10, 48, 40), (10, 24, 20), (10, 12, 10)]
    assert [lv.voxel_size for lv in a.scales] == [pytest.approx(v) for v in
                                                  [(30, 4, 4), (30, 8, 8), (30, 16, 16)]]
    assert [lv.downsample for lv in a.scales] == [pytest.approx(v) for v in [(1, 1, 1), (1, 2, 2), (1, 4, 4)]]
    paths = [d["path"] for d in (group.attrs.get("ome") or group.attrs)["multiscales"][0]["datasets"]]
    np.testing.assert_array_equal(a[...], data)
    for s, key in enumerate(paths):
        np.testing.assert_array_equal(a.at_scale(s)[...], group[key][...])
    np.testing.assert_array_equal(a.at_scale(1)[2:7, 3:19, 1:17], group[paths[1]][2:7, 3:19, 1:17])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ome-zarr-py's own internals
def test_ome_zarr_labels_are_segmentations(tmp_path: Path) -> None:
    import ome_zarr  # noqa: F401 - a test dependency; missing, it fails
    import zarr
    from ome_zarr.writer import write_image, write_labels

    root = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    write_image(_data((8, 32, 32)), root, axes="zyx", scale_factors=[])
    labels = (np.arange(8 * 32 * 32).reshape(8, 32, 32) // 100).astype(np.uint32)
    write_labels(labels, root, name="cells", axes="zyx", scale_factors=[])
    assert "labels" in intern.ls(f"zarr://{tmp_path}/img.ome.zarr")
    assert intern.ls(f"zarr://{tmp_path}/img.ome.zarr/labels") == ["cells"]
    seg = intern.array(f"zarr://{tmp_path}/img.ome.zarr/labels/cells")
    assert seg.kind == "segmentation" and seg.dtype == np.uint32
    np.testing.assert_array_equal(seg[...], labels)
    assert intern.array(f"zarr://{tmp_path}/img.ome.zarr").kind == "image"


def test_zarr_v2_array_and_group(tmp_path: Path) -> None:
    import zarr

    data = _data((9, 30, 22), "uint16")
    z = zarr.create_array(str(tmp_path / "v2.zarr"), shape=data.shape, chunks=(4, 8, 8), dtype="uint16",
                          zarr_format=2, fill_value=0)
    z[...] = data
    a = intern.array(f"zarr://{tmp_path}/v2.zarr")
    assert a.shape == data.shape and a.metadata.attributes["zarr_format"] == 2
    assert a.resource.engine().name == "tensorstore"
    np.testing.assert_array_equal(a[1:8, 3:29, 2:21], data[1:8, 3:29, 2:21])
    a[0:2, 0:3, 0:3] = 5  # partial-chunk write into a v2 array, read back by zarr-python
    data[0:2, 0:3, 0:3] = 5
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v2.zarr"), mode="r")[...], data)
    group = zarr.open_group(str(tmp_path / "g2.zarr"), mode="w", zarr_format=2)
    group.create_array("raw", shape=(4, 4, 4), dtype="uint8")
    group.create_group("sub")
    assert intern.ls(f"zarr://{tmp_path}/g2.zarr") == ["raw", "sub"]
    assert intern.open(f"zarr://{tmp_path}/g2.zarr").uri == f"zarr://{tmp_path}/g2.zarr"


def test_v2_array_with_filter_falls_back_to_zarr_python(tmp_path: Path) -> None:
    import numcodecs
    import zarr

    data = np.arange(4 * 8 * 8, dtype="int32").reshape(4, 8, 8)
    z = zarr.create_array(str(tmp_path / "f.zarr"), shape=data.shape, chunks=(2, 4, 4), dtype="int32", zarr_format=2,
                          filters=[numcodecs.Delta(dtype="int32")], compressors=numcodecs.Zlib(1))
    z[...] = data
    a = intern.array(f"zarr://{tmp_path}/f.zarr")
    np.testing.assert_array_equal(a[...], data)


def test_axes_in_another_order_are_transposed(tmp_path: Path) -> None:
    import zarr

    data = _data((22, 30, 9))  # stored x, y, z
    z = zarr.create_array(str(tmp_path / "xyz.zarr"), shape=data.shape, chunks=(8, 8, 4), dtype="uint8",
                          dimension_names=["x", "y", "z"])
    z[...] = data
    a = intern.array(f"zarr://{tmp_path}/xyz.zarr")
    assert a.axes == ("z", "y", "x") and a.shape == (9, 30, 22) and a.chunks == (4, 8, 8)
    np.testing.assert_array_equal(a[...], data.transpose(2, 1, 0))
    np.testing.assert_array_equal(a[2:7, 3:11, 5:20], data.transpose(2, 1, 0)[2:7, 3:11, 5:20])
    a[1:3, 0:4, 0:5] = 99
    assert (z[0:5, 0:4, 1:3] == 99).all()


def test_unreadable_axes_are_refused_clearly(tmp_path: Path) -> None:
    import zarr

    zarr.create_array(str(tmp_path / "2d.zarr"), shape=(8, 8), chunks=(4, 4), dtype="uint8")
    with pytest.raises(MetadataError, match="z, y, x"):
        intern.array(f"zarr://{tmp_path}/2d.zarr")
    zarr.create_array(str(tmp_path / "odd.zarr"), shape=(2, 8, 8, 8), chunks=(1, 4, 4, 4), dtype="uint8",
                      dimension_names=["angle", "z", "y", "x"])
    with pytest.raises(MetadataError, match="angle"):
        intern.array(f"zarr://{tmp_path}/odd.zarr")


def test_big_endian_arrays_read_in_native_order(tmp_path: Path) -> None:
    import h5py
    import zarr

    data = np.arange(4 * 6 * 8, dtype=">u2").reshape(4, 6, 8)
    z = zarr.create_array(str(tmp_path / "be.zarr"), shape=data.shape, chunks=(2, 3, 4), dtype=">u2", zarr_format=2)
    z[...] = data
    with h5py.File(tmp_path / "be.h5", "w") as f:
        f.create_dataset("v", data=data)
    for uri, options in ((f"zarr://{tmp_path}/be.zarr", {}), (f"zarr://{tmp_path}/be.zarr", {"engine": "zarr-python"}),
                         (f"h5://{tmp_path}/be.h5/v", {})):
        a = intern.array(uri, **options)
        assert a.dtype == np.dtype("uint16")
        np.testing.assert_array_equal(a[1:3, 2:5, 3:8], data[1:3, 2:5, 3:8])


def test_chunk_cache_never_serves_stale_voxels(tmp_path: Path) -> None:
    """A handle with a warm chunk cache sees what another writer (zarr-python here) changed since."""
    import zarr

    a = intern.create(f"zarr://{tmp_path}/fresh.zarr", shape=(8, 16, 16), dtype="uint8", chunks=(8, 8, 8))
    a[...] = 1
    assert (a[...] == 1).all()  # the cache now holds every chunk
    zarr.open_array(str(tmp_path / "fresh.zarr" / "0"), mode="r+")[0:8, 0:8, 0:8] = 2
    expected = np.ones((8, 16, 16), np.uint8)
    expected[0:8, 0:8, 0:8] = 2
    np.testing.assert_array_equal(a[...], expected)
    uncached = intern.array(f"zarr://{tmp_path}/fresh.zarr?cache_bytes=0")
    np.testing.assert_array_equal(uncached[...], expected)
    with pytest.raises(intern.errors.InvalidURIError, match="cache_bytes"):
        intern.array(f"zarr://{tmp_path}/fresh.zarr?cache_bytes=lots")
    with pytest.raises(intern.errors.ParameterError, match="colour"):  # a keyword: a wrong argument, not URI
        intern.array(f"zarr://{tmp_path}/fresh.zarr", colour="red")
    with pytest.raises(intern.errors.InvalidURIError, match="colour"):
        intern.array(f"zarr://{tmp_path}/fresh.zarr?colour=red")
