"""The relay with intern-boss alone: a relay process in front of a Boss (here the small one of ``_miniboss``).

The relay's own tests serve Zarr volumes and live with the cross-package tests (``tests/boss_relay``); this one
needs nothing but ``intern-boss[relay]``, as a lab that caches a remote BossDB close to its cluster runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _miniboss import MiniBoss

import intern
from intern_boss.relay import RelayProcess


@pytest.fixture
def upstream() -> Iterator[tuple[MiniBoss, np.ndarray]]:
    """A Boss open to anonymous clients (token ``public``) holding ``lab/em/image``, 16 x 200 x 300 known voxels."""
    server = MiniBoss()
    data = np.random.default_rng(3).integers(0, 255, (16, 200, 300), dtype=np.uint8)
    image = intern.create(f"bossdb://{server.url}/lab/em/image", shape=data.shape, dtype="uint8",
                          voxel_size=(40, 4, 4))
    image[...] = data
    try:
        yield server, data
    finally:
        server.close()


def test_a_relay_in_front_of_a_boss_serves_and_caches_it(upstream: tuple[MiniBoss, np.ndarray],
                                                         tmp_path: Path) -> None:
    server, data = upstream
    env = {"INTERN_CONFIG": str(tmp_path / "no-intern.cfg"), "INTERN_BOSSDB_RETRIES": "0"}
    relay = RelayProcess({"lab/em/image": f"bossdb://{server.url}/lab/em/image"}, cache_dir=tmp_path / "cache",
                         env=env, log=tmp_path / "relay.log")
    relay.start()
    try:
        uri = f"bossdb://{relay.url}/lab/em/image"
        front = intern.array(uri)
        assert front.shape == data.shape and front.voxel_size == (40.0, 4.0, 4.0)
        np.testing.assert_array_equal(front[2:14, 10:190, 20:280], data[2:14, 10:190, 20:280])
        # with the upstream gone, what was read comes from the relay's cache
        server.close()
        np.testing.assert_array_equal(intern.array(uri)[2:14, 10:190, 20:280], data[2:14, 10:190, 20:280])
    finally:
        relay.close()
