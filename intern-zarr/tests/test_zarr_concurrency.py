"""Concurrent writers of different boxes that share chunks must not lose each other's voxels."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import intern


def _hammer(arrays: list[intern.Array], rounds: int) -> np.ndarray:
    """Each thread writes its own slab of x, in the same chunks as the others (so every chunk has several writers).

    Boxes, not strided selections: a strided assignment is merged over its covering box by the core, which is a
    read-modify-write no driver can make atomic.
    """
    shape = arrays[0].shape
    n = len(arrays)
    w = shape[2] // n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def writer(i: int) -> None:
        try:
            barrier.wait()
            for r in range(rounds):
                arrays[i][:, r % shape[1], i * w:(i + 1) * w] = i + 1 + r
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    expected = np.zeros(shape, arrays[0].dtype)
    for i in range(n):
        for r in range(rounds):
            expected[:, r % shape[1], i * w:(i + 1) * w] = i + 1 + r
    return expected


@pytest.mark.parametrize("driver,engine", [("zarr", None), ("zarr", "zarr-python"), ("h5", None)])
def test_concurrent_writers_lose_nothing(tmp_path: Path, driver: str, engine: str | None) -> None:
    uri = f"zarr://{tmp_path}/c.zarr" if driver == "zarr" else f"h5://{tmp_path}/c.h5/v"
    intern.create(uri, shape=(8, 6, 24), dtype="uint16", chunks=(8, 6, 24))  # one chunk: every write collides
    options = {"engine": engine} if engine else {}
    # separate handles, as separate parts of a program (or dask tasks in threads) would have
    arrays = [intern.array(uri, **options) for _ in range(4)]
    expected = _hammer(arrays, rounds=20)
    np.testing.assert_array_equal(intern.array(uri)[...], expected)
