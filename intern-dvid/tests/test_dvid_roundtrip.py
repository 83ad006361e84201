"""Reads and writes of random boxes through intern.array on uint8blk and labelmap, against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern.plugin import Box
from intern_dvid.testing import DvidTestServer

SHAPE = (40, 70, 90)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def boxes(draw: st.DrawFn, shape: tuple[int, ...] = SHAPE) -> Box:
    start, stop = [], []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        start.append(a)
        stop.append(draw(st.integers(a + 1, n)))
    return Box(tuple(start), tuple(stop))


@pytest.fixture(scope="module")
def volumes(server: DvidTestServer) -> dict[str, tuple[intern.Array, np.ndarray]]:
    """A grayscale and a labelmap volume on the server, and numpy's copy of what they hold."""
    root = f"dvid://{server.address}/{server.new_repo('roundtrip')}"
    gray = intern.create(f"{root}/grayscale", shape=SHAPE, dtype="uint8", chunks=(16, 32, 32), voxel_size=(40, 8, 8))
    seg = intern.create(f"{root}/segmentation", shape=SHAPE, dtype="uint64", kind="segmentation",
                        chunks=(16, 16, 16), voxel_size=(8, 8, 8))
    rng = np.random.default_rng(5)
    g = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    s = rng.integers(0, 4, SHAPE, dtype=np.uint64) * np.uint64(2**40 + 3)  # few labels, high bits set
    gray[...] = g
    seg[...] = s
    return {"grayscale": (gray, g), "segmentation": (seg, s)}


@pytest.mark.parametrize("name", ["grayscale", "segmentation"])
@SETTINGS
@given(write=boxes(), probe=boxes(), seed=st.integers(0, 2**16))
def test_random_boxes_round_trip(volumes: dict, name: str, write: Box, probe: Box, seed: int) -> None:
    array, expected = volumes[name]
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 200, write.shape).astype(expected.dtype)
    if expected.dtype == np.uint64:
        block = block * np.uint64(2**33 + 1)
    array.write(write, block)
    expected[write.to_slices()] = block
    np.testing.assert_array_equal(array.read(probe), expected[probe.to_slices()])


@pytest.mark.parametrize("compression", ["lz4", "gzip", "none"])
def test_label_reads_with_each_compression(volumes: dict, compression: str) -> None:
    seg, expected = volumes["segmentation"]
    again = intern.array(f"{seg.uri}?compression={compression}")
    assert again.resource.options.compression == compression
    np.testing.assert_array_equal(again[3:37, 1:69, 2:88], expected[3:37, 1:69, 2:88])


def test_large_read_is_cut_in_parallel_block_aligned_pieces(server: DvidTestServer, root: str) -> None:
    shape = (128, 256, 256)
    a = intern.create(f"{root}/big", shape=shape, dtype="uint8", chunks=(32, 32, 32))
    data = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    a[...] = data
    server.requests.clear()
    np.testing.assert_array_equal(a[5:120, 3:250, 17:255], data[5:120, 3:250, 17:255])
    gets = [p for m, p in server.requests if m == "GET" and "/raw/" in p]
    assert len(gets) > 1
    for path in gets:  # every piece starts on the block grid or on the box's own first voxel
        size, offset = (tuple(int(v) for v in part.split("_")) for part in path.split("/raw/0_1_2/")[1].split("/")[:2])
        for o, first in zip(offset, (17, 3, 5), strict=True):
            assert o % 32 == 0 or o == first


def test_unaligned_write_reads_back_only_the_edge_blocks(server: DvidTestServer, root: str) -> None:
    a = intern.create(f"{root}/edges", shape=(64, 64, 64), dtype="uint8", chunks=(32, 32, 32))
    base = np.full((64, 64, 64), 9, np.uint8)
    a[...] = base
    server.requests.clear()
    a[0:64, 0:64, 0:40] = 1  # x: one whole block and one partial block
    base[:, :, 0:40] = 1
    reads = [p for m, p in server.requests if m == "GET" and "/raw/" in p]
    assert reads and all("/32_" in p.split("/raw/0_1_2/")[1] for p in reads)  # only the x-partial column of blocks
    np.testing.assert_array_equal(a[...], base)


def test_labelmap_scales_are_dvid_downres(root: str) -> None:
    seg = intern.create(f"{root}/pyramid", shape=(32, 32, 32), dtype="uint64", kind="segmentation", scales=3,
                        chunks=(16, 16, 16), voxel_size=(8, 8, 8))
    data = np.random.default_rng(3).integers(0, 3, (32, 32, 32)).astype(np.uint64)
    seg[...] = data
    expected = data
    for s in (1, 2):
        expected = _mode_nonzero(expected)
        level = seg.at_scale(s)
        assert level.shape == (32 // 2**s,) * 3 and level.voxel_size == (8.0 * 2**s,) * 3
        np.testing.assert_array_equal(level[...], expected)
    with pytest.raises(intern.errors.ReadOnlyError, match="scale 0"):
        seg.at_scale(1)[0, 0, 0] = 1


def _mode_nonzero(a: np.ndarray) -> np.ndarray:
    """The reference 2x2x2 reduction, one cube at a time: most frequent non-zero label, ties to the smaller."""
    out = np.zeros(tuple(s // 2 for s in a.shape), a.dtype)
    for idx in np.ndindex(out.shape):
        cube = a[tuple(slice(2 * i, 2 * i + 2) for i in idx)].ravel()
        labels, counts = np.unique(cube[cube != 0], return_counts=True)
        out[idx] = labels[counts.argmax()] if len(labels) else 0
    return out


def test_grayscale_pyramid_is_name_n_instances(root: str) -> None:
    a = intern.create(f"{root}/em", shape=(16, 64, 64), dtype="uint8", chunks=(16, 32, 32), voxel_size=(40, 8, 8),
                      scales=3)
    assert intern.ls(root) == sorted(["em", "em_1", "em_2"])
    assert [lv.downsample for lv in a.scales] == [(1.0, 1.0, 1.0), (1.0, 2.0, 2.0), (1.0, 4.0, 4.0)]
    for s in range(3):
        level = a.at_scale(s)
        level[...] = np.full(level.shape, 10 + s, np.uint8)
    again = intern.array(a.uri, scale=2)
    assert again.shape == (16, 16, 16) and again.voxel_size == (40.0, 32.0, 32.0)
    assert (again[...] == 12).all() and (intern.array(a.uri, scale=1)[...] == 11).all()
