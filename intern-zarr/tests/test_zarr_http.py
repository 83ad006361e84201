"""``zarr://http://...``: a volume served by a plain HTTP server on loopback, read through fsspec."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import intern


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    pytest.importorskip("aiohttp")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
