"""Mesh simplification with a bounded error in nm: zmesh's quadric edge collapse, checked afterwards.

zmesh's simplifier works on integer positions. Marching-cubes vertices are integers in half voxels, but half voxels
are not cubes on anisotropic data (2 x 2 x 20 nm at 4 x 4 x 40 nm voxels), and a quadric error measured in them would
weigh z ten times less than it should. So positions go to an isotropic grid of ``q`` nm first (``q`` a fraction of the
smallest voxel side, so the snapping moves a vertex by far less than any useful error bound), the simplifier runs
there with the bound converted to grid units, and its output comes back in nm.

The quadric error is an estimate, not a distance, so every result is checked: each vertex of the simplified mesh
must lie within ``max_error`` nm of a vertex of the original (an upper bound of its distance to the original
surface). A result that fails is simplified again, more gently, and after a few tries the original mesh is kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["simplify"]

_TRIES = 4
_GRID_RANGE = 2**20 - 2  # zmesh packs each coordinate of the simplifier's input in 20 bits


def simplify(vertices: np.ndarray, faces: np.ndarray, *, max_error: float, reduction_factor: int,
             voxel_size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A simplified ``(vertices, faces)``; every vertex stays within ``max_error`` nm of an original vertex.

    Args:
        vertices: ``(N, 3)`` float32 positions in nm, (x, y, z).
        faces: ``(M, 3)`` uint32, outward orientation.
        max_error: the bound in nm, > 0.
        reduction_factor: aim for ``M / reduction_factor`` triangles; simplification stops earlier where the bound
            would be broken.
        voxel_size: (x, y, z) nm, which sets the grid the simplifier works on.

    Returns:
        float32 vertices in nm and uint32 faces, oriented as the input; the input itself when nothing could be
        simplified within the bound.
    """
    import zmesh
    from scipy.spatial import cKDTree

    if len(faces) < 8 or reduction_factor < 2:
        return vertices, faces
    v = vertices.astype(np.float64)
    corner = v.min(axis=0)
    extent = float((v.max(axis=0) - corner).max())
    q = max(min(voxel_size) / 8.0, extent / _GRID_RANGE)
    grid = np.rint((v - corner) / q)
    # zmesh doubles its input and truncates it to integers; halves are exact in float32
    source = zmesh.Mesh((grid / 2).astype(np.float32), np.ascontiguousarray(faces, dtype=np.uint32), None)
    tree = cKDTree(v)
    error = max_error
    for _ in range(_TRIES):
        # zmesh divides the bound by the resolution's diagonal (sqrt 3 here) before it compares
        bound = error / q * np.sqrt(3.0) + 1e-6
        result = zmesh.Mesher((1.0, 1.0, 1.0)).simplify(
            source, reduction_factor=int(reduction_factor), max_error=bound, compute_normals=False)
        if not len(result.faces):
            break
        out = result.vertices.astype(np.float64) * (2.0 * q) + corner
        distance, _ = tree.query(out, distance_upper_bound=max_error * 1.0001 + 1e-9)
        if np.isfinite(distance).all() and distance.max() <= max_error:
            return out.astype(np.float32), np.ascontiguousarray(result.faces, dtype=np.uint32)
        error /= 2
    return vertices, faces
