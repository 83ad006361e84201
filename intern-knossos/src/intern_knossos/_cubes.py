"""Cube files: where a cube lives, and how each encoding KNOSSOS uses is read and written.

A cube holds ``cube_shape`` voxels stored x fastest, then y, then z: its bytes are a (z, y, x) C-order numpy array as
they are. Image cubes are uint8; segmentation ("overlay") cubes are little-endian uint64.

======================  ======================================================================  ========
extension               content                                                                 intern
======================  ======================================================================  ========
``.raw``                the voxels, uint8                                                       r/w
``.png``                one 8-bit gray image of (z * y) rows and x columns                      r/w
``.jpg`` ``.jpeg``      the same image, JPEG (lossy)                                            r
``.j2k`` ``.jp2``       the same image, JPEG 2000 (``.6.jp2``: compression ratio 6)             r
``.seg``                the voxels, uint64 little-endian                                        r/w
``.seg.sz.zip``         a zip holding one member, ``<file name>.seg.sz``: the uint64 voxels       r/w
                        compressed with snappy (the raw block format, no framing)
======================  ======================================================================  ========

A cube that does not exist reads as zeros; a cube written with nothing but zeros is not stored (KNOSSOS tools skip
empty cubes too). Cubes at the far faces of a volume are stored whole, padded with zeros; cubes clipped to the
volume, which newer KNOSSOS versions accept for images, are read too.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from intern.errors import RemoteError
from intern.plugin import write_atomic

from ._config import SEGMENTATION_EXTENSIONS

__all__ = ["WRITABLE_EXTENSIONS", "cube_dtype", "cube_path", "read_cube", "write_cube"]

XYZ = tuple[int, int, int]
ZYX = tuple[int, int, int]

#: encodings intern writes: exact ones only (a partial-cube write re-encodes the cube, which JPEG would degrade)
WRITABLE_EXTENSIONS = (".raw", ".png", ".seg.sz.zip", ".seg")
_PNG_LEVEL = 1  # zlib level 1: EM noise barely compresses harder at higher levels, which only cost time
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def cube_dtype(extension: str) -> np.dtype:
    """The voxel type of an encoding, little-endian as stored."""
    return np.dtype("<u8") if extension in SEGMENTATION_EXTENSIONS else np.dtype("u1")


def cube_path(root: Path, name: str, mag: int, index: XYZ, extension: str) -> Path:
    """``ROOT/magM/xXXXX/yYYYY/zZZZZ/NAME_magM_xXXXX_yYYYY_zZZZZ.EXT``; indices are cube coordinates (x, y, z)."""
    x, y, z = index
    coords = f"x{x:04d}_y{y:04d}_z{z:04d}"
    return root / f"mag{mag}" / f"x{x:04d}" / f"y{y:04d}" / f"z{z:04d}" / f"{name}_mag{mag}_{coords}{extension}"


def _corrupt(path: Path, why: str) -> RemoteError:
    return RemoteError(f"KNOSSOS cube {path} is damaged: {why}; rewrite it or delete it (a missing cube reads as zeros)")


def _shape_for(path: Path, voxels: int, cube: ZYX, clipped: ZYX) -> ZYX:
    """The cube's stored shape, told by how many voxels the file holds: the whole cube, or the cube clipped."""
    if voxels == cube[0] * cube[1] * cube[2]:
        return cube
    if voxels == clipped[0] * clipped[1] * clipped[2]:
        return clipped
    raise _corrupt(path, f"it holds {voxels} voxels, a cube of (z, y, x) {cube} holds {cube[0] * cube[1] * cube[2]}")


