"""Errors a user of tiff:// meets: each is one of intern's and says what happened and what to do."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import intern
from intern.errors import (
    DriverNotInstalledError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    RemoteError,
)
from intern.plugin import resolve_uri


def _plane(shape: tuple[int, int] = (20, 30), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def test_missing_file_or_folder(tmp_path: Path) -> None:
    for uri in (f"tiff://{tmp_path}/absent.tif", f"tiff://{tmp_path}/absent/", f"{tmp_path}/absent.tiff"):
        with pytest.raises(NotFoundError, match=str(tmp_path)) as info:
            intern.array(uri)
        assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(NotFoundError, match="no TIFF or PNG slices"):
        intern.array(f"tiff://{tmp_path}/empty/")
    assert not (tmp_path / "absent.tif").exists()  # looking created nothing


def test_non_tiff_file(tmp_path: Path) -> None:
    (tmp_path / "notes.tif").write_text("not an image")
    with pytest.raises(NotFoundError, match="not a TIFF file"):
        intern.array(f"tiff://{tmp_path}/notes.tif")



def test_truncated_files(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "photo.tif", np.stack([_plane(), _plane(seed=1)]))
    (tmp_path / "photo.tif").write_bytes((tmp_path / "photo.tif").read_bytes()[:-100])  # the last header cut short
    with pytest.raises(MetadataError, match="photo.tif: the TIFF structure is damaged or truncated"):
        intern.array(f"tiff://{tmp_path}/photo.tif")
    # a plain BigTIFF whose shape is in its first header: tifffile reads it although the later headers are gone
    made = intern.create(f"tiff://{tmp_path}/made.tif", shape=(2, 20, 30), dtype="uint64")
    planes = np.stack([_plane(), _plane(seed=1)]).astype(np.uint64)
    made[...] = planes
    made.resource.close()
    with tifffile.TiffFile(tmp_path / "made.tif") as tif:
        start = tif.series[0].dataoffset
    with open(tmp_path / "made.tif", "r+b") as f:  # cut into the second page's pixels
        f.truncate(start + planes[0].nbytes + 100)
    again = intern.array(f"tiff://{tmp_path}/made.tif")
    assert again.shape == (2, 20, 30)
    np.testing.assert_array_equal(again[0], planes[0])
    with pytest.raises(RemoteError, match="made.tif is truncated"):
        again[1]


def test_folder_with_mixed_slice_shapes(tmp_path: Path) -> None:
    for name, shape in (("s1.png", (20, 30)), ("s2.png", (20, 30)), ("s10.png", (21, 30))):
        iio.imwrite(tmp_path / name, _plane(shape))
    with pytest.raises(MetadataError, match=r"s10\.png.*21.*s1\.png.*20"):
        intern.array(f"tiff://{tmp_path}")
    (tmp_path / "s10.png").unlink()
    iio.imwrite(tmp_path / "s3.png", np.zeros((20, 30, 3), np.uint8))  # RGB among grey
    with pytest.raises(MetadataError, match="RGB"):
        intern.array(f"tiff://{tmp_path}")
    tifs = tmp_path / "tifs"
    tifs.mkdir()
    tifffile.imwrite(tifs / "a1.tif", _plane())
    tifffile.imwrite(tifs / "a2.tif", _plane().astype(np.uint16))
    with pytest.raises(MetadataError, match=r"a2\.tif is 20x30 uint16, but .*a1\.tif is 20x30 uint8"):
        intern.array(f"tiff://{tifs}")


def test_folder_of_mixed_kinds_or_multipage_files(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", _plane())
    tifffile.imwrite(tmp_path / "b.tif", _plane())
    with pytest.raises(MetadataError, match="both PNG and TIFF"):
        intern.array(f"tiff://{tmp_path}")
    stacked = tmp_path / "stacked"
    stacked.mkdir()
    tifffile.imwrite(stacked / "0.tif", np.stack([_plane(), _plane()]))
    tifffile.imwrite(stacked / "1.tif", np.stack([_plane(), _plane()]))
    with pytest.raises(MetadataError, match="2 pages; a folder stack takes one image per file"):
        intern.array(f"tiff://{stacked}")


def test_axes_without_a_place(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "tiles.tif", np.zeros((2, 3, 8, 8), np.uint8), photometric="minisblack",
                     metadata={"axes": "RZYX"})
    with pytest.raises(MetadataError, match="tile axis"):
        intern.array(f"tiff://{tmp_path}/tiles.tif")
    rgb_channels = np.zeros((2, 3, 8, 8, 3), np.uint8)  # Z, C, Y, X, RGB samples
    tifffile.imwrite(tmp_path / "cs.tif", rgb_channels, imagej=True, photometric="rgb", metadata={"axes": "ZCYXS"})
    with pytest.raises(MetadataError, match="both the file's C and S"):
        intern.array(f"tiff://{tmp_path}/cs.tif")


def test_encodings_intern_cannot_decode(tmp_path: Path) -> None:
    vol = np.stack([_plane(), _plane(seed=1)])
    tifffile.imwrite(tmp_path / "odd.tif", vol, compression="zlib")
    with tifffile.TiffFile(tmp_path / "odd.tif", mode="r+") as tif:
        for page in tif.pages:
            page.tags["Compression"].overwrite(60000)  # a code no codec claims
    with pytest.raises(MetadataError, match="compression 60000"):
        intern.array(f"tiff://{tmp_path}/odd.tif")
    tifffile.imwrite(tmp_path / "lzw.tif", vol, compression="zlib")
    with tifffile.TiffFile(tmp_path / "lzw.tif", mode="r+") as tif:
        for page in tif.pages:
            page.tags["Compression"].overwrite(5)  # LZW, which tifffile decodes through imagecodecs only
    if importlib.util.find_spec("imagecodecs") is None:
        with pytest.raises(DriverNotInstalledError, match="pip install imagecodecs"):
            intern.array(f"tiff://{tmp_path}/lzw.tif")
    else:  # the deflate bytes are not LZW: the read fails as a corrupt segment
        with pytest.raises(RemoteError, match="does not decode"):
            intern.array(f"tiff://{tmp_path}/lzw.tif")[...]


def test_corrupt_segment(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "bad.tif", np.stack([_plane(), _plane(seed=1)]), compression="zlib",
                     photometric="minisblack")
    with tifffile.TiffFile(tmp_path / "bad.tif") as tif:
        offset = tif.pages[1].dataoffsets[0]
    with open(tmp_path / "bad.tif", "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 16)
    a = intern.array(f"tiff://{tmp_path}/bad.tif")
    np.testing.assert_array_equal(a[0], _plane())  # the intact page still reads
    with pytest.raises(RemoteError, match="does not decode"):
        a[1]


def test_bad_options(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "v.tif", _plane())
    (tmp_path / "slices").mkdir()
    iio.imwrite(tmp_path / "slices" / "0.png", _plane())
    uri = f"tiff://{tmp_path}/v.tif"
    for query, message in (("?kidn=segmentation", "does not know the option.*kidn"), ("?mode=w", "mode"),
                           ("?voxel_size=4,4", "three positive"), ("?voxel_size=0,4,4", "three positive"),
                           ("?series=first", "series"), ("?kind=labels", "kind")):
        with pytest.raises(InvalidURIError, match=message):
            intern.array(uri + query)
    with pytest.raises(InvalidURIError, match="folder"):
        intern.array(f"tiff://{tmp_path}/slices/", series=1)
    with pytest.raises(InvalidURIError, match="local"):
        intern.array("tiff://s3://bucket/v.tif")
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(MetadataError, match="segmentation holds integer labels"):
        intern.array(f"tiff://{tmp_path}/f.tif", kind="segmentation")


def test_scheme_and_suffixes_registered_and_plugin_light() -> None:
    (info,) = [p for p in intern.plugins() if p.name == "zarr"]
    assert "tiff" in info.schemes
    for path in ("/x/em.tif", "/x/em.ome.tif", "/x/EM.TIFF", "/x/big.btf"):
        assert resolve_uri(path).scheme == "tiff"
    code = ("import sys, intern_zarr.plugin, intern; intern.plugins(); "
            "heavy = [m for m in ('tifffile', 'PIL', 'zarr', 'h5py') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
