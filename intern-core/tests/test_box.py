import pytest
from hypothesis import given
from hypothesis import strategies as st

from intern import Box
from intern.errors import OutOfBoundsError


def test_shape_size_and_str():
    b = Box((1, 2, 3), (4, 6, 8))
    assert b.shape == (3, 4, 5) and b.size == 60 and b.ndim == 3
    assert str(b) == "1:4,2:6,3:8"
    assert Box.parse(str(b)) == b


def test_invalid_boxes():
    with pytest.raises(ValueError):
        Box((0, 0, 5), (1, 1, 4))
    with pytest.raises(ValueError):
        Box((0, 0), (1, 1, 1))
    with pytest.raises(TypeError):
        Box((0.5, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError):
        Box.parse("0:4,5")
    with pytest.raises(ValueError):
        Box.parse("a:b")


def test_intersection_and_contains():
    a = Box((0, 0, 0), (10, 10, 10))
    b = Box((5, -5, 8), (15, 5, 20))
    assert a.intersection(b) == Box((5, 0, 8), (10, 5, 10))
    assert a.contains(Box((1, 1, 1), (2, 2, 2))) and not a.contains(b)
    assert a.intersection(Box((20, 20, 20), (30, 30, 30))).is_empty()
    with pytest.raises(OutOfBoundsError):
        b.check_within(a)


def test_align_and_chunk_boxes():
    box = Box((3, 70, 0), (9, 130, 64))
    assert box.align((8, 64, 64)) == Box((0, 64, 0), (16, 192, 64))
    assert box.align((8, 64, 64), bounds=Box.from_shape((10, 150, 100))) == Box((0, 64, 0), (10, 150, 64))
    chunks = list(box.chunk_boxes((8, 64, 64)))
    assert len(chunks) == 2 * 2 * 1
    assert not box.is_aligned((8, 64, 64))
    assert Box((0, 64, 0), (8, 128, 64)).is_aligned((8, 64, 64))


@pytest.mark.parametrize("call", [
    lambda b: b.align((32, 32, 32)),
    lambda b: b.is_aligned((32, 32, 32)),
    lambda b: list(b.chunk_indices((32, 32, 32))),
    lambda b: list(b.chunk_boxes((32, 32, 32))),
    lambda b: list(b.split((32, 32, 32))),
    lambda b: b.translate((1, 1, 1)),
    lambda b: b.relative_to((1, 1, 1)),
])
def test_per_axis_arguments_must_match_the_box(call):
    """A 3-axis chunk shape or offset given for a 4-axis box is refused, not zipped down to 3 axes."""
    box = Box((0, 0, 0, 0), (1, 64, 64, 64))
    with pytest.raises(ValueError, match="has 3 axes, the box .* has 4"):
        call(box)


def test_from_shape_refuses_an_offset_of_other_length():
    with pytest.raises(ValueError, match="differ in length"):
        Box.from_shape((4, 4, 4), offset=(1, 1))


boxes = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)).flatmap(
    lambda start: st.tuples(st.just(start), st.tuples(*(st.integers(s, s + 24) for s in start))))


@given(boxes, st.tuples(st.integers(2, 16), st.integers(2, 16), st.integers(2, 16)))
def test_split_tiles_the_box_exactly(bounds, chunks):
    box = Box(*bounds)
    parts = list(box.split(chunks))
    assert sum(p.size for p in parts) == box.size
    for p in parts:
        assert box.contains(p)
        # every part lies inside one chunk of the grid
        assert all(a // c == (b - 1) // c for a, b, c in zip(p.start, p.stop, chunks, strict=True)) or p.is_empty()
    # painted into a grid, the parts cover every voxel of the box exactly once
    import numpy as np

    grid = np.zeros((90, 90, 90), np.int32)
    for p in parts:
        grid[p.to_slices()] += 1
    assert (grid[box.to_slices()] == 1).all() and grid.sum() == box.size
