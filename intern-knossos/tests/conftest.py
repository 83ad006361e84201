"""Helpers of intern-knossos's tests: KNOSSOS files written and read by hand, independently of the driver.

They follow the layout KNOSSOS and knossos_utils use (docs/knossos.md): ``magM/xXXXX/yYYYY/zZZZZ/NAME_magM_xXXXX_
yYYYY_zZZZZ.EXT``, voxels x fastest; ``.raw`` uint8, ``.seg`` uint64 little-endian, ``.png`` an image of (z * y) rows
by x columns, ``.seg.sz.zip`` a zip whose one member ``<name>.seg.sz`` is snappy-compressed uint64.

Tests reach them through the ``kfiles`` fixture (the test run imports test modules by path, so they cannot import
this module by name).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cramjam
import numpy as np
import pytest
from PIL import Image


def cube_file(root: Path, name: str, mag: int, xyz: tuple[int, int, int], ext: str) -> Path:
    x, y, z = xyz
    return (root / f"mag{mag}" / f"x{x:04d}" / f"y{y:04d}" / f"z{z:04d}"
            / f"{name}_mag{mag}_x{x:04d}_y{y:04d}_z{z:04d}{ext}")


def encode(cube_zyx: np.ndarray, ext: str, member: str = "cube.seg.sz") -> bytes:
    """A cube's file content, as KNOSSOS tools write it."""
    if ext == ".raw":
        return cube_zyx.astype("u1").tobytes()
    if ext == ".seg":
        return cube_zyx.astype("<u8").tobytes()
    if ext in (".png", ".jpg", ".j2k"):
        buf = io.BytesIO()
        fmt = {".png": "PNG", ".jpg": "JPEG", ".j2k": "JPEG2000"}[ext]
        extra = {"quality": 100} if ext == ".jpg" else {}
        Image.fromarray(cube_zyx.astype("u1").reshape(-1, cube_zyx.shape[2])).save(buf, format=fmt, **extra)
        return buf.getvalue()
    if ext == ".seg.sz.zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(member, bytes(cramjam.snappy.compress_raw(cube_zyx.astype("<u8").tobytes())),
                        compress_type=zipfile.ZIP_DEFLATED)
        return buf.getvalue()
    raise ValueError(ext)


def decode(path: Path, ext: str, cube_zyx: tuple[int, int, int]) -> np.ndarray:
    """A cube file's voxels as (z, y, x), read straight from its bytes."""
    if ext == ".raw":
        return np.fromfile(path, dtype="u1").reshape(cube_zyx)
    if ext == ".seg":
        return np.fromfile(path, dtype="<u8").reshape(cube_zyx)
    if ext == ".png":
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "L"
            assert im.size == (cube_zyx[2], cube_zyx[0] * cube_zyx[1])  # (width, height) = (x, z * y)
            return np.asarray(im).reshape(cube_zyx)
    if ext == ".seg.sz.zip":
        with zipfile.ZipFile(path) as zf:
            (member,) = zf.namelist()
            assert member == path.name[: -len(".zip")]
            raw = bytes(cramjam.snappy.decompress_raw(zf.read(member)))
        return np.frombuffer(raw, dtype="<u8").reshape(cube_zyx)
    raise ValueError(ext)


def write_cubes(root: Path, name: str, mag: int, data_zyx: np.ndarray, cube_xyz: tuple[int, int, int], ext: str,
                *, clip: bool = False) -> None:
    """Cut ``data`` into cubes and write them; edge cubes padded to the full cube unless ``clip``."""
    cx, cy, cz = cube_xyz
    nz, ny, nx = data_zyx.shape
    for z in range(-(-nz // cz)):
        for y in range(-(-ny // cy)):
            for x in range(-(-nx // cx)):
                block = data_zyx[z * cz:(z + 1) * cz, y * cy:(y + 1) * cy, x * cx:(x + 1) * cx]
                if not clip:
                    full = np.zeros((cz, cy, cx), data_zyx.dtype)
                    full[: block.shape[0], : block.shape[1], : block.shape[2]] = block
                    block = full
                path = cube_file(root, name, mag, (x, y, z), ext)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encode(block, ext, member=path.name[: -len(".zip")]))


class KnossosFiles:
    """The helpers above, as one object for the ``kfiles`` fixture."""

    cube_file = staticmethod(cube_file)
    encode = staticmethod(encode)
    decode = staticmethod(decode)
    write_cubes = staticmethod(write_cubes)


@pytest.fixture(scope="session")
def kfiles() -> type[KnossosFiles]:
    return KnossosFiles
