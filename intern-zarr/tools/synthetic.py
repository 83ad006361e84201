"""Synthetic volumes that compress like real connectomics data, for measurements (not shipped in the wheel).

Serial-section EM is smooth cytoplasm cut by thin dark membranes, with grain noise on top; a segmentation of it is
large constant regions with arbitrary 64-bit ids. Random bytes or all-zero arrays would make every codec look
either useless or perfect, so measurements use these instead.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["em_like", "segmentation_like"]


def _field(shape: tuple[int, ...], seed: int) -> np.ndarray:
    # a smooth random field at a quarter of the resolution, upsampled: cell-sized blobs at little cost
    rng = np.random.default_rng(seed)
    low = tuple(max(4, s // 4) for s in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(low, dtype=np.float32), 2.0)
    field = ndimage.zoom(field, [s / n for s, n in zip(shape, low, strict=True)], order=1, grid_mode=True, mode="nearest")
    field = field[tuple(slice(0, s) for s in shape)]
    return field / (field.std() + 1e-6)


def em_like(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A uint8 EM-like image: bright cells, dark membranes along level sets of a smooth field, shot noise."""
    rng = np.random.default_rng(seed + 1)
    field = _field(shape, seed)
    membrane = np.exp(-((np.abs(np.sin(3.0 * field)) / 0.15) ** 2))
    img = 150.0 + 30.0 * np.tanh(field) - 90.0 * membrane
    # detector noise, slightly correlated between neighbours as the beam's point-spread makes it
    img += ndimage.gaussian_filter(rng.normal(0.0, 16.0, shape).astype(np.float32), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def segmentation_like(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A uint64 label volume: the cells between the membranes of :func:`em_like`, with random 40-bit ids."""
    rng = np.random.default_rng(seed + 2)
    field = _field(shape, seed)
    cells, n = ndimage.label(np.abs(np.sin(3.0 * field)) > 0.2)
    ids = np.concatenate([[0], rng.integers(1, 2**40, n, dtype=np.uint64)])
    return ids[cells]
