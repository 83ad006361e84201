"""The kit's test content: deterministic voxels that use a dtype's whole range."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reference_data"]


def reference_data(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Deterministic test content that uses the dtype's range (so byte-order or truncation bugs show)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt) * 1000
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    info = np.iinfo(dt)
    hi = min(int(info.max), 2**62)
    return rng.integers(max(int(info.min), -(2**62)), hi, shape, endpoint=True, dtype=np.int64 if dt.kind == "i" else np.uint64).astype(dt)
