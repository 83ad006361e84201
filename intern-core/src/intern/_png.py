"""A minimal PNG writer for one 2-D slice (greyscale 8 or 16 bit), so the core needs no imaging library."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """Encode a 2-D array as a greyscale PNG: uint8 and bool as 8 bit, uint16 as 16 bit; other dtypes are
    scaled to 8 bit between their minimum and maximum (labels and floats are for looking at, not for measuring)."""
    if image.ndim != 2:
        raise ValueError(f"a PNG slice is 2-D, got shape {image.shape}")
    if image.dtype == np.uint16:
        depth, rows = 16, image.astype(">u2")
    elif image.dtype in (np.uint8, np.bool_):
        depth, rows = 8, image.astype(np.uint8) * (255 if image.dtype == np.bool_ else 1)
    else:
        lo, hi = float(image.min()), float(image.max())
        scaled = (image.astype(np.float64) - lo) / (hi - lo if hi > lo else 1.0)
        depth, rows = 8, np.rint(scaled * 255).astype(np.uint8)
    h, w = image.shape
    raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(h))  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
