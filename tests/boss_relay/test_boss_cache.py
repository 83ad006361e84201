"""The relay's cache tiers: damaged files are discarded and fetched again, the disk budget holds, writes invalidate
cached cuboids in every worker, even while fetches are under way, and damage from upstream is never cached."""

from __future__ import annotations

import os
import re
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import blosc
import numpy as np
import pytest
import requests
from _bosstest import TOKEN, Lab, em, relay_env

import intern
from intern.errors import ConfigError, MetadataError, TransientRemoteError
from intern_boss._api import _read_blosc_into
from intern_boss._checksum import HEADER
from intern_boss._http import _InMemory
from intern_boss._wire import BLOSC, encode
from intern_boss.relay import RelayProcess, parse_mount
from intern_boss.relay._cache import CacheStats, DiskTier, MemoryTier
from intern_boss.relay._channel import ServedChannel

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


# -- coherence under concurrent writers and readers --------------------------------------------------------------------
_CUB = (16, 64, 64)  # a cuboid of the volume: Boss cuboids are 16 deep, clipped here to 64x64
_CUBOIDS, _READERS, _LOOPS = 4, 2, 4
_VOLUME = em((_CUB[0] * _CUBOIDS, *_CUB[1:]), seed=5, dtype="uint16")


class Wire:
    """A small HTTP proxy on loopback in front of a relay: it forwards every request, and can hold cutout answers back
    (``delay`` seconds, after it has the upstream's answer: a slow link) or flip one byte of each (``corrupt``)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.delay = 0.0
        self.corrupt = False
        self.held: dict[str, int] = {}  # cutout answers the wire is holding back now, by their z range
        self.lock = threading.Lock()
        wire = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                resp = requests.request(self.command, wire.target + self.path, data=body or None, timeout=60,
                                        headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                content = resp.content
                cutout = self.command == "GET" and "/v1/cutout/" in self.path and resp.status_code == 200
                if cutout and wire.corrupt:
                    content = bytearray(content)
                    content[len(content) // 2] ^= 0x01
                    content = bytes(content)
                z = self.path.split("/")[-2]
                if cutout:
                    with wire.lock:
                        wire.held[z] = wire.held.get(z, 0) + 1
                    time.sleep(wire.delay)
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                if cutout:
                    with wire.lock:
                        wire.held[z] -= 1

            do_GET = do_POST = do_PUT = _forward  # noqa: N815 - the base class's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def behind_wire(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Wire]]:
    """A writable relay over a small noisy volume, behind a :class:`Wire` that answers cutout reads 0.05 s late:
    ``(mount URI for a relay in front of it, that relay's environment, the wire)``; the volume is ``_VOLUME``."""
    volume = intern.create(f"zarr://{tmp_path}/v.zarr", shape=_VOLUME.shape, dtype="uint16", chunks=_CUB)
    volume[...] = _VOLUME
    with RelayProcess({"c/e/v": f"zarr://{tmp_path}/v.zarr"}, tokens=[TOKEN], writable=True, cache_dir="none",
                      args=["--memory-size", "0"], env=relay_env(tmp_path), log=tmp_path / "upstream.log") as upstream:
        wire = Wire(upstream.url)
        wire.delay = 0.05
        try:
            # the token goes to the host it is configured for
            yield "bossdb://c/e/v", {**relay_env(tmp_path), "INTERN_PROTOCOL": "http", "INTERN_TOKEN": TOKEN,
                                     "INTERN_HOST": wire.url.split("://")[1]}, wire
        finally:
            wire.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_reads_after_writes_through_the_relay_are_never_stale(tmp_path: Path, workers: int,
                                                              behind_wire: tuple[str, dict[str, str], Wire]) -> None:
    """Writers each own a cuboid and loop: write it, start a read of it and wait until the relay's fetch from the
    upstream has the data, write it again through another worker (the fetch is under way), then read it back through
    every worker: the second write's data must come back, and stay. Readers keep reading every cuboid through the
    worker that fetches meanwhile."""
    uri, env, wire = behind_wire
    with RelayProcess({"c/e/v": uri}, workers=workers, tokens=[TOKEN], writable=True, cache_dir=tmp_path / "cache",
                      env=env, log=tmp_path / "relay.log") as relay:
        auth = {"Authorization": f"Token {TOKEN}"}

        def route(k: int) -> str:
            return f"{relay.url}/v1/cutout/c/e/v/0/0:{_CUB[2]}/0:{_CUB[1]}/{k * _CUB[0]}:{(k + 1) * _CUB[0]}/"

        def read(k: int, via: requests.Session | None = None) -> np.ndarray:
            # without a session, a new connection: it reaches any worker
            resp = (via or requests).get(route(k), headers=auth if via else {**auth, "Connection": "close"}, timeout=60)
            assert resp.status_code == 200, resp.text
            return np.frombuffer(blosc.decompress(resp.content), np.uint16).reshape(_CUB)

        def write(k: int, block: np.ndarray, via: requests.Session) -> None:
            resp = via.post(route(k), data=blosc.compress(block.tobytes(), typesize=2),
                            headers={**auth, "Content-Type": "application/blosc"}, timeout=60)
            assert resp.status_code == 201, resp.text

        def one_per_worker() -> list[requests.Session]:
            """A kept-alive connection to each worker (a new connection reaches any of them)."""
            found: dict[int, requests.Session] = {}
            for _ in range(200):
                session = requests.Session()
                pid = session.get(f"{relay.url}/relay/stats", headers=auth, timeout=30).json()["pid"]
                found.setdefault(pid, session)
                if len(found) == workers:
                    return [found[pid] for pid in sorted(found)]  # the same order in every thread
            raise AssertionError(f"200 connections reached {len(found)} of {workers} workers")

        done = threading.Event()
        stale: list[tuple[int, int]] = []
        last: dict[int, np.ndarray] = {}

        def writer(k: int) -> None:
            rng = np.random.default_rng(k)
            z = f"{k * _CUB[0]}:{(k + 1) * _CUB[0]}"
            sessions = one_per_worker()
            for i in range(_LOOPS):
                write(k, rng.integers(0, 2**16, _CUB, dtype=np.uint16), sessions[0])
                with ThreadPoolExecutor(1) as one:
                    # a miss: the relay fetches the cuboid (or a reader's request does), the wire holds the answer
                    fetching = one.submit(read, k, sessions[0])
                    while not wire.held.get(z) and not fetching.done():  # (a reader may have cached it already)
                        time.sleep(0.002)
                    block = rng.integers(0, 2**16, _CUB, dtype=np.uint16)
                    write(k, block, sessions[-1])
                    fetching.result()
                last[k] = block
                if not all(np.array_equal(read(k, via), block) for via in sessions):
                    stale.append((k, i))

        def reader(r: int) -> None:
            via = one_per_worker()[0]  # the worker that fetches while the writes come through another
            k = r
            while not done.is_set():
                read(k % _CUBOIDS, via)
                k += 1

        readers = [threading.Thread(target=reader, args=(r,)) for r in range(_READERS)]
        for t in readers:
            t.start()
        try:
            with ThreadPoolExecutor(_CUBOIDS) as pool:
                list(pool.map(writer, range(_CUBOIDS)))
        finally:
            done.set()
            for t in readers:
                t.join()
        assert not stale, f"{len(stale)} of {_CUBOIDS * _LOOPS} write-then-read loops read stale data: {stale}"
        for k in range(_CUBOIDS):  # and nothing stale stays cached, in any worker
            for _ in range(2 * workers):
                np.testing.assert_array_equal(read(k), last[k])


# -- damage --------------------------------------------------------------------------------------------------------
def test_a_cache_file_under_another_cuboids_name_is_not_served(disk_only: RelayProcess, lab: Lab) -> None:
    a = intern.array(f"bossdb://{disk_only.url}/c/e/image")
    for z in (0, 16):
        np.testing.assert_array_equal(a[z:z + 16, 0:512, 0:512], lab.data["image"][z:z + 16, 0:512, 0:512])
    other = _cuboid_file(disk_only, "1_0_0")
    other.write_bytes(_cuboid_file(disk_only, "0_0_0").read_bytes())  # a whole, valid file of the cuboid before
    start = _stats(disk_only)
    np.testing.assert_array_equal(a[16:32, 0:512, 0:512], lab.data["image"][16:32, 0:512, 0:512])
    after = _stats(disk_only)
    assert after["discarded"] == start["discarded"] + 1 and after["upstream_reads"] == start["upstream_reads"] + 1


def test_files_of_the_previous_version_are_replaced(disk_only: RelayProcess, lab: Lab) -> None:
    a = intern.array(f"bossdb://{disk_only.url}/c/e/image")
    expected = lab.data["image"][0:16, 512:700, 0:512]
    np.testing.assert_array_equal(a[0:16, 512:700, 0:512], expected)
    path = _cuboid_file(disk_only, "0_1_0")
    raw = bytearray(path.read_bytes())
    assert raw[:5] == b"IBCU\x02"
    raw[4] = 1  # version 1 files had no key: they are misses
    path.write_bytes(bytes(raw))
    np.testing.assert_array_equal(a[0:16, 512:700, 0:512], expected)
    assert path.read_bytes()[:5] == b"IBCU\x02"


def test_answers_damaged_between_chained_relays_are_not_cached(tmp_path: Path,
                                                               behind_wire: tuple[str, dict[str, str], Wire]) -> None:
    uri, env, wire = behind_wire
    wire.delay = 0.0
    with RelayProcess({"c/e/v": uri}, cache_dir=tmp_path / "cache", env=env, log=tmp_path / "relay.log") as relay:
        route = f"{relay.url}/v1/cutout/c/e/v/0/0:{_CUB[2]}/0:{_CUB[1]}/0:{_CUB[0]}/"
        expected = _VOLUME[: _CUB[0]]
        wire.corrupt = True  # one byte of each cutout the downstream relay reads is flipped on the way
        resp = requests.get(route, timeout=60)
        if resp.status_code == 200:  # served: then undamaged
            got = np.frombuffer(blosc.decompress(resp.content), np.uint16).reshape(_CUB)
            np.testing.assert_array_equal(got, expected)
        else:
            assert resp.status_code in (502, 503) and "checksum" in resp.json()["message"], resp.text
        wire.corrupt = False
        # a relay that just saw its upstream fail waits a moment before it opens the upstream again (a 503 meanwhile)
        deadline = time.monotonic() + 20
        while (resp := requests.get(route, timeout=60)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert resp.status_code == 200, resp.text
        np.testing.assert_array_equal(np.frombuffer(blosc.decompress(resp.content), np.uint16).reshape(_CUB), expected)


def test_orphaned_temporary_files_are_removed_at_start(tmp_path: Path) -> None:
    """Files ``write_atomic`` left behind when a worker was killed mid-write; a fresh one may be another worker's."""
    cuboids = tmp_path / "cache" / "c-e-v-0123456789ab" / "r0" / "t0"
    cuboids.mkdir(parents=True)
    old, fresh = cuboids / ".0_0_0.cub.1a2b3c4d5e6f.tmp", cuboids / ".1_0_0.cub.6f5e4d3c2b1a.tmp"
    for path in (old, fresh):
        path.write_bytes(b"x" * 1000)
    two_minutes_ago = time.time() - 120
    os.utime(old, (two_minutes_ago, two_minutes_ago))
    DiskTier(tmp_path / "cache", 10**6, CacheStats())
    assert not old.exists() and fresh.exists()


def test_writable_workers_without_a_disk_tier_are_refused(tmp_path: Path) -> None:
    """Several workers keep their memory tiers coherent through the disk tier; without one, a writable relay of
    several workers would serve stale copies, so it does not start."""
    mount = parse_mount(f"c/e/v=zarr://{tmp_path}/v.zarr")
    with pytest.raises(ConfigError, match="--cache-dir"):
        ServedChannel(mount, 0, memory=MemoryTier(10**6), disk=None, stats=CacheStats(), check_disk=True)
    ServedChannel(mount, 0, memory=MemoryTier(0), disk=None, stats=CacheStats(), check_disk=True)  # nothing cached


def test_a_damaged_saved_geometry_names_its_file(tmp_path: Path) -> None:
    """A relay whose upstream is away serves from the geometry it saved; damaged, that file is named in the error."""
    stats = CacheStats()
    disk = DiskTier(tmp_path / "cache", 10**6, stats)
    served = ServedChannel(parse_mount(f"c/e/v=zarr://{tmp_path}/gone.zarr"), 0, memory=MemoryTier(10**6), disk=disk,
                           stats=stats, check_disk=False)
    saved = disk.root / served.dirname / "geometry.json"
    saved.parent.mkdir(parents=True)
    for text, problem in (('{"dtype": "uint8", "ki', "not JSON"), ('{"dtype": "uint8"}', "levels"),
                          ("[1, 2]", "not a JSON object")):
        saved.write_text(text)
        with pytest.raises(MetadataError, match=re.escape(str(saved))) as caught:
            served.geometry()
        assert problem in str(caught.value)


@pytest.mark.parametrize("noisy", [True, False])
def test_the_client_checks_bodies_against_their_checksum(noisy: bool) -> None:
    """Both ways a blosc body is read (straight into the output when blosc stored it as it was, else decoded)."""
    array = em((4, 30, 40)) if noisy else np.zeros((4, 30, 40), np.uint8)
    body = encode(array, BLOSC)
    sent = {HEADER: f"{zlib.crc32(body):08x}"}
    out = np.empty(array.shape, np.uint8)
    np.testing.assert_array_equal(_read_blosc_into(_InMemory(body, sent), out), array)
    damaged = bytearray(body)
    damaged[-1] ^= 0x01
    with pytest.raises(TransientRemoteError, match="damaged on the way"):
        _read_blosc_into(_InMemory(bytes(damaged), sent), out)
    np.testing.assert_array_equal(_read_blosc_into(_InMemory(body), out), array)  # no header (a Boss): no check
