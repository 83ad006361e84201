import itertools

import pytest

from intern.testing import VolumeDriverTests

_n = itertools.count()
class TestMem(VolumeDriverTests):
    @pytest.fixture
    def new_uri(self):
        run = next(_n)
        return lambda name: f"mem://conformance{run}/{name}"
