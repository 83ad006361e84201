"""Writing TIFF: intern.create makes a contiguous BigTIFF written in place; copies in and out; what other tools see."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

import intern
from intern.errors import InvalidURIError, MetadataError, ReadOnlyError
from intern.testing import reference_data


def test_created_ome_tiff_is_read_by_tifffile(tmp_path: Path) -> None:
    a = intern.create(f"tiff://{tmp_path}/cells.ome.tif", shape=(2, 6, 40, 50), dtype="uint16",
                      voxel_size=(40, 8, 4))
    data = reference_data(a.shape, "uint16", seed=2)
    a[...] = data
    a[1, 2:5, 10:31, 7:9] = 9
    data[1, 2:5, 10:31, 7:9] = 9
    a.resource.close()
    with tifffile.TiffFile(tmp_path / "cells.ome.tif") as tif:
        assert tif.is_ome and tif.is_bigtiff and tif.series[0].axes == "CZYX"
        assert tif.series[0].dataoffset is not None  # contiguous: what made the in-place writes possible
        assert 'PhysicalSizeX="4.0" PhysicalSizeXUnit="nm"' in tif.ome_metadata
        assert 'PhysicalSizeZ="40.0" PhysicalSizeZUnit="nm"' in tif.ome_metadata
        np.testing.assert_array_equal(tif.asarray(), data)
        # the resolution tags carry y and x for readers that ignore OME-XML: pixels per centimetre
        assert tif.pages[0].get_resolution("CENTIMETER") == pytest.approx((2.5e6, 1.25e6))
    again = intern.array(f"tiff://{tmp_path}/cells.ome.tif")
    assert again.axes == ("c", "z", "y", "x") and again.voxel_size == (40.0, 8.0, 4.0)
    np.testing.assert_array_equal(again[...], data)


def test_labels_and_lone_axes_round_trip(tmp_path: Path) -> None:
    # uint64 has no OME type: a plain BigTIFF whose JSON description keeps what intern knows
    seg = intern.create(f"tiff://{tmp_path}/seg.tif", shape=(1, 5, 20, 24), dtype="uint64", kind="segmentation",
                        voxel_size=(30, 6, 6))
    seg[0, 1:4, 2:19, 3:20] = 2**40 + 7
    again = intern.array(seg.uri)
    assert again.shape == (1, 5, 20, 24) and again.axes == ("c", "z", "y", "x")  # the length-1 channel stays
    assert again.kind == "segmentation" and again.voxel_size == (30.0, 6.0, 6.0)
    assert again.metadata.attributes["voxel_size_source"]["z"] == "intern"
    assert int(again[0, 2, 10, 10]) == 2**40 + 7 and int(again[0, 0, 0, 0]) == 0
    with tifffile.TiffFile(tmp_path / "seg.tif") as tif:
        assert not tif.is_ome and tif.shaped_metadata[0]["intern"]["kind"] == "segmentation"
        assert tif.series[0].dtype == np.uint64
    ome_seg = intern.create(f"tiff://{tmp_path}/seg32.tif", shape=(5, 20, 24), dtype="uint32", kind="segmentation")
    assert intern.array(ome_seg.uri).kind == "segmentation"  # kept in an intern MapAnnotation of the OME-XML


@settings(max_examples=25, deadline=None)
@given(lead=st.sampled_from([(), (2,), (1,), (2, 3), (1, 1)]), dtype=st.sampled_from(["uint8", "uint64", "float32"]),
       spatial=st.tuples(st.integers(1, 5), st.integers(1, 19), st.integers(1, 23)), data=st.data())
def test_boxes_written_land_where_tifffile_reads_them(lead: tuple[int, ...], dtype: str,
                                                      spatial: tuple[int, int, int], data: st.DataObject) -> None:
    shape = (*lead, *spatial)
    start = [data.draw(st.integers(0, n - 1)) for n in shape]
    stop = [data.draw(st.integers(a + 1, n)) for a, n in zip(start, shape, strict=True)]
    box = intern.Box(tuple(start), tuple(stop))
    block = reference_data(box.shape, dtype, seed=len(shape))
    with tempfile.TemporaryDirectory() as tmp:
        a = intern.create(f"tiff://{tmp}/v.tif", shape=shape, dtype=dtype)
        a.write(box, block)
        a.resource.close()
        expected = np.zeros(shape, dtype)
        expected[box.to_slices()] = block
        # tifffile's own reading of the pages, in the file's axis order (t, c, z, y, x: the same as intern's)
        np.testing.assert_array_equal(tifffile.imread(f"{tmp}/v.tif").reshape(shape), expected)
        np.testing.assert_array_equal(intern.array(f"tiff://{tmp}/v.tif")[...], expected)


def test_copy_in_and_out(tmp_path: Path) -> None:
    src = intern.create(f"zarr://{tmp_path}/src.zarr", shape=(12, 70, 90), dtype="uint8", chunks=(4, 32, 32),
                        voxel_size=(40, 8, 8), scales=3)
    data = reference_data(src.shape, "uint8", seed=5)
    src[...] = data
    with pytest.raises(MetadataError, match=r"scales=\[0\]"):
        intern.copy(src.uri, f"tiff://{tmp_path}/out.tif", progress=False)
    report = intern.copy(src.uri, f"tiff://{tmp_path}/out.tif", scales=[0], progress=False)
    assert report.verified
    out = intern.array(f"tiff://{tmp_path}/out.tif")
    assert out.voxel_size == (40.0, 8.0, 8.0)
    np.testing.assert_array_equal(out[...], data)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), data)
    intern.copy(out.uri, f"zarr://{tmp_path}/back.zarr", progress=False)
    np.testing.assert_array_equal(intern.array(f"zarr://{tmp_path}/back.zarr")[...], data)


def test_existing_files_written_in_place_where_they_allow(tmp_path: Path) -> None:
    vol = reference_data((6, 30, 40), "int16", seed=1)
    tifffile.imwrite(tmp_path / "plain.tif", vol, photometric="minisblack")
    tifffile.imwrite(tmp_path / "be.tif", vol, byteorder=">", photometric="minisblack")
    for name in ("plain.tif", "be.tif"):
        a = intern.array(f"tiff://{tmp_path}/{name}")
        assert a.resource.writable
        a[2:4, 5:25, 0:40] = -3
        expected = vol.copy()
        expected[2:4, 5:25, 0:40] = -3
        a.resource.close()
        np.testing.assert_array_equal(tifffile.imread(tmp_path / name), expected)
    tifffile.imwrite(tmp_path / "zip.tif", vol, compression="zlib", photometric="minisblack")
    packed = intern.array(f"tiff://{tmp_path}/zip.tif")
    assert not packed.resource.writable and "compressed" in packed.resource.io.read_only_reason
    with pytest.raises(ReadOnlyError, match="compressed"):
        packed.resource.write(intern.Box((0, 0, 0), (1, 1, 1)), np.zeros((1, 1, 1), np.int16))
    with pytest.raises(ReadOnlyError):
        packed[0, 0, 0] = 1
    np.testing.assert_array_equal(packed[...], vol)
    (tmp_path / "slices").mkdir()
    tifffile.imwrite(tmp_path / "slices" / "0.tif", vol[0])
    slices = intern.array(f"tiff://{tmp_path}/slices/")
    assert not slices.resource.writable and "folder" in slices.resource.io.read_only_reason
    with pytest.raises(ReadOnlyError, match="folder"):
        slices.resource.write(intern.Box((0, 0, 0), (1, 1, 1)), np.zeros((1, 1, 1), np.int16))


def test_writes_are_seen_by_every_handle(tmp_path: Path) -> None:
    a = intern.create(f"tiff://{tmp_path}/shared.tif", shape=(4, 16, 16), dtype="uint8")
    b = intern.array(a.uri)
    before = b[...]  # b has read (and decoded page headers) before the write
    a[1:3, 4:12, 4:12] = 200
    assert not before.any() and (b[1:3, 4:12, 4:12] == 200).all() and b[0].sum() == 0


def test_create_refuses_what_tiff_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="single-scale"):
        intern.create(f"tiff://{tmp_path}/p.tif", shape=(4, 16, 16), dtype="uint8", scales=2)
    with pytest.raises(MetadataError, match="uint8"):
        intern.create(f"tiff://{tmp_path}/b.tif", shape=(4, 16, 16), dtype="bool")
    with pytest.raises(InvalidURIError, match=r"\.tif"):
        intern.create(f"tiff://{tmp_path}/slices", shape=(4, 16, 16), dtype="uint8")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left behind, no temporary files
