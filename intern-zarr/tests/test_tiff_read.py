"""Reading TIFF stacks other tools wrote: every layout tifffile and imageio produce, checked at random boxes."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

import intern
from intern.errors import NotFoundError

SHAPE = (7, 45, 61)  # z, y, x: odd sizes, so strips and tiles end part-way


def _volume(dtype: str = "uint16", shape: tuple[int, ...] = SHAPE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, np.ndarray]]:
    """name -> (URI, the voxels intern must read there, in its (t, c, z, y, x) order)."""
    root = tmp_path_factory.mktemp("tiff-read")
    vol = _volume()
    out: dict[str, tuple[str, np.ndarray]] = {}

    def add(name: str, path: Path, expected: np.ndarray) -> None:
        out[name] = (f"tiff://{path}", expected)

    tifffile.imwrite(root / "plain.tif", vol, photometric="minisblack")
    add("tifffile multipage", root / "plain.tif", vol)
    tifffile.imwrite(root / "big.tif", vol, bigtiff=True, photometric="minisblack")
    add("tifffile BigTIFF", root / "big.tif", vol)
    tifffile.imwrite(root / "tiled.tif", vol, bigtiff=True, tile=(16, 32), compression="zlib")
    add("tifffile tiled, deflate", root / "tiled.tif", vol)
    tifffile.imwrite(root / "strips.tif", vol, rowsperstrip=7, compression="zlib", predictor=True)
    add("tifffile strips, deflate + predictor", root / "strips.tif", vol)
    channels = _volume(shape=(2, *SHAPE), seed=1)
    tifffile.imwrite(root / "cells.ome.tif", channels, ome=True, tile=(16, 16),
                     metadata={"axes": "CZYX", "PhysicalSizeX": 0.008, "PhysicalSizeY": 0.008, "PhysicalSizeZ": 0.04})
    add("tifffile OME-TIFF, 2 channels, tiled", root / "cells.ome.tif", channels)
    hyper = _volume("uint8", shape=(2, 3, 2, 30, 41), seed=2)  # T, Z, C, Y, X: ImageJ's order
    tifffile.imwrite(root / "hyper.tif", hyper, imagej=True, metadata={"axes": "TZCYX"})
    add("tifffile ImageJ hyperstack", root / "hyper.tif", hyper.transpose(0, 2, 1, 3, 4))
    rgb = _volume("uint8", shape=(*SHAPE, 3), seed=3)
    tifffile.imwrite(root / "rgb.tif", rgb, photometric="rgb", tile=(16, 16), compression="zlib")
    add("tifffile RGB, interleaved, tiled", root / "rgb.tif", np.moveaxis(rgb, -1, 0))
    planar = _volume("uint16", shape=(SHAPE[0], 3, *SHAPE[1:]), seed=4)
    tifffile.imwrite(root / "planar.tif", planar, photometric="rgb", planarconfig="separate", rowsperstrip=10)
    add("tifffile RGB, planar strips", root / "planar.tif", planar.transpose(1, 0, 2, 3))
    floats = _volume("float32", seed=5)
    tifffile.imwrite(root / "be.tif", floats, byteorder=">", photometric="minisblack")
    add("tifffile big-endian float32", root / "be.tif", floats)
    tifffile.imwrite(root / "be-z.tif", floats, byteorder=">", photometric="minisblack", compression="zlib",
                     tile=(16, 16))
    add("tifffile big-endian float32, tiled", root / "be-z.tif", floats)

    iio.imwrite(root / "imageio.tif", vol)
    add("imageio multipage", root / "imageio.tif", vol)
    iio2.mimwrite(root / "imageio-v2.tif", list(vol))  # one single-page series per page
    add("imageio v2 mimwrite", root / "imageio-v2.tif", vol)
    twelve = _volume("uint8", shape=(12, 20, 23), seed=6)
    (root / "png").mkdir()
    for i, plane in enumerate(twelve):
        iio.imwrite(root / "png" / f"slice{i + 1}.png", plane)  # slice1 .. slice12: natural order matters
    add("imageio PNG slices", root / "png", twelve)
    (root / "png16").mkdir()
    for i, plane in enumerate(vol):
        iio.imwrite(root / "png16" / f"z{i:03d}.png", plane)
    add("imageio 16-bit PNG slices", root / "png16", vol)
    (root / "tifs").mkdir()
    for i, plane in enumerate(vol):
        # slices may differ in how they store their pixels, as long as the pixels agree
        tifffile.imwrite(root / "tifs" / f"sec_{i}.tif", plane, compression="zlib" if i % 2 else None,
                         tile=(16, 16) if i % 3 == 0 else None)
    add("tifffile slices, mixed storage", root / "tifs", vol)
    return out


NAMES = ["tifffile multipage", "tifffile BigTIFF", "tifffile tiled, deflate", "tifffile strips, deflate + predictor",
         "tifffile OME-TIFF, 2 channels, tiled", "tifffile ImageJ hyperstack", "tifffile RGB, interleaved, tiled",
         "tifffile RGB, planar strips", "tifffile big-endian float32", "tifffile big-endian float32, tiled",
         "imageio multipage", "imageio v2 mimwrite", "imageio PNG slices", "imageio 16-bit PNG slices",
         "tifffile slices, mixed storage"]


def test_every_stack_reads_whole(stacks: dict[str, tuple[str, np.ndarray]]) -> None:
    assert sorted(stacks) == sorted(NAMES)
    for name, (uri, expected) in stacks.items():
        a = intern.array(uri)
        assert a.shape == expected.shape, name
        assert a.dtype == expected.dtype.newbyteorder("="), name
        assert a.axes[-3:] == ("z", "y", "x")
        np.testing.assert_array_equal(a[...], expected, err_msg=name)


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_random_boxes(stacks: dict[str, tuple[str, np.ndarray]], name: str, data: st.DataObject) -> None:
    uri, expected = stacks[name]
    start = [data.draw(st.integers(0, n - 1)) for n in expected.shape]
    stop = [data.draw(st.integers(a + 1, n)) for a, n in zip(start, expected.shape, strict=True)]
    box = intern.Box(tuple(start), tuple(stop))
    got = intern.array(uri).read(box)
    np.testing.assert_array_equal(got, expected[box.to_slices()], err_msg=f"{name} [{box}]")


def test_axes_and_metadata(stacks: dict[str, tuple[str, np.ndarray]]) -> None:
    ome = intern.array(stacks["tifffile OME-TIFF, 2 channels, tiled"][0])
    assert ome.axes == ("c", "z", "y", "x")
    assert ome.voxel_size == pytest.approx((40.0, 8.0, 8.0))  # OME's default unit, the micrometre, in nm
    assert ome.metadata.attributes["voxel_size_source"] == {"z": "ome", "y": "ome", "x": "ome"}
    assert ome.metadata.attributes["tiff"]["format"] == "ome" and ome.metadata.attributes["tiff"]["tiled"]
    hyper = intern.array(stacks["tifffile ImageJ hyperstack"][0])
    assert hyper.axes == ("t", "c", "z", "y", "x") and hyper.metadata.attributes["tiff"]["file_axes"] == "TZCYXS"
    assert intern.array(stacks["tifffile RGB, interleaved, tiled"][0]).chunks[0] == 3  # samples come together
    plain = intern.array(stacks["tifffile multipage"][0])
    assert plain.kind == "image" and plain.voxel_size == (1.0, 1.0, 1.0)
    assert plain.metadata.attributes["voxel_size_source"] == {"z": "default", "y": "default", "x": "default"}
    png = intern.array(stacks["imageio PNG slices"][0])
    assert png.uri.endswith("/") and png.metadata.attributes["tiff"]["slices"] == 12
    assert intern.ls(png.uri) == [f"slice{i}.png" for i in range(1, 13)]


def test_voxel_sizes_from_imagej_and_resolution_tags(tmp_path: Path) -> None:
    vol = _volume("uint8")
    tifffile.imwrite(tmp_path / "ij.tif", vol, imagej=True, resolution=(2.0, 4.0),
                     metadata={"axes": "ZYX", "spacing": 0.75, "unit": "micron"})
    ij = intern.array(f"tiff://{tmp_path}/ij.tif")
    assert ij.voxel_size == pytest.approx((750.0, 250.0, 500.0))  # pixels per micron -> nm per pixel, y then x
    assert ij.metadata.attributes["voxel_size_source"] == {"z": "imagej", "y": "imagej", "x": "imagej"}
    tifffile.imwrite(tmp_path / "cm.tif", vol, resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
    cm = intern.array(f"tiff://{tmp_path}/cm.tif")
    assert cm.voxel_size == pytest.approx((1.0, 100.0, 100.0))
    assert cm.metadata.attributes["voxel_size_source"] == {"z": "default", "y": "tiff-resolution",
                                                           "x": "tiff-resolution"}
    tifffile.imwrite(tmp_path / "ome-nm.ome.tif", vol, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 4, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 4, "PhysicalSizeYUnit": "nm",
        "PhysicalSizeZ": 0.03, "PhysicalSizeZUnit": "µm"})
    assert intern.array(f"tiff://{tmp_path}/ome-nm.ome.tif").voxel_size == pytest.approx((30.0, 4.0, 4.0))


def test_options_override_what_the_file_says(stacks: dict[str, tuple[str, np.ndarray]]) -> None:
    uri, expected = stacks["tifffile BigTIFF"]
    seg = intern.array(uri + "?kind=segmentation&voxel_size=30,4,4&mode=r")
    assert seg.kind == "segmentation" and seg.voxel_size == (30.0, 4.0, 4.0)
    assert seg.metadata.attributes["voxel_size_source"] == {"z": "option", "y": "option", "x": "option"}
    again = intern.array(seg.uri)  # the URI carries the options, as workers reopen it
    assert again.kind == "segmentation" and again.voxel_size == (30.0, 4.0, 4.0) and not again.resource.writable
    np.testing.assert_array_equal(again[2:4, 10:20, 5:6], expected[2:4, 10:20, 5:6])
    same = intern.array(uri, kind="segmentation", voxel_size=(30, 4, 4))
    assert same.kind == "segmentation" and same.voxel_size == (30.0, 4.0, 4.0)


def test_ome_pyramid_levels_are_scales(tmp_path: Path) -> None:
    vol = _volume("uint8", shape=(4, 64, 96))
    with tifffile.TiffWriter(tmp_path / "pyr.ome.tif", bigtiff=True, ome=True) as tw:
        tw.write(vol, subifds=2, tile=(16, 16), compression="zlib",
                 metadata={"axes": "ZYX", "PhysicalSizeX": 0.01, "PhysicalSizeY": 0.01, "PhysicalSizeZ": 0.05})
        tw.write(vol[:, ::2, ::2], subfiletype=1, tile=(16, 16), compression="zlib")
        tw.write(vol[:, ::4, ::4], subfiletype=1, tile=(16, 16), compression="zlib")
    a = intern.array(f"{tmp_path}/pyr.ome.tif")  # a plain path: the .tif suffix names the scheme
    assert a.uri == f"tiff://{tmp_path}/pyr.ome.tif"
    assert [lv.shape for lv in a.scales] == [(4, 64, 96), (4, 32, 48), (4, 16, 24)]
    assert [lv.voxel_size for lv in a.scales] == [(50.0, 10.0, 10.0), (50.0, 20.0, 20.0), (50.0, 40.0, 40.0)]
    for s, step in enumerate((1, 2, 4)):
        np.testing.assert_array_equal(intern.array(a.uri, scale=s)[1:3, 3:13, 5:20],
                                      vol[:, ::step, ::step][1:3, 3:13, 5:20])


def test_series_option(tmp_path: Path) -> None:
    big, small = _volume("uint8"), _volume("uint8", shape=(2, 9, 11), seed=9)
    with tifffile.TiffWriter(tmp_path / "two.tif") as tw:
        tw.write(big, photometric="minisblack")
        tw.write(small, photometric="minisblack")
    np.testing.assert_array_equal(intern.array(f"tiff://{tmp_path}/two.tif")[...], big)
    second = intern.array(f"tiff://{tmp_path}/two.tif?series=1")
    np.testing.assert_array_equal(second[...], small)
    assert second.uri.endswith("?series=1") and second.metadata.attributes["tiff"]["series"] == 1
    with pytest.raises(NotFoundError, match="no series 2"):
        intern.array(f"tiff://{tmp_path}/two.tif", series=2)


def test_a_single_png_or_2d_tiff_is_one_section(tmp_path: Path) -> None:
    image = _volume("uint8", shape=(20, 30))
    iio.imwrite(tmp_path / "one.png", image)
    tifffile.imwrite(tmp_path / "one.tif", image)
    for name in ("one.png", "one.tif"):
        a = intern.array(f"tiff://{tmp_path}/{name}")
        assert a.shape == (1, 20, 30)
        np.testing.assert_array_equal(a[0], image)


def test_ls_lists_stacks_in_natural_order(tmp_path: Path) -> None:
    for name in ("b10.tif", "b9.tif", "a.png", "notes.txt", ".hidden.tif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "slices").mkdir()
    assert intern.ls(f"tiff://{tmp_path}") == ["a.png", "b9.tif", "b10.tif", "slices"]
    with pytest.raises(NotFoundError):
        intern.ls(f"tiff://{tmp_path}/absent")
