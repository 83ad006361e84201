"""Data products derived from volumes: triangle meshes and skeletons of segments, and their file formats.

Both keep vertices as (x, y, z) positions in nanometres, the order of every mesh and skeleton format, unlike the
(z, y, x) voxel indexing of volumes.

>>> from intern._products import Mesh, Skeleton
>>> Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], id=1)
Mesh(id=1, vertices=3, faces=1, normals=False)
"""

from __future__ import annotations

from .mesh import Mesh, read_precomputed_mesh_dir, write_precomputed_mesh_dir
from .skeleton import (
    Skeleton,
    read_precomputed_skeleton_dir,
    write_precomputed_skeleton_dir,
)

__all__ = [
    "Mesh",
    "Skeleton",
    "read_precomputed_mesh_dir",
    "read_precomputed_skeleton_dir",
    "write_precomputed_mesh_dir",
    "write_precomputed_skeleton_dir",
]
