"""intern-mesh's services on volumes in files: Zarr written by intern-zarr, read back by ome-zarr-py and by worker
processes of a Dask cluster (which open the volume by its URI, so it cannot live in this process's memory).

intern-mesh's own tests use ``mem://`` volumes and need no other driver; these need intern-zarr as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern
from intern._products import Mesh
from intern_mesh import mesh_zmesh
from intern_mesh._meshing import plan_blocks
from intern_mesh._region import Region


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def blobs(rng: np.random.Generator, shape: tuple[int, int, int], labels: int) -> np.ndarray:
    """A segmentation of ``labels`` touching, irregular cells (nearest of random seeds), with holes of background."""
    seeds = rng.uniform(0, 1, (labels, 3)) * shape
    grid = np.stack(np.meshgrid(*[np.arange(s) + 0.5 for s in shape], indexing="ij"), axis=-1)
    nearest = np.argmin(((grid[..., None, :] - seeds) ** 2).sum(axis=-1), axis=-1)
    seg = (nearest + 1).astype(np.uint64) * 1000
    seg[rng.random(shape) < 0.08] = 0
    return seg


def triangles(mesh: Mesh) -> set[bytes]:
    """The mesh's triangles by the positions of their corners, each rotated to start at its smallest corner."""
    out = set()
    for a, b, c in (tuple(map(tuple, tri)) for tri in mesh.vertices[mesh.faces.astype(np.int64)].tolist()):
        out.add(np.array(min((a, b, c), (b, c, a), (c, a, b)), dtype=np.float32).tobytes())
    return out


def assert_same_surface(whole: dict, chunked: dict) -> None:
    assert sorted(whole) == sorted(chunked)
    for label in whole:
        a, b = whole[label], chunked[label]
        assert {tuple(v) for v in a.vertices.tolist()} == {tuple(v) for v in b.vertices.tolist()}
        assert len(b.faces) == len(a.faces) == len(triangles(b))
        assert triangles(a) == triangles(b)


def test_chunked_meshing_on_a_dask_local_cluster_equals_threads(tmp_path: Path, rng: np.random.Generator) -> None:
    """The same tasks on 2 worker processes (the core's job runner): zmesh holds the GIL, processes do not share it."""
    seg = blobs(rng, (24, 36, 36), 8)
    arr = intern.create(f"zarr://{tmp_path}/seg.zarr", shape=seg.shape, dtype="uint64", chunks=(8, 16, 16),
                        kind="segmentation", voxel_size=(40, 8, 8))
    arr[...] = seg
    finished = []
    on_dask = mesh_zmesh(arr.resource, chunk_shape=(16, 16, 16), scheduler="local", workers=2,
                         progress=finished.append)
    threads = mesh_zmesh(arr.resource, chunk_shape=(16, 16, 16))
    assert len(finished) == len(plan_blocks(Region.of(arr.resource, None, 0), close=True, task_shape=(16, 16, 16)))
    assert_same_surface(threads, on_dask)


def test_pyramid_written_into_ome_zarr_is_valid_for_ome_zarr_py(tmp_path: Path, rng: np.random.Generator) -> None:
    import ome_zarr.io as ome_io
    import ome_zarr.reader as reader
    import tinybrain
    path = tmp_path / "em.ome.zarr"
    em = intern.create(f"zarr://{path}", shape=(16, 192, 160), dtype="uint8", chunks=(8, 32, 32),
                       voxel_size=(40, 4, 4), scales=4)
    data = (rng.random((16, 192, 160)) * 255).astype(np.uint8)
    em[...] = data
    finished: list[int] = []
    written = intern.downsample(em, factor=(1, 2, 2), levels=3, dest=em, progress=finished.append)
    assert [a.scale for a in written] == [1, 2, 3] and finished
    expected = tinybrain.downsample_with_averaging(data.T, (2, 2, 1), num_mips=3)
    nodes = list(reader.Reader(ome_io.parse_url(str(path)))())
    levels = nodes[0].data
    assert len(levels) == 4
    for k in range(1, 4):
        np.testing.assert_array_equal(np.asarray(levels[k]), expected[k - 1].T)
        np.testing.assert_array_equal(intern.array(f"zarr://{path}", scale=k)[...], expected[k - 1].T)
    # ome-zarr-py's view of the levels' voxel sizes: x and y double at each level, z stays
    scales = [transforms[0]["scale"] for transforms in nodes[0].metadata["coordinateTransformations"]]
    assert [s[-1] / scales[0][-1] for s in scales] == [1, 2, 4, 8]
    assert [s[-3] / scales[0][-3] for s in scales] == [1, 1, 1, 1]


def test_pyramid_on_a_dask_local_cluster_equals_threads(tmp_path: Path) -> None:
    """Downsampling into a pyramid through the core's job runner on 2 worker processes gives the threads' bytes."""
    data = np.random.default_rng(4).integers(0, 255, (16, 64, 64), dtype=np.uint8)
    arrays = []
    for name in ("threads", "dask"):
        a = intern.create(f"zarr://{tmp_path}/{name}.zarr", shape=data.shape, dtype="uint8", chunks=(8, 16, 16),
                          voxel_size=(40, 4, 4), scales=3)
        a[...] = data
        arrays.append(a)
    intern.downsample(arrays[0], levels=2, dest=arrays[0], prefer="tinybrain")
    done = []
    intern.downsample(arrays[1], levels=2, dest=arrays[1], prefer="tinybrain", scheduler="local", workers=2,
                      progress=done.append)
    assert done
    for s in (1, 2):
        np.testing.assert_array_equal(arrays[1].at_scale(s)[...], arrays[0].at_scale(s)[...])
        assert arrays[1].at_scale(s)[...].any()
