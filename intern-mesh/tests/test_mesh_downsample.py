"""Downsampling: tinybrain's output, exact edges, any factor, and pyramids written into OME-Zarr and mem://."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import intern
from intern.errors import MetadataError
from intern.plugin import Box
from intern_mesh._downsample import block_mode


def test_images_match_tinybrain(rng: np.random.Generator) -> None:
    import tinybrain
    for dtype, factor in (("uint8", (1, 2, 2)), ("uint16", (2, 2, 2)), ("float32", (1, 2, 2)), ("uint64", (1, 3, 3))):
        data = (rng.random((12, 72, 72)) * 250).astype(dtype)
        ours = intern.downsample(data, factor=factor, levels=2, kind="image")
        theirs = tinybrain.downsample_with_averaging(data.T, factor[::-1], num_mips=2)
        assert len(ours) == 2
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == data.dtype and a.flags.c_contiguous
            np.testing.assert_array_equal(a, b.T)


def test_segmentations_match_tinybrain(rng: np.random.Generator) -> None:
    import tinybrain
    for factor in ((1, 2, 2), (2, 2, 2)):
        seg = rng.integers(1, 6, (16, 40, 48)).astype(np.uint64) * 2**40
        ours = intern.downsample(seg, factor=factor, levels=3)
        theirs = tinybrain.downsample_segmentation(seg.T, factor[::-1], num_mips=3)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b.T)


def test_odd_edges_are_the_mean_of_the_voxels_they_have(rng: np.random.Generator) -> None:
    data = rng.random((3, 9, 11)).astype(np.float64)
    out = intern.downsample(data, factor=(1, 2, 2), kind="image")[0]
    assert out.shape == (3, 5, 6)
    expected = np.array([[[data[z, 2 * y:2 * y + 2, 2 * x:2 * x + 2].mean() for x in range(6)] for y in range(5)]
                         for z in range(3)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    ints = (data * 200).astype(np.uint8)
    rounded_down = intern.downsample(ints, factor=(1, 2, 2), kind="image")[0]
    core = intern.downsample(ints, factor=(1, 2, 2), kind="image", prefer="numpy")[0]
    assert np.abs(rounded_down.astype(int) - core).max() <= 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(*[st.integers(1, 7)] * 3),
       factor=st.tuples(*[st.integers(1, 4)] * 3))
def test_block_mode_is_the_most_frequent_value(seed: int, shape: tuple[int, int, int],
                                               factor: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 3, (2, *shape)).astype(np.int32)
    out = block_mode(data, factor)
    for idx in np.ndindex(out.shape):
        block = data[(idx[0],) + tuple(slice(i * f, (i + 1) * f) for i, f in zip(idx[1:], factor, strict=True))]
        values, counts = np.unique(block, return_counts=True)
        assert out[idx] == values[counts == counts.max()].min()


def test_channels_bool_and_float16(rng: np.random.Generator) -> None:
    multi = rng.random((3, 4, 8, 8)).astype(np.float16)  # c, z, y, x
    out = intern.downsample(multi, factor=(1, 2, 2), kind="image")[0]
    assert out.shape == (3, 4, 4, 4) and out.dtype == np.float16
    np.testing.assert_allclose(out[1], multi[1].astype(np.float32).reshape(4, 4, 2, 4, 2).mean(axis=(2, 4)),
                               atol=1e-3)
    vol = intern.create("mem://downsample-test/channels", shape=(3, 4, 8, 8), dtype="float32", chunks=(1, 4, 4, 4))
    vol[...] = multi.astype(np.float32)
    part = intern.downsample(vol, factor=(1, 2, 2), box=Box((0, 0, 0), (4, 8, 4)))[0]
    assert part.shape == (3, 4, 4, 2)  # a (z, y, x) box takes every channel
    np.testing.assert_allclose(part, out[..., :2].astype(np.float32), atol=1e-2)
    mask = np.zeros((2, 4, 4), bool)
    mask[:, :2, :2] = True
    mask[:, 2, 2] = True
    assert intern.downsample(mask, factor=(1, 2, 2), kind="segmentation")[0][0].tolist() == [[True, False],
                                                                                           [False, False]]


def test_segmentation_pyramid_in_parts_equals_in_memory(rng: np.random.Generator) -> None:
    """Tasks write whole chunks; levels of many tasks agree with reducing the whole box at once."""
    seg = intern.create("mem://downsample-test/seg", shape=(20, 150, 130), dtype="uint32", chunks=(4, 16, 16),
                        kind="segmentation", voxel_size=(40, 4, 4), scales=4)
    data = rng.integers(1, 5, seg.shape).astype(np.uint32)
    seg[...] = data
    written = intern.downsample(seg, levels=3, dest=seg)
    for arr, expected in zip(written, intern.downsample(data, levels=3), strict=True):
        np.testing.assert_array_equal(arr[...], expected)
    # a box of the volume: only its part of each level changes
    before = seg.at_scale(1)[...]
    seg[0:4, 0:64, 0:64] = 9
    intern.downsample(seg, levels=2, dest=seg, box=Box((0, 0, 0), (4, 64, 64)))
    after = seg.at_scale(1)[...]
    assert (after[0:4, 0:32, 0:32] == 9).all()
    np.testing.assert_array_equal(after[4:], before[4:])
    np.testing.assert_array_equal(after[:, 32:], before[:, 32:])


def test_dest_errors_say_what_to_fix() -> None:
    em = intern.create("mem://downsample-test/em2", shape=(8, 64, 64), dtype="uint8", voxel_size=(40, 4, 4), scales=2)
    with pytest.raises(MetadataError, match="scales up to 2"):
        intern.downsample(em, levels=2, dest=em)
    with pytest.raises(MetadataError, match="not \\(2.0, 2.0, 2.0\\)"):
        intern.downsample(em, factor=(2, 2, 2), dest=em)
    with pytest.raises(MetadataError, match="multiple of factor"):
        intern.downsample(em, dest=em, box=Box((0, 1, 0), (8, 64, 64)))
    with pytest.raises(ValueError, match="levels"):
        intern.downsample(em, levels=0)
    with pytest.raises(ValueError, match="factor"):
        intern.downsample(em, factor=(1, 2))
