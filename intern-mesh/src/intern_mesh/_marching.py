"""Marching cubes on one block of labels, by zmesh (all labels in one pass) or scikit-image (one label at a time).

Both backends answer the same thing, so the chunking and stitching in :mod:`intern_mesh._meshing` work with either:
for each label in the block, its surface between the centres of the block's voxels, as

- vertices: ``(N, 3)`` float32 in **half voxels**, columns (x, y, z), from the centre of ``block[0, 0, 0]``. On a
  binary boundary every marching-cubes vertex sits halfway between two voxel centres, so these are exact integers;
- faces: ``(M, 3)`` uint32, counter-clockwise seen from outside (positive volume).

Both work on the transposed (x, y, z) view of the (z, y, x) block, which costs no copy, so vertices come out in the
order meshes use and need no reordering (and no face flipping) afterwards.

Triangles are made cell by cell (a cell is the cube between eight voxel centres), so meshing two blocks that share a
plane of voxels gives exactly the triangles of meshing both at once: that is what makes chunked meshing exact.
Nothing is closed here: a surface reaching the block's faces stays open; the caller pads with background.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["BACKENDS", "skimage_surfaces", "zmesh_surfaces"]

Surface = tuple[int, np.ndarray, np.ndarray]


def zmesh_surfaces(block: np.ndarray) -> Iterator[Surface]:
    """Every label's surface in ``block`` (C-order (z, y, x) unsigned labels), by zmesh's multi-label mesher."""
    import zmesh

    # A resolution of 2 makes zmesh's float vertices the half-voxel integers themselves (it halves them on output).
    mesher = zmesh.Mesher((2.0, 2.0, 2.0))
    mesher.mesh(block.T, close=False)
    del block  # the caller keeps no reference either: the labels are freed before the meshes are extracted
    for label in mesher.ids():
        piece = mesher.get(label, normals=False, reduction_factor=0, voxel_centered=False)
        mesher.erase(label)  # frees its triangles now: peak memory stays near the input plus one label's mesh
        if len(piece.faces):
            yield int(label), piece.vertices, piece.faces
    mesher.clear()


def skimage_surfaces(block: np.ndarray) -> Iterator[Surface]:
    """Every label's surface in ``block``, by scikit-image's marching cubes run on each label's bounding box."""
    from scipy.ndimage import find_objects
    from skimage.measure import marching_cubes

    labels = np.unique(block)
    labels = labels[labels != 0]
    if not len(labels):
        return
    # dense 1..n numbering, so find_objects gives every label's bounding box in one pass
    dense = np.searchsorted(labels, block).astype(np.int32) + 1
    dense[block == 0] = 0
    shape = np.array(block.shape)
    for k, found in enumerate(find_objects(dense), start=1):
        if found is None:
            continue
        # one voxel of context on every side (clipped to the block): the cells that hold the label's whole surface
        lo = np.maximum([s.start - 1 for s in found], 0)
        hi = np.minimum([s.stop + 1 for s in found], shape)
        if (hi - lo < 2).any():
            continue  # fewer than two voxel planes: no cell, no surface inside this block
        crop = dense[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] == k
        if crop.all():
            continue
        vertices, faces, _, _ = marching_cubes(crop.view(np.uint8).T, level=0.5, allow_degenerate=False)
        half = np.rint(vertices * 2).astype(np.float32) + (2 * lo[::-1]).astype(np.float32)
        # scikit-image orients its faces the other way round (negative volume)
        yield int(labels[k - 1]), half, np.ascontiguousarray(faces[:, ::-1], dtype=np.uint32)


BACKENDS = {"zmesh": zmesh_surfaces, "skimage": skimage_surfaces}