def _read_plain(path: Path, dtype: np.dtype, cube: ZYX, clipped: ZYX, region: tuple[slice, ...]) -> np.ndarray:
    # uncompressed: seek to the first z-plane of the region and read only the planes it needs
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size % dtype.itemsize:
            raise _corrupt(path, f"{size} bytes is not a whole number of {dtype.itemsize}-byte voxels")
        shape = _shape_for(path, size // dtype.itemsize, cube, clipped)
        plane = shape[1] * shape[2]
        z0, z1 = region[0].start, region[0].stop
        f.seek(z0 * plane * dtype.itemsize)
        data = np.fromfile(f, dtype=dtype, count=(z1 - z0) * plane)
    return data.reshape(z1 - z0, shape[1], shape[2])[:, region[1], region[2]]


def _read_image(path: Path, dtype: np.dtype, cube: ZYX, clipped: ZYX, region: tuple[slice, ...]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # KNOSSOS converts whatever it decodes to 8-bit gray; so do we
            pixels = np.asarray(image if image.mode == "L" else image.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _corrupt(path, f"it does not decode as an image ({exc})") from exc
    return pixels.reshape(_shape_for(path, pixels.size, cube, clipped))[region]


def _read_snappy_zip(path: Path, dtype: np.dtype, cube: ZYX, clipped: ZYX, region: tuple[slice, ...]) -> np.ndarray:
    import cramjam

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            if not members:
                raise _corrupt(path, "the zip is empty")
            payload = archive.read(members[0])  # KNOSSOS and knossos_utils both take the first member
    except zipfile.BadZipFile as exc:
        raise _corrupt(path, f"it is not a zip file ({exc})") from exc
    try:
        nbytes = cramjam.snappy.decompress_raw_len(payload)
        if nbytes % dtype.itemsize:
            raise _corrupt(path, f"{nbytes} bytes is not a whole number of uint64 voxels")
        out = np.empty(_shape_for(path, nbytes // dtype.itemsize, cube, clipped), dtype)
        # straight into the array: no copy of 16 MiB per cube. numpy tells type checkers that arrays are buffers
        # only from Python 3.12 on
        cramjam.snappy.decompress_raw_into(payload, out)  # type: ignore[arg-type]
    except RemoteError:
        raise
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise _corrupt(path, f"its member is not snappy data ({exc})") from exc
    return out[region]


def _reader(extension: str) -> Callable[[Path, np.dtype, ZYX, ZYX, tuple[slice, ...]], np.ndarray]:
    if extension in (".raw", ".seg"):
        return _read_plain
    if extension == ".seg.sz.zip":
        return _read_snappy_zip
    return _read_image


def read_cube(path: Path, extension: str, *, cube: ZYX, clipped: ZYX, region: tuple[slice, ...]) -> np.ndarray | None:
    """``region`` (z, y, x slices, cube-relative) of the cube file ``path``, native-endian; ``None`` when it is missing.

    Args:
        cube: the full cube shape (z, y, x).
        clipped: the cube's shape clipped to the level (equal to ``cube`` away from the far faces).
        region: the part wanted; it lies within ``clipped``.

    Raises:
        RemoteError: the file exists but does not hold a cube of this encoding.
    """
    dtype = cube_dtype(extension)
    try:
        data = _reader(extension)(path, dtype, cube, clipped, region)
    except FileNotFoundError:
        return None
    return data if data.dtype.isnative else data.astype(dtype.newbyteorder("="))


def _encode(path: Path, extension: str, cube: np.ndarray) -> bytes:
    stored = cube.astype(cube_dtype(extension), copy=False)
    if extension in (".raw", ".seg"):
        return stored.tobytes()
    if extension == ".png":
        return _encode_png(stored.reshape(-1, stored.shape[2]))
    if extension == ".seg.sz.zip":
        import cramjam

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            # the member is the cube's own file name without ".zip", deflated as knossos_utils writes it
            archive.writestr(path.name[: -len(".zip")], bytes(cramjam.snappy.compress_raw(stored.tobytes())),
                             compress_type=zipfile.ZIP_DEFLATED)
        return buffer.getvalue()
    raise ValueError(f"intern-knossos does not write {extension} cubes")  # guarded by the volume; never reached


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png(gray: np.ndarray) -> bytes:
    """An 8-bit gray PNG of ``gray`` with every row unfiltered (filter type 0).

    Row filters shrink EM cubes by about 4% but make decoding three times slower (docs/knossos.md): a KNOSSOS
    dataset is read far more often than written. Any PNG decoder reads the result.
    """
    height, width = gray.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row: its filter type byte (0), then its pixels
    rows[:, 1:] = gray
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, gray, deflate, no filter method, no interlace
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), _PNG_LEVEL))
            + _png_chunk(b"IEND", b""))


def write_cube(path: Path, extension: str, cube: np.ndarray) -> None:
    """Store a whole cube ((z, y, x), the full cube shape) atomically, or remove the file when the cube is all zeros.

    The bytes go to a temporary file beside the cube and are renamed over it, so a reader never sees half a cube.
    """
    if not cube.any():
        path.unlink(missing_ok=True)
        return
    payload = _encode(path, extension, cube)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, payload)
