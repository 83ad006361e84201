"""The conformance kit catches a format bug that a kit round-tripping through the driver alone cannot see.

The toy driver ``swapmem://`` is the core's ``mem://`` with one bug: it stores every value byte-swapped (as a driver
that writes little-endian where its format is big-endian, or the other way round, does) and swaps back when it
reads. Everything it writes reads back through it, so every round-trip test of the kit passes; the reference
comparison, which reads and writes the stored arrays by the backdoor, fails both ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from intern import _registry as registry

pytest_plugins = ["pytester"]

SWAPPED_DRIVER = '''
import numpy as np

from intern._builtin.mem import MemRemote, MemVolume
from intern.errors import AlreadyExistsError
from intern._hookspecs import SchemeSpec, hookimpl


class SwappedVolume(MemVolume):
    @property
    def uri(self):
        return f"swapmem://{self.name}"

    def read(self, box, *, scale=0):
        return super().read(box, scale=scale).byteswap()

    def write(self, box, data, *, scale=0):
        super().write(box, np.asarray(data).byteswap(), scale=scale)


class SwappedRemote(MemRemote):
    scheme = "swapmem"
    _instance = None  # one store of its own, not mem://'s

    def create(self, path, metadata, *, exist_ok=False, **options):
        name = self._name(path)
        with self._lock:
            if name not in self._volumes:
                self._volumes[name] = SwappedVolume(self, name, metadata)
            elif not exist_ok:
                raise AlreadyExistsError(f"swapmem://{name} exists already")
            return self._volumes[name]


@hookimpl
def intern_schemes():
    return [SchemeSpec("swapmem", "swapmem_driver:SwappedRemote.from_uri")]
'''

KIT_TESTS = '''
import itertools

import pytest

from intern.testing import Reference, VolumeDriverTests
from intern._uri import parse_uri
from swapmem_driver import SwappedRemote

_run = itertools.count()


def read_levels(volume, scale):
    return volume.resource.levels[scale].copy()


def write_levels(uri, stored):
    remote, name = SwappedRemote.from_uri(parse_uri(uri))
    volume = remote.create(name, stored.metadata)
    for level, data in zip(volume.levels, stored.levels):
        level[...] = data


class TestSwapped(VolumeDriverTests):
    dtypes = ("uint16", "float32")
    random_boxes = 3

    @pytest.fixture
    def new_uri(self):
        run = next(_run)
        return lambda name: f"swapmem://kit{run}/{name}"

    @pytest.fixture
    def references(self):
        return [Reference("backdoor", read=read_levels, write=write_levels)]
'''


@pytest.fixture
def swapped(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    pytester.makepyfile(swapmem_driver=SWAPPED_DRIVER, test_swapped=KIT_TESTS)
    pytester.syspathinsert()
    import swapmem_driver

    registry.register(swapmem_driver, name="swapmem")
    try:
        yield pytester
    finally:
        registry.reload()  # forget the toy driver: other tests see the installed plugins only


def test_only_the_reference_comparison_fails_a_byte_swapping_driver(swapped: pytest.Pytester) -> None:
    result = swapped.runpytest_inprocess("-p", "no:cacheprovider", "--tb=line")
    outcomes = result.parseoutcomes()
    # the kit as it was (round trips through the driver) passes the bug: every other test passes
    assert outcomes.get("errors", 0) == 0 and outcomes["passed"] >= 20, outcomes
    # the reference comparison fails it, both ways, for each dtype, and says where the voxels differ
    assert outcomes["failed"] == 4, outcomes
    for direction in ("test_reference_reads_what_the_driver_wrote", "test_driver_reads_what_the_reference_wrote"):
        for dtype in ("uint16", "float32"):
            result.stdout.fnmatch_lines([f"FAILED *{direction}[[]{dtype}[]]*"])
    assert len(re.findall(r"^E +Failed: .* the voxels differ; \d+ voxels differ", str(result.stdout), re.M)) == 4
