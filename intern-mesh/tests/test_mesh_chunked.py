"""Chunked meshing equals whole-volume meshing: the same surface, no cracks, no faces twice at the seams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _meshtest import assert_oriented_closed, triangles
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern.plugin import Box, as_volume
from intern_mesh import mesh_skimage, mesh_zmesh
from intern_mesh._meshing import plan_blocks
from intern_mesh._region import Region


def blobs(rng: np.random.Generator, shape: tuple[int, int, int], labels: int) -> np.ndarray:
    """A segmentation of ``labels`` touching, irregular cells (nearest of random seeds), with holes of background."""
    seeds = rng.uniform(0, 1, (labels, 3)) * shape
    grid = np.stack(np.meshgrid(*[np.arange(s) + 0.5 for s in shape], indexing="ij"), axis=-1)
    nearest = np.argmin(((grid[..., None, :] - seeds) ** 2).sum(axis=-1), axis=-1)
    seg = (nearest + 1).astype(np.uint64) * 1000
    seg[rng.random(shape) < 0.08] = 0
    return seg


def assert_same_surface(whole: dict, chunked: dict) -> None:
    assert sorted(whole) == sorted(chunked)
    for label in whole:
        a, b = whole[label], chunked[label]
        # same welded vertex set, and the same triangles, each once
        assert len(a.vertices) == len(b.vertices)
        assert {tuple(v) for v in a.vertices.tolist()} == {tuple(v) for v in b.vertices.tolist()}
        assert len(b.faces) == len(a.faces) == len(triangles(b))
        assert triangles(a) == triangles(b)


def test_chunked_equals_whole_on_a_multi_chunk_volume(rng: np.random.Generator) -> None:
    seg = blobs(rng, (24, 40, 44), 12)
    vol = as_volume(seg, voxel_size=(40, 8, 6))
    whole = mesh_zmesh(vol)
    chunked = mesh_zmesh(vol, chunk_shape=(8, 16, 16))
    assert_same_surface(whole, chunked)
    for m in chunked.values():
        assert_oriented_closed(m)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(*[st.integers(2, 14)] * 3),
       chunk=st.tuples(*[st.integers(1, 9)] * 3), labels=st.integers(1, 5), close=st.booleans(),
       start=st.tuples(*[st.integers(0, 5)] * 3))
def test_chunked_equals_whole_for_any_cut(seed: int, shape: tuple[int, int, int], chunk: tuple[int, int, int],
                                          labels: int, close: bool, start: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(seed)
    full = blobs(rng, tuple(s + o for s, o in zip(shape, start, strict=True)), labels)
    vol = as_volume(full, voxel_size=(3, 5, 7))
    box = Box(start, tuple(s + o for s, o in zip(shape, start, strict=True)))
    whole = mesh_zmesh(vol, box=box, close=close)
    assert_same_surface(whole, mesh_zmesh(vol, box=box, close=close, chunk_shape=chunk))
    if close:
        for m in whole.values():
            assert_oriented_closed(m)


def test_cells_are_covered_exactly_once() -> None:
    seg = np.zeros((10, 13, 17), np.uint8)
    region = Region.of(as_volume(seg), Box((3, 0, 5), (10, 13, 17)), 0)
    for close in (True, False):
        blocks = plan_blocks(region, close=close, task_shape=(4, 5, 6))
        covered = np.zeros(tuple(s + 1 for s in region.shape), np.int32)
        for b in blocks:
            covered[tuple(slice(a + 1, c + 1) for a, c in zip(b.start, b.stop, strict=True))] += 1
        expected = covered if close else covered[1:-1, 1:-1, 1:-1]  # cells -1..S-1, or 0..S-2
        assert (covered.sum() == expected.size) and (expected == 1).all()
        # cuts fall on the dataset's grid of 4 x 5 x 6 voxels, not the box's
        assert {b.start[0] for b in blocks} == ({-1, 1, 5} if close else {0, 1, 5})


def test_chunked_skimage_and_simplified_meshes_match_too(rng: np.random.Generator) -> None:
    seg = blobs(rng, (12, 20, 18), 5)
    vol = as_volume(seg, voxel_size=(40, 8, 8))
    assert_same_surface(mesh_skimage(vol), mesh_skimage(vol, chunk_shape=(5, 7, 6)))
    # simplification runs on the stitched mesh, put in one canonical order first: identical results
    simple_whole = mesh_zmesh(vol, simplify=40)
    simple_chunked = mesh_zmesh(vol, simplify=40, chunk_shape=(5, 7, 6))
    for label in simple_whole:
        assert simple_whole[label] == simple_chunked[label]


def test_large_stored_volume_is_cut_into_tasks(tmp_path: Path, rng: np.random.Generator,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A volume above the one-task size, in a datastore: tasks on the thread pool, reading storage chunks."""
    import intern_mesh._meshing as meshing

    monkeypatch.setattr(meshing, "WHOLE_VOXELS", 20**3)
    monkeypatch.setattr(meshing, "TASK_SHAPE", (16, 16, 16))
    seg = blobs(rng, (24, 36, 36), 8)
    uri = f"mem://mesh-chunked/{tmp_path.name}/seg"
    arr = intern.create(uri, shape=seg.shape, dtype="uint64", chunks=(8, 16, 16),
                        kind="segmentation", voxel_size=(40, 8, 8))
    arr[...] = seg
    finished = []
    chunked = intern.mesh(uri, progress=finished.append)
    assert len(finished) == len(plan_blocks(Region.of(arr.resource, None, 0), close=True, task_shape=(16, 16, 16)))
    assert len(finished) > 1
    assert_same_surface(intern.mesh(seg, voxel_size=(40, 8, 8)), chunked)
