"""intern.array against numpy on the in-memory remote: the semantics every driver inherits."""

import itertools

import numpy as np
import pytest

import intern
from intern.errors import DTypeError, IndexingError, OutOfBoundsError, ReadOnlyError

_names = itertools.count()


@pytest.fixture
def vol():
    data = np.arange(10 * 12 * 14, dtype=np.uint16).reshape(10, 12, 14)
    a = intern.create(f"mem://semantics/v{next(_names)}", shape=data.shape, dtype="uint16", chunks=(4, 5, 6))
    a[...] = data
    return a, data


@pytest.mark.parametrize("key", [
    5, -1, (slice(None), 3), (Ellipsis, 2), (1, Ellipsis, 2), (slice(2, 8, 3), slice(None, None, -2), slice(-4, None)),
    (slice(9, 1, -3), 0, slice(13, None, -5)), (slice(None, None, -1),) * 3, (slice(4, 4), 0), np.int64(3),
    (Ellipsis,), (slice(-10, -1),),
])
def test_reads_equal_numpy(vol, key):
    a, data = vol
    np.testing.assert_array_equal(a[key], data[key])
    assert a[key].shape == data[key].shape


def test_writes_broadcast_like_numpy(vol):
    a, data = vol
    a[2:5, 3, ::4] = np.arange(4, dtype=np.uint8)
    data[2:5, 3, ::4] = np.arange(4, dtype=np.uint8)
    a[-1, ::-3, 1:3] = 9
    data[-1, ::-3, 1:3] = 9
    np.testing.assert_array_equal(a[...], data)


def test_properties_and_protocols(vol):
    a, data = vol
    assert (a.shape, a.ndim, a.dtype, len(a), a.chunks) == (data.shape, 3, np.uint16, 10, (4, 5, 6))
    assert a.axes == ("z", "y", "x") and a.voxel_unit == "nm" and a.uri.startswith("mem://semantics/")
    np.testing.assert_array_equal(np.asarray(a), data)
    assert "uint16" in repr(a) and "z=10" in repr(a)
    assert "downsample" in a.capabilities


def test_out_of_bounds_never_clips(vol):
    a, _ = vol
    for key in [10, -11, slice(0, 11), (slice(None), slice(-13, None)), (0, 0, 14)]:
        with pytest.raises(OutOfBoundsError):
            a[key]
        with pytest.raises(IndexError):  # numpy users catch IndexError
            a[key] = 1


def test_unsupported_indices(vol):
    a, _ = vol
    for key in [[1, 2], np.array([1, 2]), True, None, (0, 0, 0, 0), (Ellipsis, Ellipsis), slice(0, 5, 0), 1.5]:
        with pytest.raises(IndexingError):
            a[key]


def test_casting_follows_same_kind(vol):
    a, data = vol
    a[0, 0, 0:2] = np.array([1, 2], dtype=np.uint8)  # safe
    a[0, 0, 2] = np.uint64(7)  # same kind (a narrowing unsigned cast)
    with pytest.raises(DTypeError):
        a[0, 0, 0] = np.int64(7)  # signed to unsigned is not same_kind in numpy
    with pytest.raises(DTypeError):
        a[0, 0, 0] = 1.5
    with pytest.raises(DTypeError):
        a[0, 0, 0:2] = np.array([1.0, 2.0])
    with pytest.raises(DTypeError):
        a[0, 0, 0] = 70000  # does not fit uint16
    with pytest.raises(ValueError):
        a[0, 0, 0:3] = np.zeros(4, dtype=np.uint16)
    np.testing.assert_array_equal(a[0, 0, :3], [1, 2, 7])


def test_partial_chunk_writes_keep_neighbours():
    a = intern.create(f"mem://semantics/rmw{next(_names)}", shape=(9, 9, 9), dtype="uint8", chunks=(4, 4, 4))
    a[...] = 5
    a[3:6, 3:6, 3:6] = 1
    expected = np.full((9, 9, 9), 5, np.uint8)
    expected[3:6, 3:6, 3:6] = 1
    np.testing.assert_array_equal(a[...], expected)


def test_scales_and_leading_axes():
    a = intern.create(f"mem://semantics/tc{next(_names)}", shape=(2, 3, 8, 16, 16), dtype="float32",
                      voxel_size=(40, 4, 4), scales=3)
    assert a.axes == ("t", "c", "z", "y", "x")
    assert [s.shape for s in a.scales] == [(2, 3, 8, 16, 16), (2, 3, 8, 8, 8), (2, 3, 8, 4, 4)]
    assert a.at_scale(2).voxel_size == (40, 16, 16)
    assert intern.array(a, scale=-1).scale == 2
    a.at_scale(1)[1, 2, 3] = np.ones((8, 8), np.float32)
    assert a.at_scale(1)[1, 2, 3].sum() == 64 and a.at_scale(1)[0].sum() == 0
    with pytest.raises(OutOfBoundsError):
        a.at_scale(3)


def test_read_only_resource():
    src = np.zeros((4, 4, 4), np.uint8)
    from intern._services import as_volume

    a = intern.array(as_volume(src))
    with pytest.raises(ReadOnlyError):
        a[0] = 1


def test_to_dask_matches(vol):
    import dask.array  # noqa: F401 - a test dependency; missing, it fails
    a, data = vol
    d = a.to_dask()
    assert d.chunksize == (4, 5, 6)
    np.testing.assert_array_equal(d[2:9, ::2].compute(), data[2:9, ::2])


def test_parallel_reads_hit_every_chunk(vol, monkeypatch):
    a, data = vol
    seen = []
    read = a.resource.read

    def spy(box, *, scale=0):
        seen.append(box)
        return read(box, scale=scale)

    monkeypatch.setattr(a.resource, "read", spy)
    np.testing.assert_array_equal(a[1:9, 2:11, 3:13], data[1:9, 2:11, 3:13])
    # pieces stay inside chunks and tile the request
    assert sum(b.size for b in seen) == 8 * 9 * 10
    assert len(seen) == 3 * 3 * 3
