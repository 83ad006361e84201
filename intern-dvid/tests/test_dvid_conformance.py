"""The core's driver conformance kit, run against dvid:// on the test server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intern.testing import VolumeDriverTests
from intern_dvid.testing import DvidTestServer


class TestDvidConformance(VolumeDriverTests):
    # DVID holds uint8 grayscale (uint8blk) and uint64 labels (labelmap); grayscale comes first so that the
    # pyramid test writes every level (labelmap computes its lower levels itself)
    dtypes = ("uint8", "uint64")

    @pytest.fixture
    def new_uri(self, server: DvidTestServer) -> Callable[[str], str]:
        root = server.new_repo("conformance")
        return lambda name: f"dvid://{server.address}/{root}/{name}"
