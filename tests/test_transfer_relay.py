"""intern.copy from a Boss relay on loopback, through a proxy that answers 503: transient failures are retried (by
the client, once), a lasting outage stops the copy with the resume command, and the resumed copy completes identically."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import TransferError

BOSS_TESTS = Path(__file__).resolve().parent / "boss_relay"
sys.path.insert(0, str(BOSS_TESTS))
from _bosstest import FaultyProxy, relay_env  # noqa: E402

from intern_boss.relay import RelayProcess  # noqa: E402


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay-copy")
    data = np.random.default_rng(5).integers(0, 255, (32, 600, 700), dtype=np.uint8)
    a = intern.create(f"zarr://{root}/em.zarr", shape=data.shape, dtype="uint8", chunks=(16, 128, 128),
                      voxel_size=(40, 4, 4))
    a[...] = data
    relay = RelayProcess({"lab/em/image": f"zarr://{root}/em.zarr?mode=r"}, cache_dir=root / "cache",
                         env=relay_env(root), log=root / "relay.log")
    relay.start()
    try:
        yield relay, data
    finally:
        relay.close()


@pytest.fixture
def proxy(volume, tmp_path, monkeypatch):
    relay, _ = volume
    p = FaultyProxy(relay.url)
    monkeypatch.setenv("INTERN_CONFIG", str(tmp_path / "none.cfg"))
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", p.url.split("://")[1])
    monkeypatch.setenv("INTERN_TOKEN", "public")
    monkeypatch.setenv("INTERN_CACHE_DIR", str(tmp_path / "cache"))
    yield p
    p.close()


SOURCE = "bossdb://lab/em/image?retries=0"  # the client gives up at once


def test_transient_503s_are_retried_by_the_client_and_not_again_by_the_copy(volume, proxy):
    _, data = volume
    proxy.fail = 3
    # the client's policy absorbs the 503s; the copy adds no tries of its own on top of a client's
    report = intern.copy("bossdb://lab/em/image?retries=3&backoff=0.01", "mem://relay-copy/retried", workers=1,
                         progress=False)
    assert report.retried == 0 and proxy.fail == 0
    np.testing.assert_array_equal(intern.array("mem://relay-copy/retried")[...], data)
    proxy.fail = 1  # a client that may not retry (retries=0): its error is final, the copy does not retry the unit
    with pytest.raises(TransferError, match="503"):
        intern.copy(SOURCE, "mem://relay-copy/once", workers=1, progress=False)


def test_an_outage_stops_with_the_resume_command_and_the_rerun_completes(volume, proxy, tmp_path):
    _, data = volume
    dst = f"zarr://{tmp_path}/copy.zarr"
    intern.create(dst, shape=data.shape, dtype="uint8", chunks=(16, 128, 128), voxel_size=(40, 4, 4))
    proxy.fail = 10**9
    with pytest.raises(TransferError) as err:
        intern.copy(SOURCE, dst, workers=1, progress=False)
    assert err.value.unfinished and f"Resume with: intern copy '{SOURCE}' {dst}" in str(err.value)
    proxy.fail = 0
    report = intern.copy(SOURCE, dst, workers=1, progress=False)
    assert report.chunks + report.skipped >= len(err.value.unfinished)
    np.testing.assert_array_equal(intern.array(dst)[...], data)
