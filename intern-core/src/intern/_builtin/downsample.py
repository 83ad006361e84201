"""The core's last-resort ``downsample``: block mean or block mode in plain numpy.

Correct and dependency-free, not fast; intern-mesh registers tinybrain above it. Edges that do not fill a block are
reduced over the voxels they have (the shape rounds up), as the field's pyramids do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._box import Box
from .._io import read_box
from .._traits import VolumeResource
from ..errors import MetadataError


def _blocks(data: np.ndarray, factor: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) reshaped so the last axis runs over one block; edge blocks padded and masked."""
    lead = data.ndim - 3
    f = (1,) * lead + tuple(int(x) for x in factor)
    out_shape = tuple(-(-s // k) for s, k in zip(data.shape, f, strict=True))
    pad = [(0, o * k - s) for s, k, o in zip(data.shape, f, out_shape, strict=True)]
    valid = np.pad(np.ones(data.shape, dtype=bool), pad)
    padded = np.pad(data, pad)
    split = []
    for o, k in zip(out_shape, f, strict=True):
        split += [o, k]
    order = list(range(0, 2 * data.ndim, 2)) + list(range(1, 2 * data.ndim, 2))
    blocks = padded.reshape(split).transpose(order).reshape(*out_shape, -1)
    mask = valid.reshape(split).transpose(order).reshape(*out_shape, -1)
    return blocks, mask


def reduce_mean(data: np.ndarray, factor: Sequence[int]) -> np.ndarray:
    blocks, mask = _blocks(data, factor)
    total = np.where(mask, blocks, 0).sum(axis=-1, dtype=np.float64)
    mean = total / mask.sum(axis=-1)
    if data.dtype.kind in "iub":
        mean = np.rint(mean)
    return mean.astype(data.dtype)


def reduce_mode(data: np.ndarray, factor: Sequence[int]) -> np.ndarray:
    blocks, mask = _blocks(data, factor)
    # count, for each voxel of a block, how many voxels of the block share its label; padding never counts
    counts = np.zeros(blocks.shape, dtype=np.int32)
    for j in range(blocks.shape[-1]):
        counts[..., j] = ((blocks == blocks[..., j:j + 1]) & mask).sum(axis=-1)
    counts[~mask] = -1
    pick = counts.argmax(axis=-1)
    return np.take_along_axis(blocks, pick[..., None], axis=-1)[..., 0]


def downsample(resource: VolumeResource, *, factor: Sequence[int] = (1, 2, 2), levels: int = 1, dest: Any = None,
               scale: int = 0, box: Box | None = None) -> list[Any]:
    if levels < 1 or len(factor) != 3 or any(int(f) < 1 for f in factor):
        raise MetadataError(f"downsample needs levels >= 1 and three factors >= 1, got levels={levels}, factor={factor}")
    level = resource.metadata.scale(scale)
    box = box or Box.from_shape(level.shape)
    data = read_box(resource, box, scale=scale)
    reduce = reduce_mode if resource.metadata.kind == "segmentation" else reduce_mean
    out = []
    for _ in range(levels):
        data = reduce(data, factor)
        out.append(data)
    if dest is not None:
        from .._api import array

        target = array(dest)
        written = []
        for k, block in enumerate(out, start=1):
            lvl = target.at_scale(scale + k)
            f = np.array(lvl.level.downsample) / np.array(target.metadata.scale(scale).downsample)
            start = box.start[:-3] + tuple(int(s // g) for s, g in zip(box.start[-3:], f, strict=True))
            lvl.write(Box.from_shape(block.shape, start), block)
            written.append(lvl)
        return written
    return out
