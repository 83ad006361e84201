"""A structural check of compressed_segmentation chunks, before they are decoded.

The decoder cloud-volume uses (the ``compressed_segmentation`` package, C++) trusts the offsets a chunk stores: a
damaged or truncated chunk makes it read outside its buffer and crash the whole process (a segmentation fault, not
an exception). So the layout of neuroglancer's format is checked here first, in numpy:

- the chunk is a whole number of little-endian 32-bit words, opening with one offset per channel (in words, from
  the start) to that channel's data;
- each channel opens with one 2-word header per block of the grid (``ceil(chunk / block)`` on every axis): the
  lookup table's offset (low 24 bits) and the encoded values' bit width (high 8 bits: 0, 1, 2, 4, 8, 16 or 32), then
  the encoded values' offset, both in words from the channel's start;
- every block's encoded values, and its lookup table up to the largest index they hold, must lie inside the
  channel.

A chunk that passes can still hold wrong labels (the table's values are not checked), but it cannot make the
decoder read outside the chunk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["layout_fault"]

_WIDTHS = np.array([0, 1, 2, 4, 8, 16, 32])


def layout_fault(content: bytes, shape: tuple[int, int, int, int], block: tuple[int, int, int],
                 dtype: np.dtype) -> str | None:
    """What is wrong with the layout of chunk ``content`` of ``shape`` (x, y, z, channels), or None when nothing is."""
    if len(content) % 4:
        return f"its {len(content)} bytes are not a whole number of 32-bit words"
    words = np.frombuffer(content, dtype="<u4").astype(np.int64)
    channels = shape[3]
    if len(words) < channels:
        return "it is shorter than its table of channel offsets"
    blocks = int(np.prod([-(-s // b) for s, b in zip(shape[:3], block, strict=True)]))
    entry = 2 if np.dtype(dtype).itemsize == 8 else 1  # words per lookup-table value
    voxels = int(np.prod(block))
    for c in range(channels):
        start = int(words[c])
        end = int(words[c + 1]) if c + 1 < channels else len(words)
        if not channels <= start <= end <= len(words):
            return f"channel {c}'s offset {start} lies outside the chunk"
        length = end - start
        if length < 2 * blocks:
            return f"channel {c} holds {length} words, fewer than the headers of its {blocks} blocks"
        headers = words[start:start + 2 * blocks].reshape(blocks, 2)
        table, width, values = headers[:, 0] & 0xFFFFFF, headers[:, 0] >> 24, headers[:, 1]
        if not np.isin(width, _WIDTHS).all():
            return f"a block header of channel {c} names a bit width that does not exist"
        packed = -(-voxels * width // 32)  # words of encoded values per block
        if (values + packed > length).any():
            return f"the encoded values of a block of channel {c} run past the channel's end"
        channel = words[start:end]
        for b in range(blocks):
            # the decoder looks up every encoded index in the block's table: the table must hold the largest one
            largest = _largest_index(channel[values[b]:values[b] + packed[b]], int(width[b]), voxels)
            if table[b] + entry * (largest + 1) > length:
                return f"the lookup table of block {b} of channel {c} runs past the channel's end"
    return None


def _largest_index(packed: np.ndarray, width: int, voxels: int) -> int:
    """The largest of the ``voxels`` indices of ``width`` bits packed, lowest bits first, into 32-bit words."""
    if width == 0:
        return 0
    shifts = np.arange(32 // width, dtype=np.int64) * width
    indices = ((packed[:, None] >> shifts) & ((1 << width) - 1)).ravel()[:voxels]
    return int(indices.max())
