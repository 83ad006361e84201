"""Two relays chained over a zarr volume: the downstream relay's upstream is the other relay (bossdb://http://...).

The first read fills both caches; with the upstream relay stopped, what was read is still served (also after the
downstream relay restarts) and what was not fails with a clear error; once the upstream relay is back, those reads
succeed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

import intern
from intern.errors import TransientRemoteError

pytest.importorskip("intern_boss.relay")
pytest.importorskip("intern_zarr")
from intern_boss.relay import RelayProcess  # noqa: E402

QUICK = {"INTERN_BOSSDB_RETRIES": "1", "INTERN_BOSSDB_BACKOFF": "0.05", "INTERN_BOSSDB_TIMEOUT": "20"}


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RelayProcess, RelayProcess, np.ndarray]]:
    data = np.random.default_rng(3).integers(0, 256, (32, 600, 700), dtype=np.uint8)
    intern.create(f"zarr://{tmp_path}/em.zarr", shape=data.shape, dtype="uint8", chunks=(16, 128, 128),
                  voxel_size=(40, 8, 8))[...] = data
    env = {"INTERN_CONFIG": str(tmp_path / "none.cfg"), **QUICK}
    upstream = RelayProcess({"a/b/c": f"zarr://{tmp_path}/em.zarr"}, cache_dir=tmp_path / "cache-a", env=env,
                            log=tmp_path / "a.log").start()
    downstream = RelayProcess({"x/y/z": f"bossdb://{upstream.url}/a/b/c"}, cache_dir=tmp_path / "cache-b", env=env,
                              log=tmp_path / "b.log").start()
    monkeypatch.setenv("INTERN_CONFIG", str(tmp_path / "none.cfg"))
    for key, value in QUICK.items():
        monkeypatch.setenv(key, value)
    yield upstream, downstream, data
    downstream.close()
    upstream.close()


def _stats(relay: RelayProcess) -> dict[str, int]:
    return requests.get(f"{relay.url}/relay/stats", timeout=10).json()


def test_chained_relays(chain: tuple[RelayProcess, RelayProcess, np.ndarray]) -> None:
    upstream, downstream, data = chain
    a = intern.array(f"bossdb://{downstream.url}/x/y/z")
    assert a.shape == data.shape and a.voxel_size == (40.0, 8.0, 8.0)

    np.testing.assert_array_equal(a[0:16, 0:600, 0:700], data[0:16])  # fills both caches
    assert list(Path(upstream.cache_dir).rglob("*.cub")) and list(Path(downstream.cache_dir).rglob("*.cub"))
    before = _stats(upstream)
    np.testing.assert_array_equal(a[0:16, 0:600, 0:700], data[0:16])  # the downstream answers alone
    assert _stats(upstream) == before

    upstream.stop()
    np.testing.assert_array_equal(a[2:14, 5:590, 7:690], data[2:14, 5:590, 7:690])  # cached: still served
    with pytest.raises(TransientRemoteError, match="upstream"):
        a[16:32, 0:100, 0:100]  # never read: the downstream cannot get it

    downstream.stop()  # a restart while its upstream is down: the saved geometry and the disk tier serve
    downstream.start()
    again = intern.array(f"bossdb://{downstream.url}/x/y/z")
    np.testing.assert_array_equal(again[0:16, 100:200, 0:700], data[0:16, 100:200])

    upstream.start()  # back, on the same port
    deadline = time.monotonic() + 30
    while True:
        try:
            got = a[16:32, 0:100, 0:100]
            break
        except TransientRemoteError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    np.testing.assert_array_equal(got, data[16:32, 0:100, 0:100])
