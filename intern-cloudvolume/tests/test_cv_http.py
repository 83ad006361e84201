"""``precomputed://http://...``: a volume served by a static file server on loopback, as neuroglancer data often is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import NotFoundError, ReadOnlyError


def test_read_over_http(http_root: tuple[Path, str]) -> None:
    root, url = http_root
    a = intern.create(f"precomputed://{root}/em", shape=(12, 40, 36), dtype="uint16", chunks=(4, 16, 16), scales=2,
                      voxel_size=(40, 4, 4))
    data = np.arange(12 * 40 * 36, dtype=np.uint16).reshape(12, 40, 36)
    a[...] = data
    a[0:4, 0:16, 0:16] = 0
    data[0:4, 0:16, 0:16] = 0
    remote = intern.array(f"precomputed://{url}/em")
    assert remote.uri == f"precomputed://{url}/em"
    assert remote.resource.writable is False
    assert len(remote.scales) == 2 and remote.voxel_size == (40.0, 4.0, 4.0)
    np.testing.assert_array_equal(remote[...], data)
    np.testing.assert_array_equal(remote[1:11, 3:37, 5:31], data[1:11, 3:37, 5:31])
    assert not remote.at_scale(1)[...].any()  # never written: 404 for every chunk, read as zeros
    with pytest.raises(ReadOnlyError):
        remote[0, 0, 0] = 1
    strict = intern.array(f"precomputed://{url}/em", fill_missing=False)
    np.testing.assert_array_equal(strict[2:5], data[2:5])
    with pytest.raises(NotFoundError, match="missing"):
        strict.at_scale(1)[0:2, 0:2, 0:2]


def test_cloudvolume_reads_what_intern_serves(http_root: tuple[Path, str]) -> None:
    from cloudvolume import CloudVolume

    root, url = http_root
    a = intern.create(f"precomputed://{root}/seg", shape=(8, 24, 24), dtype="uint64", chunks=(8, 8, 8),
                      kind="segmentation", encoding="compressed_segmentation")
    data = np.random.default_rng(1).integers(0, 5, a.shape).astype(np.uint64)
    a[...] = data
    cv = CloudVolume(f"{url}/seg", progress=False)
    np.testing.assert_array_equal(np.asarray(cv[...])[..., 0].T, data)
    np.testing.assert_array_equal(intern.array(f"precomputed://{url}/seg")[...], data)


def test_missing_over_http_is_not_found(http_root: tuple[Path, str]) -> None:
    _, url = http_root
    with pytest.raises(NotFoundError, match="does not exist"):
        intern.array(f"precomputed://{url}/nothing")
    with pytest.raises(ReadOnlyError, match="HTTP"):
        intern.create(f"precomputed://{url}/new", shape=(4, 4, 4), dtype="uint8")
