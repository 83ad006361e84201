"""Property tests: random index expressions on intern arrays equal numpy on the same data, for reads and writes,
on the in-memory remote and on Zarr, across the dtypes of the field."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import intern

SHAPE = (9, 14, 17)
CHUNKS = (4, 5, 6)
DTYPES = ["uint8", "uint16", "uint32", "uint64", "float32"]
_n = itertools.count()


def _index(n: int) -> st.SearchStrategy:
    """An in-bounds index on an axis of length n: an int, or a slice with optional bounds and any non-zero step.

    Bounds run over the whole range intern accepts, -n to n, for steps of either sign (numpy reads a start of n with
    a negative step as the last voxel, and a stop of n as "stop before the last voxel": both must agree), and a
    negative step may also stop at -n - 1 ("through voxel 0").
    """
    bound = st.one_of(st.none(), st.integers(-n, n))
    integer = st.integers(-n, n - 1)
    # steps up to 8 pass over whole chunks (CHUNKS), so the reads that skip chunks are compared with numpy too
    forward = st.builds(slice, bound, bound, st.one_of(st.none(), st.integers(1, 8)))
    backward = st.builds(slice, bound, st.one_of(bound, st.just(-n - 1)), st.integers(-8, -1))
    return st.one_of(integer, forward, backward)


def _key() -> st.SearchStrategy:
    axes = st.tuples(*(_index(n) for n in SHAPE))
    # sometimes fewer indices, sometimes an ellipsis in place of some
    return axes.flatmap(lambda k: st.sampled_from([k, k[:1], k[:2], (Ellipsis, k[2]), (k[0], Ellipsis)]))


@pytest.fixture(scope="module", params=["mem", "zarr"])
def backend(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("props")

    def make(dtype: str) -> intern.Array:
        name = f"v{next(_n)}-{dtype}"
        uri = f"mem://props/{name}" if request.param == "mem" else f"zarr://{root}/{name}.zarr"
        return intern.create(uri, shape=SHAPE, dtype=dtype, chunks=CHUNKS)

    return make


def _data(dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return rng.standard_normal(SHAPE).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, SHAPE, dtype=np.uint64, endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reads_and_writes_equal_numpy(backend, dtype):
    arr = backend(dtype)
    ref = _data(dtype, 1)
    arr[...] = ref
    counter = itertools.count()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(key=_key(), seed=st.integers(0, 2**16))
    @example(key=(0, 0, slice(None, SHAPE[2], -1)), seed=0)  # once refused although numpy reads it (empty)
    @example(key=(slice(SHAPE[0], None, -2), slice(None, -SHAPE[1], -1)), seed=1)
    def check(key, seed):
        expected = np.asarray(ref[key])
        np.testing.assert_array_equal(arr[key], expected)
        # write fresh values of the selection's shape (and a broadcast scalar every other time)
        values = _data(dtype, seed).flat[: expected.size].reshape(expected.shape)
        if next(counter) % 2:
            values = np.asarray(_data(dtype, seed).flat[0], dtype=dtype)
        arr[key] = values
        ref[key] = values
        np.testing.assert_array_equal(arr[...], ref)

    check()


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_out_of_bounds_keys_raise_and_write_nothing(backend, dtype):
    arr = backend(dtype)
    ref = _data(dtype, 2)
    arr[...] = ref

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(axis=st.integers(0, 2), over=st.integers(1, 20), as_int=st.booleans())
    def check(axis, over, as_int):
        n = SHAPE[axis]
        key = [slice(None)] * 3
        key[axis] = n - 1 + over if as_int else slice(0, n + over)
        with pytest.raises(intern.errors.OutOfBoundsError):
            arr[tuple(key)]
        with pytest.raises(IndexError):
            arr[tuple(key)] = 0
        np.testing.assert_array_equal(arr[...], ref)

    check()


@pytest.mark.parametrize("n", [0, 1, 5])
def test_every_in_range_slice_equals_numpy(n):
    """Every slice of an axis of n voxels with bounds in [-n, n] or None (and -n - 1 for a reversal), and steps
    -3..3, reads what numpy reads, empty selections included: an exhaustive check, beside the random ones."""
    ref = np.arange(n * 2 * 3, dtype=np.uint16).reshape(2, 3, n)
    arr = intern.create(f"mem://props/axis-{n}-{next(_n)}", shape=ref.shape, dtype="uint16", chunks=(1, 2, 2))
    arr[...] = ref
    bounds = [None, *range(-n, n + 1)]
    for step in (None, 1, 2, 3, -1, -2, -3):
        stops = bounds + ([-n - 1] if step is not None and step < 0 else [])
        for start, stop in itertools.product(bounds, stops):
            key = (1, slice(None, None, -1), slice(start, stop, step))
            np.testing.assert_array_equal(arr[key], ref[key], err_msg=f"a[{key}]")


def test_strided_reads_fetch_only_chunks_holding_a_selected_voxel(tmp_path):
    """``a[:, ::128]`` on 64-voxel chunks reads every other chunk row only: the ones between are never fetched.

    The chunks no selected voxel lies in are damaged on disk, so reading any of them fails.
    """
    a = intern.create(f"zarr://{tmp_path}/s.zarr", shape=(8, 256, 256), dtype="uint16", chunks=(8, 64, 64))
    ref = np.arange(8 * 256 * 256, dtype="uint16").reshape(8, 256, 256)
    a[...] = ref
    damaged = 0
    for chunk in (tmp_path / "s.zarr").rglob("c/*/*/*"):
        if int(chunk.parent.name) % 2 == 1 or int(chunk.name) in (1, 3):  # y chunks 1, 3 and x chunks 1, 3
            chunk.write_bytes(b"not a chunk")
            damaged += 1
    assert damaged == 12
    with pytest.raises(intern.errors.InternError):
        a[:, 64:65, :]  # a damaged chunk is read, and fails
    b = intern.array(a.uri)
    for key in [(slice(None), slice(None, None, 128), slice(None, None, 128)),
                (3, slice(None, None, 128), slice(0, 256, 128)),
                (slice(None, None, -1), slice(128, None, -128), slice(None, None, 128)),
                (slice(2, 6, 3), slice(None, None, 130), slice(0, 60, 7))]:
        np.testing.assert_array_equal(b[key], ref[key])
