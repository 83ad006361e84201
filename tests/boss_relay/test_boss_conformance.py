"""The core's driver conformance kit, run against bossdb:// through a writable relay over zarr volumes.

A relay serves the volumes it mounts and creates none, so the kit's creation tests do not apply; every other test
runs on a mounted channel of each dtype, cleared (by writing zeros, which the client sends) before each test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from _bosstest import CONF_DTYPES, CONF_SHAPE, Lab

import intern
from intern.testing import VolumeDriverTests


class TestBossConformance(VolumeDriverTests):
    dtypes = CONF_DTYPES
    shape = CONF_SHAPE
    supports_create = False  # the relay's channels are its mounts

    @pytest.fixture
    def new_uri(self, as_lab: Lab) -> Callable[[str], str]:
        return lambda name: as_lab.uri(f"kit/conf/{name}")

    @pytest.fixture
    def volume(self, new_uri: Callable[[str], str], dtype: str) -> intern.Array:
        a = intern.array(new_uri(f"conf-{dtype}"))
        a[...] = np.zeros(a.shape, a.dtype)
        assert not a[...].any()
        return a
