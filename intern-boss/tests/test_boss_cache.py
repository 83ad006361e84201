"""The relay's cache tiers: damaged files are discarded and fetched again, the disk budget holds, writes invalidate
cached cuboids in every worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import blosc
import numpy as np
import pytest
import requests
from _bosstest import TOKEN, Lab, em, relay_env

import intern
from intern_boss.relay import RelayProcess

MB = 10**6


@pytest.fixture(scope="module")
def disk_only(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    """A relay with no memory tier and a 20 MB disk tier over the lab's image (17 MB at resolution 0)."""
    root = tmp_path_factory.mktemp("disk-only")
    relay = RelayProcess({"c/e/image": f"zarr://{lab.root}/image.zarr?mode=r"}, cache_dir=root / "cache",
                         args=["--memory-size", "0", "--cache-size", "20MB"], env=relay_env(root),
                         log=root / "relay.log")
    relay.start()
    yield relay
    relay.close()


def _stats(relay: RelayProcess) -> dict[str, int]:
    return requests.get(f"{relay.url}/relay/stats", timeout=10).json()


def _cuboid_file(relay: RelayProcess, name: str) -> Path:
    found = list(Path(relay.cache_dir).glob(f"c-e-image-*/r0/t0/{name}.cub"))
    assert len(found) == 1, found
    return found[0]


def test_damaged_cache_files_are_fetched_again(disk_only: RelayProcess, lab: Lab) -> None:
    a = intern.array(f"bossdb://{disk_only.url}/c/e/image")
    expected = lab.data["image"][0:16, 0:512, 0:512]
    np.testing.assert_array_equal(a[0:16, 0:512, 0:512], expected)
    path = _cuboid_file(disk_only, "0_0_0")
    start = _stats(disk_only)

    np.testing.assert_array_equal(a[0:16, 0:512, 0:512], expected)  # a disk hit
    hit = _stats(disk_only)
    assert hit["disk_hits"] == start["disk_hits"] + 1 and hit["upstream_reads"] == start["upstream_reads"]

    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    np.testing.assert_array_equal(a[0:16, 0:512, 0:512], expected)
    after = _stats(disk_only)
    assert after["discarded"] == hit["discarded"] + 1 and after["upstream_reads"] == hit["upstream_reads"] + 1

    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one bit-flipped byte
    path.write_bytes(bytes(raw))
    np.testing.assert_array_equal(a[0:16, 0:512, 0:512], expected)
    again = _stats(disk_only)
    assert again["discarded"] == after["discarded"] + 1 and again["upstream_reads"] == after["upstream_reads"] + 1
    assert _cuboid_file(disk_only, "0_0_0").stat().st_size > path.stat().st_size // 2


def test_disk_budget_evicts_least_recently_used(disk_only: RelayProcess, lab: Lab) -> None:
    for scale in (0, 1, 2):
        a = intern.array(f"bossdb://{disk_only.url}/c/e/image", scale=scale)
        assert a[...].shape == a.shape
    files = list(Path(disk_only.cache_dir).rglob("*.cub"))
    assert sum(f.stat().st_size for f in files) <= 20 * MB
    assert _stats(disk_only)["evicted"] > 0
    np.testing.assert_array_equal(intern.array(f"bossdb://{disk_only.url}/c/e/image")[...], lab.data["image"])


def test_writes_invalidate_every_workers_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = em((16, 100, 120), seed=9)
    intern.create(f"zarr://{tmp_path}/v.zarr", shape=data.shape, dtype="uint8", chunks=(8, 64, 64))[...] = data
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    with RelayProcess({"c/e/v": f"zarr://{tmp_path}/v.zarr"}, workers=2, tokens=[TOKEN], writable=True,
                      cache_dir=tmp_path / "cache", env=relay_env(tmp_path), log=tmp_path / "relay.log") as relay:
        monkeypatch.setenv("INTERN_HOST", f"127.0.0.1:{relay.port}")
        a = intern.array("bossdb://c/e/v")
        route = f"{relay.url}/v1/cutout/c/e/v/0/0:120/0:100/0:16/"
        headers = {"Authorization": f"Token {TOKEN}", "Connection": "close"}  # new connections reach both workers

        def read() -> np.ndarray:
            body = requests.get(route, headers=headers, timeout=10).content
            return np.frombuffer(blosc.decompress(body), np.uint8).reshape(data.shape)

        for _ in range(12):  # the workers (each with its own memory tier) read and cache the cuboid
            np.testing.assert_array_equal(read(), data)
        a[2:5, 10:90, 20:30] = 200
        data[2:5, 10:90, 20:30] = 200
        for _ in range(12):
            np.testing.assert_array_equal(read(), data)
        np.testing.assert_array_equal(a[...], data)
