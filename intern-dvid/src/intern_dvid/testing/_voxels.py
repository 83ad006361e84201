"""Voxel operations of the test server: cutouts, block-aligned writes, labelmap downres, label queries, RLEs.

Coordinates arrive as DVID sends them, (x, y, z); arrays are (z, y, x) with x fastest, as on the wire.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np

from ._store import DvidError, Instance, Store

__all__ = ["downres_mode", "get_voxels", "label_runs", "put_voxels", "sparsevol_rle"]


def _block_keys(scale: int, lo: tuple[int, ...], hi: tuple[int, ...], block: tuple[int, ...]):
    """(key, block origin xyz) of every block touching the voxel box [lo, hi) (xyz)."""
    ranges = [range(a // b, -(-c // b)) for a, c, b in zip(lo, hi, block, strict=True)]
    for bz, by, bx in itertools.product(ranges[2], ranges[1], ranges[0]):
        yield (scale, bx, by, bz), (bx * block[0], by * block[1], bz * block[2])


def get_voxels(store: Store, inst: Instance, chain: list[int], offset: tuple[int, int, int],
               size: tuple[int, int, int], scale: int = 0) -> np.ndarray:
    """The (z, y, x) voxels of the box at ``offset`` (xyz) of ``size`` (xyz); never-written voxels are 0."""
    out = np.zeros((size[2], size[1], size[0]), dtype=inst.dtype)
    lo = offset
    hi = tuple(o + s for o, s in zip(offset, size, strict=True))
    for key, origin in _block_keys(scale, lo, hi, inst.block):
        history = inst.blocks.get(key)
        if history is None:
            continue
        data = store.visible(history, chain, inst.versioned)
        if data is None:
            continue
        a = [max(low, o) for low, o in zip(lo, origin, strict=True)]
        b = [min(h, o + s) for h, o, s in zip(hi, origin, inst.block, strict=True)]
        out[a[2] - lo[2]:b[2] - lo[2], a[1] - lo[1]:b[1] - lo[1], a[0] - lo[0]:b[0] - lo[0]] = \
            data[a[2] - origin[2]:b[2] - origin[2], a[1] - origin[1]:b[1] - origin[1], a[0] - origin[0]:b[0] - origin[0]]
    return out


def _store_blocks(store: Store, inst: Instance, version: int, offset: tuple[int, ...], data: np.ndarray,
                  scale: int) -> None:
    size = (data.shape[2], data.shape[1], data.shape[0])
    hi = tuple(o + s for o, s in zip(offset, size, strict=True))
    bx, by, bz = inst.block
    with store.lock:
        for key, origin in _block_keys(scale, offset, hi, inst.block):
            rel = [o - f for o, f in zip(origin, offset, strict=True)]
            block = np.array(data[rel[2]:rel[2] + bz, rel[1]:rel[1] + by, rel[0]:rel[0] + bx], copy=True)
            inst.blocks.setdefault(key, {})[version] = block


def put_voxels(store: Store, inst: Instance, chain: list[int], offset: tuple[int, int, int],
               size: tuple[int, int, int], body: bytes) -> None:
    """Store a block-aligned subvolume at scale 0, grow the extents, and recompute labelmap lower scales."""
    if any(o % b for o, b in zip(offset, inst.block, strict=True)) or any(s % b for s, b in zip(size, inst.block, strict=True)):
        end = [o + s - 1 for o, s in zip(offset, size, strict=True)]
        raise DvidError(400, f"cannot store voxels in non-block aligned geometry {tuple(offset)} -> {tuple(end)}")
    expected = size[0] * size[1] * size[2] * inst.dtype.itemsize  # Python ints: no overflow, however large
    if len(body) != expected:
        raise DvidError(400, f"voxels data was {len(body)} bytes, expected {expected} bytes for "
                             f"subvolume {tuple(size)} at {tuple(offset)}")
    data = np.frombuffer(body, dtype=inst.dtype.newbyteorder("<")).astype(inst.dtype, copy=False)
    data = data.reshape(size[2], size[1], size[0])
    version = chain[0] if inst.versioned else 0
    # The instance's write lock makes each write whole with respect to the others: the lower scales are
    # read-modify-writes (read the level above, reduce, store) over blocks that neighbouring writes share, and two
    # of them interleaved can store a reduction of stale data last. Under the lock, the last write to reduce a block
    # reads every block stored before it, so once every write has been answered each level is the reduction of the
    # level above. Readers do not take it: they may see a write half done, as on a real DVID.
    with inst.write_lock:
        _store_blocks(store, inst, version, offset, data, 0)
        with store.lock:
            end = [o + s - 1 for o, s in zip(offset, size, strict=True)]
            if inst.min_point is None or inst.max_point is None:
                inst.min_point, inst.max_point = list(offset), end
            else:
                inst.min_point = [min(a, b) for a, b in zip(inst.min_point, offset, strict=True)]
                inst.max_point = [max(a, b) for a, b in zip(inst.max_point, end, strict=True)]
        if inst.labels is not None and data.size:
            inst.labels.written(version, int(data.max()))
        lo, hi = list(offset), [o + s for o, s in zip(offset, size, strict=True)]
        for scale in range(1, inst.max_downres + 1):
            # the region of this level the write touched, widened to whole blocks of this level
            lo = [(a // 2) // b * b for a, b in zip(lo, inst.block, strict=True)]
            hi = [_ceil(_ceil(c, 2), b) * b for c, b in zip(hi, inst.block, strict=True)]
            source = _get_level(store, inst, chain, [2 * a for a in lo], [2 * (c - a) for a, c in zip(lo, hi, strict=True)],
                                scale - 1)
            _store_blocks(store, inst, version, tuple(lo), downres_mode(source), scale)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _get_level(store: Store, inst: Instance, chain: list[int], offset: list[int], size: list[int],
               scale: int) -> np.ndarray:
    return get_voxels(store, inst, chain, tuple(offset), tuple(size), scale)  # type: ignore[arg-type]


def downres_mode(data: np.ndarray) -> np.ndarray:
    """2x2x2 reduction keeping the most frequent non-zero label of each cube, ties to the smaller label."""
    z, y, x = (s // 2 for s in data.shape)
    cubes = data[:2 * z, :2 * y, :2 * x].reshape(z, 2, y, 2, x, 2).transpose(0, 2, 4, 1, 3, 5).reshape(z, y, x, 8)
    ordered = np.sort(cubes, axis=-1)
    counts = (ordered[..., :, None] == ordered[..., None, :]).sum(axis=-1)
    counts[ordered == 0] = 0  # background wins only where the cube holds nothing else
    pick = counts.argmax(axis=-1)  # first maximum: the smallest label among ties, as the values are sorted
    return np.take_along_axis(ordered, pick[..., None], axis=-1)[..., 0]


def label_runs(store: Store, inst: Instance, chain: list[int], label: int) -> np.ndarray:
    """(n, 4) int32 runs ``x, y, z, length`` of ``label`` at scale 0, block by block, never crossing a block."""
    with store.lock:
        keys = sorted((k for k in inst.blocks if k[0] == 0), key=lambda k: (k[3], k[2], k[1]))
        histories = [(k, inst.blocks[k]) for k in keys]
    runs = []
    bx, by, bz = inst.block
    for (_, ix, iy, iz), history in histories:
        data = store.visible(history, chain, inst.versioned)
        if data is None:
            continue
        mask = data == label
        if not mask.any():
            continue
        padded = np.zeros(mask.shape[:2] + (mask.shape[2] + 2,), dtype=np.int8)
        padded[:, :, 1:-1] = mask
        edges = np.diff(padded, axis=2)
        zs, ys, starts = np.nonzero(edges == 1)
        _, _, stops = np.nonzero(edges == -1)
        block_runs = np.stack([starts + ix * bx, ys + iy * by, zs + iz * bz, stops - starts], axis=1)
        runs.append(block_runs.astype(np.int32))
    return np.concatenate(runs) if runs else np.zeros((0, 4), np.int32)


def sparsevol_rle(runs: np.ndarray) -> bytes:
    """DVID's legacy RLE: header bytes 0, 3, 0, 0; uint32 voxels (0); uint32 spans; int32 x, y, z, length each."""
    return bytes([0, 3, 0, 0]) + struct.pack("<II", 0, len(runs)) + runs.astype("<i4").tobytes()
