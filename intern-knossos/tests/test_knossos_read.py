"""Reading KNOSSOS datasets as other tools write them: the classic knossos.conf, .pyk.conf and .k.toml layouts, with
their cubes written by hand (the kfiles fixture of conftest.py), never by intern-knossos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern

RNG = np.random.default_rng(42)
IMAGE = RNG.integers(0, 256, (40, 50, 70), dtype=np.uint8)          # z, y, x
LABELS = np.repeat(RNG.integers(1, 2**62, (40, 50, 1), dtype=np.uint64), 70, axis=2)


def _halve(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(data[::2, ::2, ::2])


def _classic(kfiles, root: Path, *, png: bool = False) -> Path:
    """A dataset as knossos_cuber made them: a knossos.conf in each magnification's folder, mag1 and mag2."""
    cube = (32, 32, 32)
    ext = ".png" if png else ".raw"
    for mag, data in ((1, IMAGE), (2, _halve(IMAGE))):
        kfiles.write_cubes(root, "ex145", mag, data, cube, ext)
        # each folder's conf describes its own magnification: boundary in its voxels, scale in its nm
        (root / f"mag{mag}" / "knossos.conf").write_text(
            f'experiment name "ex145_mag{mag}";\nboundary x {-(-70 // mag)};\nboundary y {-(-50 // mag)};\n'
            f"boundary z {-(-40 // mag)};\nscale x {9.25 * mag};\nscale y {9.25 * mag};\nscale z {20.0 * mag};\n"
            f"magnification {mag};\ncube_edge_length 32;\n" + ("png;\n" if png else ""))
    kfiles.write_cubes(root, "ex145", 1, LABELS, cube, ".seg.sz.zip")
    return root


@pytest.mark.parametrize("png", [False, True])
def test_classic_knossos_conf(tmp_path: Path, kfiles, png: bool):
    root = _classic(kfiles, tmp_path / "ex145", png=png)
    em = intern.array(f"knossos://{root}")
    assert em.shape == (40, 50, 70) and em.dtype == np.uint8 and em.kind == "image"
    assert em.voxel_size == (20.0, 9.25, 9.25) and em.chunks == (32, 32, 32)
    assert [lv.key for lv in em.scales] == ["mag1", "mag2"]
    assert em.scales[1].shape == (20, 25, 35) and em.scales[1].voxel_size == (40.0, 18.5, 18.5)
    np.testing.assert_array_equal(em[...], IMAGE)
    np.testing.assert_array_equal(em.at_scale(1)[...], _halve(IMAGE))
    np.testing.assert_array_equal(em[13:37, 5:49, 31:69], IMAGE[13:37, 5:49, 31:69])
    assert intern.ls(f"knossos://{root}") == ["image", "segmentation"]
    seg = intern.array(f"knossos://{root}/segmentation")
    assert seg.kind == "segmentation" and seg.dtype == np.uint64
    np.testing.assert_array_equal(seg[...], LABELS)
    assert not seg.at_scale(1)[...].any()  # no overlay cubes at mag2: they read as zeros, as in KNOSSOS
    assert em.metadata.attributes["knossos"]["format"] == "knossos.conf"


def test_every_way_of_naming_a_classic_dataset(tmp_path: Path, kfiles):
    root = _classic(kfiles, tmp_path / "ex145")
    names = [f"knossos://{root}", f"knossos://{root}/mag1", f"knossos://{root}/mag1/knossos.conf",
             f"knossos://{root}/mag2/knossos.conf", str(root / "mag1" / "knossos.conf"), f"knossos://{root}/image"]
    for name in names:
        a = intern.array(name)
        assert a.shape == (40, 50, 70), name
        assert int(a[39, 49, 69]) == int(IMAGE[39, 49, 69]), name


def test_k_conf_as_knossos_utils_writes_it(tmp_path: Path, kfiles):
    # the classic format in NAME.k.conf at the root, the name unquoted; empty knossos.conf markers in magN folders
    root = tmp_path / "kconf"
    kfiles.write_cubes(root, "ex", 1, IMAGE, (128, 128, 128), ".png")
    (root / "mag1" / "knossos.conf").write_text("")
    (root / "ex.k.conf").write_text("experiment name ex;\nboundary x 70;\nboundary y 50;\nboundary z 40;\n"
                                    "scale x 9.00;\nscale y 9.00;\nscale z 25.00;\nmagnification 1;\npng;\n")
    for name in (root, root / "mag1", root / "mag1" / "knossos.conf", root / "ex.k.conf"):
        a = intern.array(f"knossos://{name}")
        assert a.voxel_size == (25.0, 9.0, 9.0) and a.chunks == (128, 128, 128), name
        np.testing.assert_array_equal(a[...], IMAGE)


