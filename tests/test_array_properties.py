"""Property tests: random index expressions on intern arrays equal numpy on the same data, for reads and writes,
on the in-memory remote and on Zarr, across the dtypes of the field."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import intern

SHAPE = (9, 14, 17)
CHUNKS = (4, 5, 6)
DTYPES = ["uint8", "uint16", "uint32", "uint64", "float32"]
_n = itertools.count()


def _index(n: int) -> st.SearchStrategy:
    """An in-bounds index on an axis of length n: an int, or a slice with optional bounds and any non-zero step."""
    bound = st.one_of(st.none(), st.integers(-n, n))
    integer = st.integers(-n, n - 1)
    step = st.one_of(st.none(), st.integers(-4, 4).filter(lambda s: s != 0))
    return st.one_of(integer, st.builds(slice, bound, bound, step))


def _key() -> st.SearchStrategy:
    axes = st.tuples(*(_index(n) for n in SHAPE))
    # sometimes fewer indices, sometimes an ellipsis in place of some
    return axes.flatmap(lambda k: st.sampled_from([k, k[:1], k[:2], (Ellipsis, k[2]), (k[0], Ellipsis)]))


def _clipped_by_numpy(key) -> bool:
    """Whether numpy would clip a bound of this key: a reversed slice from or to n, which intern refuses."""
    key = key if isinstance(key, tuple) else (key,)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (3 - len(key) + 1) + key[i + 1:]
    for k, n in zip(key, SHAPE):
        if isinstance(k, slice) and k.step is not None and k.step < 0 and n in (k.start, k.stop):
            return True
    return False


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
    def check(key, seed):
        assume(not _clipped_by_numpy(key))
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
