"""Datasets intern-knossos writes: cube files with the names, sizes and bytes the format requires, read by hand;
configurations KNOSSOS can parse; every magnification equal to its source after a round trip through intern.array."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.plugin import LOCK_FILE, Box

CUBE = 128
SHAPE = (150, 260, 300)  # z, y, x: 2 x 3 x 3 cubes of 128^3, partial at every far face


def _source(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "uint64":  # labels in blobs, with large ids, and a zero background
        coarse = rng.integers(0, 2**63, (4, 4, 4), dtype=np.uint64)
        coarse[0, 0, 0] = 0
        idx = [np.minimum(np.arange(n) * 4 // n, 3) for n in shape]
        return coarse[np.ix_(*idx)]
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _expected_files(root: Path, name: str, mag: int, shape_zyx: tuple[int, ...], ext: str, data: np.ndarray,
                    cube: int = CUBE) -> dict[Path, np.ndarray]:
    """Every cube file the format requires for ``data`` (empty cubes excepted), with its full padded content."""
    files = {}
    nz, ny, nx = shape_zyx
    for z in range(-(-nz // cube)):
        for y in range(-(-ny // cube)):
            for x in range(-(-nx // cube)):
                full = np.zeros((cube,) * 3, data.dtype)
                part = data[z * cube:(z + 1) * cube, y * cube:(y + 1) * cube, x * cube:(x + 1) * cube]
                full[: part.shape[0], : part.shape[1], : part.shape[2]] = part
                if full.any():
                    files[root / f"mag{mag}" / f"x{x:04d}" / f"y{y:04d}" / f"z{z:04d}"
                          / f"{name}_mag{mag}_x{x:04d}_y{y:04d}_z{z:04d}{ext}"] = full
    return files


def _cube_files(root: Path) -> set[Path]:
    # the configuration, and the core's empty chunk lock file in each magM folder, are not cubes
    return {p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".k.toml") and p.name != LOCK_FILE}


@pytest.mark.parametrize(("dtype", "kind", "ext", "itemsize"), [
    ("uint8", "image", ".raw", 1),
    ("uint8", "image", ".png", None),
    ("uint64", "segmentation", ".seg.sz.zip", None),
    ("uint64", "segmentation", ".seg", 8),
])
def test_cube_files_are_what_knossos_reads(tmp_path: Path, kfiles, dtype: str, kind: str, ext: str,
                                           itemsize: int | None):
    data = _source(SHAPE, dtype)
    root = tmp_path / "ex145"
    a = intern.create(f"knossos://{root}", shape=SHAPE, dtype=dtype, kind=kind, chunks=(CUBE,) * 3,
                      voxel_size=(25, 9.5, 9.5), extension=ext)
    a[...] = data

    expected = _expected_files(root, "ex145", 1, SHAPE, ext, data)
    assert _cube_files(root) == set(expected)
    for path, content in expected.items():
        if itemsize is not None:  # uncompressed: exactly one cube of voxels, not clipped at the faces
            assert path.stat().st_size == CUBE**3 * itemsize
        np.testing.assert_array_equal(kfiles.decode(path, ext, (CUBE,) * 3), content)

    conf = tomllib.loads((root / "ex145.k.toml").read_text())
    (layer,) = conf["Layer"]
    # the keys KNOSSOS's .k.toml parser requires, in its (x, y, z) order
    assert layer["Name"] == "ex145" and layer["FileExtension"] == [ext]
    assert layer["Extent_px"] == [300, 260, 150]
    assert layer["CubeShape_px"] == [CUBE, CUBE, CUBE]
    assert layer["VoxelSize_nm"] == [[9.5, 9.5, 25.0]]
    assert layer["Description"] == "" and layer["DataType"] == dtype


def test_empty_cubes_are_not_stored_and_zeroed_cubes_are_removed(tmp_path: Path):
    a = intern.create(f"knossos://{tmp_path}/sparse", shape=(40, 40, 40), dtype="uint64", kind="segmentation",
                      chunks=(16, 16, 16))
    a[20:22, 0:3, 33:35] = 7
    files = _cube_files(tmp_path / "sparse")
    assert [p.name for p in files] == ["sparse_mag1_x0002_y0000_z0001.seg.sz.zip"]
    a[20:22, 0:3, 33:35] = 0
    assert _cube_files(tmp_path / "sparse") == set()
    assert not a[...].any()


@pytest.mark.parametrize(("dtype", "kind"), [("uint8", "image"), ("uint64", "segmentation")])
def test_every_magnification_round_trips(tmp_path: Path, kfiles, dtype: str, kind: str):
    shape = (70, 150, 170)
    data = _source(shape, dtype, seed=3)
    root = tmp_path / "pyramid"
    a = intern.create(f"knossos://{root}", shape=shape, dtype=dtype, kind=kind, chunks=(32, 32, 32),
                      voxel_size=(10, 10, 10), scales=3)
    a[...] = data
    intern.downsample(a, factor=(2, 2, 2), levels=2, dest=a)
    # the truth: the same service run on the numpy source, which returns its levels as arrays
    expected = [data, *intern.downsample(data, factor=(2, 2, 2), levels=2, kind=kind)]

    again = intern.array(f"knossos://{root}")
    assert [lv.key for lv in again.scales] == ["mag1", "mag2", "mag3"]
    assert [lv.voxel_size for lv in again.scales] == [(10.0,) * 3, (20.0,) * 3, (40.0,) * 3]
    rng = np.random.default_rng(11)
    for s, truth in enumerate(expected):
        level = again.at_scale(s)
        assert level.shape == truth.shape == tuple(-(-n // 2**s) for n in shape)
        np.testing.assert_array_equal(level[...], truth)
        for _ in range(5):  # random boxes of each level
            start = [int(rng.integers(0, n)) for n in truth.shape]
            stop = [int(rng.integers(a_ + 1, n + 1)) for a_, n in zip(start, truth.shape, strict=True)]
            box = Box(tuple(start), tuple(stop))
            np.testing.assert_array_equal(level.read(box), truth[box.to_slices()])
        # and each magnification's cubes are in its own magN folder, named for it, checked from the bytes
        ext = ".raw" if kind == "image" else ".seg.sz.zip"
        files = _expected_files(root, "pyramid", s + 1, truth.shape, ext, truth, cube=32)
        assert {p for p in _cube_files(root) if p.parts[len(root.parts)] == f"mag{s + 1}"} == set(files)
        for path, content in files.items():
            np.testing.assert_array_equal(kfiles.decode(path, ext, (32, 32, 32)), content)

    layer = tomllib.loads((root / "pyramid.k.toml").read_text())["Layer"][0]
    assert layer["VoxelSize_nm"] == [[10.0, 10.0, 10.0], [20.0, 20.0, 20.0], [40.0, 40.0, 40.0]]


def test_anisotropic_pyramid_keeps_z(tmp_path: Path):
    # EM sections: z is coarser than x and y, so the default pyramid halves x and y only at first
    a = intern.create(f"knossos://{tmp_path}/aniso", shape=(20, 100, 100), dtype="uint8", chunks=(16, 64, 64),
                      voxel_size=(40, 8, 8), scales=3)
    layer = tomllib.loads((tmp_path / "aniso" / "aniso.k.toml").read_text())["Layer"][0]
    assert layer["VoxelSize_nm"] == [[8.0, 8.0, 40.0], [16.0, 16.0, 40.0], [32.0, 32.0, 40.0]]
    again = intern.array(f"knossos://{tmp_path}/aniso", scale=2)
    assert again.shape == (20, 25, 25) and again.level.downsample == (1.0, 4.0, 4.0)
    assert a.at_scale(1).shape == (20, 50, 50)


def test_layers_added_to_a_dataset_sit_beside_its_cubes(tmp_path: Path):
    root = tmp_path / "ex145"
    em = intern.create(f"knossos://{root}", shape=(30, 40, 50), dtype="uint8", chunks=(16, 16, 16))
    seg = intern.create(f"knossos://{root}/segmentation", shape=(30, 40, 50), dtype="uint64", kind="segmentation",
                        chunks=(16, 16, 16), name="ex145")
    em[...] = 9
    seg[0:16, 0:16, 0:16] = 2**40
    # one experiment name, two kinds: the KNOSSOS convention, so the layers are named by kind
    assert intern.ls(f"knossos://{root}") == ["image", "segmentation"]
    assert seg.uri == f"knossos://{root}/segmentation"
    assert (root / "mag1/x0000/y0000/z0000/ex145_mag1_x0000_y0000_z0000.raw").is_file()
    assert (root / "mag1/x0000/y0000/z0000/ex145_mag1_x0000_y0000_z0000.seg.sz.zip").is_file()
    assert intern.array(f"knossos://{root}/segmentation")[5, 5, 5] == 2**40
    assert intern.array(f"knossos://{root}")[5, 5, 5] == 9  # the dataset opens at its first layer
    assert intern.array(f"knossos://{root}/image").uri == f"knossos://{root}/image"
    layers = tomllib.loads((root / "ex145.k.toml").read_text())["Layer"]
    assert [(lay["Name"], lay["FileExtension"]) for lay in layers] == [("ex145", [".raw"]), ("ex145", [".seg.sz.zip"])]

    cells = intern.create(f"knossos://{root}/cells", shape=(30, 40, 50), dtype="uint64", kind="segmentation",
                          chunks=(16, 16, 16))
    assert cells.uri == f"knossos://{root}/cells"
    assert intern.ls(f"knossos://{root}") == ["image", "segmentation", "cells"]


def test_create_in_a_config_file_path_and_reopen_by_plain_path(tmp_path: Path):
    conf = tmp_path / "stack" / "em.k.toml"
    a = intern.create(f"knossos://{conf}", shape=(8, 8, 8), dtype="uint8", chunks=(8, 8, 8))
    a[...] = 3
    assert conf.is_file() and (tmp_path / "stack/mag1/x0000/y0000/z0000/em_mag1_x0000_y0000_z0000.raw").is_file()
    assert intern.array(str(conf))[1, 2, 3] == 3  # a plain path ending .k.toml is claimed by knossos://
    assert intern.array(f"knossos://{tmp_path}/stack").uri == f"knossos://{tmp_path}/stack"
