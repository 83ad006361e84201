"""``SparseVolume``: the voxels of one label as DVID's run-length encoding gives them.

DVID's legacy RLE (``GET .../sparsevol/{label}``): four header bytes (``0, 3, 0, 0``), uint32 voxel count (0),
uint32 number of runs, then each run as int32 ``x, y, z, length`` (little-endian), a run going along x.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from intern.errors import MetadataError
from intern.plugin import Box

__all__ = ["SparseVolume", "decode_rle"]


def decode_rle(data: bytes) -> np.ndarray:
    """The runs of an RLE body as an ``(n, 4)`` int64 array ``x, y, z, length``.

    Raises:
        MetadataError: the body is not DVID's legacy RLE.
    """
    if len(data) < 12:
        raise MetadataError(f"sparse volume of {len(data)} bytes is shorter than its 12-byte header")
    if data[1] != 3:
        raise MetadataError(f"sparse volume has {data[1]} dimensions in its header, expected 3")
    (nspans,) = struct.unpack_from("<I", data, 8)
    if len(data) != 12 + 16 * nspans:
        raise MetadataError(f"sparse volume says {nspans} runs but holds {len(data) - 12} bytes of them")
    return np.frombuffer(data, "<i4", 4 * nspans, 12).reshape(nspans, 4).astype(np.int64)


@dataclass(frozen=True, eq=False)
class SparseVolume:
    """The voxels of ``label``, as runs along x; coordinates in intern's (z, y, x) voxel frame of scale 0.

    Attributes:
        label: the body (or supervoxel).
        runs: ``(n, 4)`` int64 ``z, y, x, length`` (x0 is each run's first voxel).
    """

    label: int
    runs: np.ndarray

    @classmethod
    def from_rle(cls, label: int, data: bytes, *, offset: tuple[int, int, int] = (0, 0, 0)) -> SparseVolume:
        """Decode DVID's RLE; ``offset`` (z, y, x) is voxel 0 of the volume in DVID's frame."""
        xyzl = decode_rle(data)
        runs = np.stack([xyzl[:, 2] - offset[0], xyzl[:, 1] - offset[1], xyzl[:, 0] - offset[2], xyzl[:, 3]], axis=1)
        return cls(int(label), runs)

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(self.runs[:, 3].sum())

    @property
    def box(self) -> Box:
        """The bounding box of the label's voxels (half-open, z, y, x)."""
        if not len(self.runs):
            return Box((0, 0, 0), (0, 0, 0))
        lo = self.runs[:, :3].min(axis=0)
        hi = self.runs[:, :3].max(axis=0) + 1
        hi[2] = int((self.runs[:, 2] + self.runs[:, 3]).max())
        return Box(tuple(int(v) for v in lo), tuple(int(v) for v in hi))

    @property
    def coords(self) -> np.ndarray:
        """``(size, 3)`` int64 (z, y, x) of every voxel, in run order."""
        lengths = self.runs[:, 3]
        starts = np.repeat(self.runs[:, :3], lengths, axis=0)
        if len(starts):
            within = np.arange(len(starts)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            starts[:, 2] += within
        return starts

    def mask(self, box: Box | None = None) -> np.ndarray:
        """A boolean (z, y, x) array over ``box`` (default: :attr:`box`), true on the label's voxels."""
        box = box if box is not None else self.box
        out = np.zeros(box.shape, dtype=bool)
        coords = self.coords - np.asarray(box.start)
        inside = ((coords >= 0) & (coords < np.asarray(box.shape))).all(axis=1)
        out[tuple(coords[inside].T)] = True
        return out

    def __repr__(self) -> str:
        return f"SparseVolume(label={self.label}, runs={len(self.runs)}, voxels={self.size})"