def test_pyknossos_conf_with_two_layers(tmp_path: Path, kfiles):
    root = tmp_path / "pyk"
    kfiles.write_cubes(root, "cortex", 1, IMAGE, (64, 32, 16), ".png")
    kfiles.write_cubes(root, "cortex", 2, _halve(IMAGE), (64, 32, 16), ".png")
    kfiles.write_cubes(root, "cells", 1, LABELS, (64, 32, 16), ".seg.sz.zip")
    (root / "cortex.pyk.conf").write_text(
        '[Dataset]\n_BaseName = cortex\n_DataScale = 9.0,9.0,25.0, 18.0,18.0,50.0, \n_Extent = 70,50,40\n'
        "_CubeSize = 64,32,16\n_BaseExt = .png\n_Description = two layers\n\n"
        "[Dataset]\n_BaseName = cells\n_DataScale = 9.0,9.0,25.0\n_Extent = 70,50,40\n_CubeSize = 64,32,16\n"
        "_BaseExt = .seg.sz.zip\n")
    assert intern.ls(f"knossos://{root}") == ["cortex", "cells"]
    em = intern.array(f"knossos://{root}")
    assert em.chunks == (16, 32, 64) and em.voxel_size == (25.0, 9.0, 9.0)
    assert [lv.key for lv in em.scales] == ["mag1", "mag2"]  # ordinal magnifications: mag2 is the second level
    np.testing.assert_array_equal(em[...], IMAGE)
    np.testing.assert_array_equal(em.at_scale(1)[...], _halve(IMAGE))
    np.testing.assert_array_equal(intern.array(f"knossos://{root}/cells")[...], LABELS)
    assert em.metadata.attributes["knossos"]["description"] == "two layers"


def test_k_toml_as_knossos_utils_writes_it(tmp_path: Path, kfiles):
    root = tmp_path / "tml"
    for mag, data in ((1, IMAGE), (2, _halve(IMAGE))):
        kfiles.write_cubes(root, "ex", mag, data, (32, 32, 32), ".raw")
    kfiles.write_cubes(root, "ex", 1, LABELS, (32, 32, 32), ".seg.sz.zip")
    # literal strings, integer voxel sizes, two extensions in one layer; ServerFormat knossos: power-of-two folders
    (root / "ex.k.toml").write_text(
        "[[Layer]]\nName = 'ex'\nServerFormat = 'knossos'\nFileExtension = ['.raw', '.seg.sz.zip']\n"
        "Extent_px = [70, 50, 40]\nVoxelSize_nm = [[10, 10, 30], [20, 20, 60]]\nCubeShape_px = [32, 32, 32]\n"
        "Description = ''\nVisible = true\n")
    (root / "mag4").mkdir()  # a stray folder is no level: the configuration lists the levels
    assert intern.ls(f"knossos://{root}/ex.k.toml") == ["image", "segmentation"]
    em = intern.array(f"knossos://{root}/ex.k.toml/image")
    assert [lv.key for lv in em.scales] == ["mag1", "mag2"]
    np.testing.assert_array_equal(em.at_scale(1)[...], _halve(IMAGE))
    np.testing.assert_array_equal(intern.array(f"knossos://{root}/segmentation")[...], LABELS)


def test_cubes_clipped_at_the_faces(tmp_path: Path, kfiles):
    # newer KNOSSOS versions read image cubes that stop at the dataset's far faces; so does intern-knossos
    root = tmp_path / "clip"
    kfiles.write_cubes(root, "clip", 1, IMAGE, (32, 32, 32), ".png", clip=True)
    kfiles.write_cubes(root, "clip", 1, LABELS, (32, 32, 32), ".seg", clip=True)
    (root / "clip.k.toml").write_text(
        "[[Layer]]\nName = 'clip'\nFileExtension = ['.png', '.seg']\nExtent_px = [70, 50, 40]\n"
        "VoxelSize_nm = [[1, 1, 1]]\nCubeShape_px = [32, 32, 32]\nDescription = ''\n")
    np.testing.assert_array_equal(intern.array(f"knossos://{root}/image")[...], IMAGE)
    np.testing.assert_array_equal(intern.array(f"knossos://{root}/segmentation")[...], LABELS)


def test_lossy_image_cubes_read_only(tmp_path: Path, kfiles):
    smooth = np.broadcast_to(np.arange(70, dtype=np.uint8)[None, None, :] * 3, (40, 50, 70)).copy()
    root = tmp_path / "lossy"
    kfiles.write_cubes(root, "lossy", 1, smooth, (32, 32, 32), ".jpg")
    kfiles.write_cubes(root, "lossy", 1, smooth, (32, 32, 32), ".j2k")
    (root / "lossy.k.toml").write_text(
        "[[Layer]]\nName = 'lossy'\nFileExtension = ['.jpg', '.j2k']\nExtent_px = [70, 50, 40]\n"
        "VoxelSize_nm = [[1, 1, 1]]\nCubeShape_px = [32, 32, 32]\nDescription = ''\n")
    assert intern.ls(f"knossos://{root}") == ["image.jpg", "image.j2k"]
    for layer in ("image.jpg", "image.j2k"):
        a = intern.array(f"knossos://{root}/{layer}")
        assert np.abs(a[...].astype(int) - smooth).max() <= 3  # JPEG at quality 100 and default JPEG 2000
        assert not a.resource.writable
        with pytest.raises(intern.errors.ReadOnlyError):
            a[0, 0, 0] = 1


def test_read_only_mode(tmp_path: Path, kfiles):
    root = _classic(kfiles, tmp_path / "ex145")
    a = intern.array(f"knossos://{root}?mode=r")
    assert a.uri == f"knossos://{root}/image?mode=r"
    with pytest.raises(intern.errors.ReadOnlyError):
        a[0, 0, 0] = 1
    assert intern.array(a.uri)[0, 0, 0] == IMAGE[0, 0, 0]
