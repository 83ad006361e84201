"""Helpers of intern-mesh's tests: shapes with known geometry, and checks of meshes."""

from __future__ import annotations

import numpy as np

from intern.plugin import Mesh

__all__ = ["assert_oriented_closed", "ball", "triangles"]


def ball(shape: tuple[int, int, int], voxel_size: tuple[float, float, float], radius: float,
         centre: tuple[float, float, float] | None = None) -> np.ndarray:
    """A boolean (z, y, x) ball of ``radius`` nm; voxel i's centre at (i + 0.5) * voxel size."""
    centre = centre if centre is not None else tuple(s * v / 2 for s, v in zip(shape, voxel_size, strict=True))
    axes = [(np.arange(s) + 0.5) * v - c for s, v, c in zip(shape, voxel_size, centre, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return z**2 + y**2 + x**2 <= radius**2


def triangles(mesh: Mesh) -> set[bytes]:
    """The mesh's triangles by the positions of their corners, each rotated to start at its smallest corner (so
    orientation is kept and the vertex numbering does not matter)."""
    t = mesh.vertices[mesh.faces.astype(np.int64)]  # (M, 3, 3)
    keys = [tuple(map(tuple, tri)) for tri in t.tolist()]
    out = set()
    for a, b, c in keys:
        rot = min((a, b, c), (b, c, a), (c, a, b))
        out.add(np.array(rot, dtype=np.float32).tobytes())
    return out


def assert_oriented_closed(mesh: Mesh) -> None:
    """Closed, and consistently oriented outward: every directed edge once, with its reverse, and positive volume."""
    assert mesh.is_closed
    f = mesh.faces.astype(np.int64)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    keys = directed[:, 0] * len(mesh.vertices) + directed[:, 1]
    assert len(np.unique(keys)) == len(keys), "a directed edge appears twice: inconsistent orientation"
    reverse = directed[:, 1] * len(mesh.vertices) + directed[:, 0]
    assert np.isin(reverse, keys).all()
    assert mesh.volume > 0
