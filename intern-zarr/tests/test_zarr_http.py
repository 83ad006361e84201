"""``zarr://http://...``: a volume served by a plain HTTP server on loopback, read through fsspec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.testing.servers import static_http_server


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with static_http_server(tmp_path) as url:
        yield tmp_path, url


def test_read_over_http(http_root: tuple[Path, str]) -> None:
    root, url = http_root
    a = intern.create(f"zarr://{root}/em.ome.zarr", shape=(6, 20, 24), dtype="uint16", chunks=(3, 8, 8), scales=2,
                      voxel_size=(40, 4, 4))
    data = np.arange(6 * 20 * 24, dtype=np.uint16).reshape(6, 20, 24)
    a[...] = data
    a[0:2, 0:8, 0:8] = 0  # the chunk files of these are all zeros, the rest of the pyramid never written
    data[0:2, 0:8, 0:8] = 0
    remote = intern.array(f"zarr://{url}/em.ome.zarr")
    assert remote.resource.writable is False and remote.resource.engine().name == "zarr-python"
    assert len(remote.scales) == 2 and remote.voxel_size == (40.0, 4.0, 4.0)
    np.testing.assert_array_equal(remote[...], data)
    np.testing.assert_array_equal(remote[1:5, 3:17, 5:22], data[1:5, 3:17, 5:22])
    assert not remote.at_scale(1)[...].any()  # chunks that were never written answer 404: the fill value
    with pytest.raises(intern.errors.ReadOnlyError):
        remote[0, 0, 0] = 1
