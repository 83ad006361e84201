"""The relay's resource limits under its real server, measured from outside its process (``/proc/<pid>/status``):

- memory stays bounded under a sustained mix of unaligned reads and writes, on the relay's side and the client's;
- a body is refused before it is read when the request may not write, or is longer than its box needs, and a
  compressed body is refused before it expands beyond its box;
- slow or idle connections are closed after the relay's timeouts and cannot lock other clients out.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import blosc
import numpy as np
import pytest
import requests
from _bosstest import TOKEN, em, relay_env

import intern
from intern_boss._wire import BLOSC, BLOSC_PYTHON, NPYGZ
from intern_boss.relay import RelayProcess

MiB = 2**20
AUTH = {"Authorization": f"Token {TOKEN}"}
NOISY = (48, 160, 1024)  # six 16x160x512 cuboids of voxels blosc cannot shrink: 1.25 MiB each, cached and sent as is
BIG = (512, 1024, 1024)  # never written: zarr stores no chunk of it, and large POSTs can name big boxes in it


def status_kib(pid: int, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> int:
    """Reset the peak RSS of ``pid`` (``clear_refs`` 5) and return its RSS in KiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_kib(pid, "VmRSS")


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("limits")
    noisy = em(NOISY, seed=7)
    intern.create(f"zarr://{root}/noisy.zarr", shape=NOISY, dtype="uint8", chunks=(16, 128, 128))[...] = noisy
    intern.create(f"zarr://{root}/big.zarr", shape=BIG, dtype="uint8", chunks=(64, 256, 256))
    return root, noisy


def _relay(root: Path, name: str, **kwargs: object) -> RelayProcess:
    mounts = {"mem/noisy/image": f"zarr://{root}/noisy.zarr", "mem/big/image": f"zarr://{root}/big.zarr"}
    return RelayProcess(mounts, cache_dir=root / f"cache-{name}", env=relay_env(root), log=root / f"{name}.log",
                        **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def writable(volumes: tuple[Path, np.ndarray]) -> Iterator[RelayProcess]:
    """A writable relay that needs a token."""
    with _relay(volumes[0], "writable", tokens=[TOKEN], writable=True) as relay:
        yield relay


@pytest.fixture(scope="module")
def readonly(volumes: tuple[Path, np.ndarray]) -> Iterator[RelayProcess]:
    """An anonymous, read-only relay."""
    with _relay(volumes[0], "readonly") as relay:
        yield relay


def test_memory_stays_bounded_under_unaligned_reads_and_writes(writable: RelayProcess,
                                                               volumes: tuple[Path, np.ndarray]) -> None:
    """Every unaligned read makes the relay decode the cached cuboids it crosses, and the client the blocks that are
    not whole rows of the result; every write makes the relay decode its body. A decoder that keeps each buffer it
    saw grows the relay by about 5 MiB per read here, the client by about 0.7 MiB."""
    a = intern.array(f"bossdb://{writable.url}/mem/noisy/image", token=TOKEN)
    expected = volumes[1].copy()
    rng = np.random.default_rng(3)
    relay_pid, start = writable.pid, {}
    for i in range(200):
        if i == 40:  # connections, threads, caches and buffers are all in place: growth from here is a leak
            start = {"relay": status_kib(relay_pid, "VmRSS"), "client": status_kib(os.getpid(), "VmRSS")}
        z0, y0, x0 = int(rng.integers(2, 30)), int(rng.integers(1, 10)), int(rng.integers(250, 400))
        box = (slice(z0, z0 + 16), slice(y0, y0 + 150), slice(x0, x0 + 300))  # across a face in z and one in x
        if i % 2:
            block = em((16, 150, 300), seed=i)
            a[box] = block
            expected[box] = block
        else:
            np.testing.assert_array_equal(a[box], expected[box])
    grown = {"relay": status_kib(relay_pid, "VmRSS") - start["relay"],
             "client": status_kib(os.getpid(), "VmRSS") - start["client"]}
    np.testing.assert_array_equal(a[...], expected)
    # without the leak: a few MiB on either side; with it, about 400 MiB for the relay and 55 MiB for the client
    assert grown["relay"] < 48 * 1024 and grown["client"] < 24 * 1024, f"RSS grew by {grown} KiB over 160 requests"


def test_a_sustained_load_leaves_the_relay_at_a_steady_size(tmp_path: Path) -> None:
    """Unaligned reads and writes make the relay allocate and free buffers of a few hundred KB to a few MB. glibc
    serves those from heaps whose free pages it keeps: without giving them back (``--trim-every 0``) this relay grew
    by about 40 MB over these 600 requests (the benchmark's relay, on smoother EM, by 300 MB), and kept growing;
    giving them back every second, by about 3 MB."""
    shape = (48, 512, 512)
    # smooth regions under grain noise, as EM: cuboids, bodies and answers compress to many sizes (noise alone would
    # not compress, and each buffer would have one of a few sizes that glibc reuses exactly)
    rng = np.random.default_rng(5)
    field = np.repeat(np.repeat(np.repeat(rng.standard_normal((12, 64, 64)), 4, 0), 8, 1), 8, 2)
    volume = np.clip(150 + 30 * np.tanh(field) + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)
    intern.create(f"zarr://{tmp_path}/v.zarr", shape=shape, dtype="uint8", chunks=(16, 128, 128))[...] = volume
    with RelayProcess({"mem/steady/image": f"zarr://{tmp_path}/v.zarr"}, cache_dir=tmp_path / "cache",
                      env=relay_env(tmp_path), log=tmp_path / "relay.log", tokens=[TOKEN], writable=True) as relay:
        a = intern.array(f"bossdb://{relay.url}/mem/steady/image", token=TOKEN)
        rng = np.random.default_rng(1)
        start = 0
        for i in range(700):
            if i == 100:  # connections, threads, caches and the heaps' working set are in place
                time.sleep(1.5)  # a trim is due a second after the last request
                start = status_kib(relay.pid, "VmRSS")
            z, y, x = int(rng.integers(1, 28)), int(rng.integers(1, 256)), int(rng.integers(1, 256))
            if i % 2:
                a[z:z + 16, y:y + 200, x:x + 200] = volume[z + 2:z + 18, x:x + 200, y:y + 200]
            else:
                a[z:z + 20, y:y + 256, x:x + 256]
        time.sleep(1.5)
        grown = status_kib(relay.pid, "VmRSS") - start
        trims = requests.get(f"{relay.url}/relay/stats", headers=AUTH, timeout=10).json()["heap_trims"]
    assert grown < 24 * 1024, f"the relay grew by {grown // 1024} MiB over 600 requests"
    assert trims > 0


class _RawPost:
    """A POST over a raw socket: the body is sent from a thread while the answer is read, so a relay that answers
    before reading the body is seen to do so (and one that reads it all first, to do that)."""

    def __init__(self, relay: RelayProcess, route: str, headers: dict[str, str], body: Iterator[bytes]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", relay.port), timeout=60)
        lines = [f"POST /v1/{route} HTTP/1.1", "Host: relay", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.sent = 0
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._send, args=(body,), daemon=True)
        self._sender.start()

    def _send(self, body: Iterator[bytes]) -> None:
        try:
            for chunk in body:
                if self._stop.is_set():
                    return
                self.sock.sendall(chunk)
                self.sent += len(chunk)
        except OSError:  # the relay answered and closed: what it should do with a body it refuses
            pass

    def answer(self) -> tuple[int, bytes]:
        """The status and body of the answer (the sender stops once it has come)."""
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        finally:
            self._stop.set()
            self.sock.close()
            self._sender.join(30)
        return int(head.split(b" ")[1]), rest


def _zeros(total: int, chunk: int = MiB) -> Iterator[bytes]:
    block = bytes(chunk)
    for start in range(0, total, chunk):
        yield block[:min(chunk, total - start)]


def _chunked(total: int, chunk: int = MiB) -> Iterator[bytes]:
    for piece in _zeros(total, chunk):
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("read-only", 403)])
def test_a_refused_writer_is_answered_before_its_body_is_read(writable: RelayProcess, readonly: RelayProcess,
                                                              who: str, status: int) -> None:
    relay = writable if who == "anonymous" else readonly
    size = 256 * MiB  # a 256-slice box of mem/big/image holds that much
    base = reset_peak(relay.pid)
    post = _RawPost(relay, "cutout/mem/big/image/0/0:1024/0:1024/0:256/",
                    {"Content-Type": BLOSC, "Content-Length": str(size + 16)}, _zeros(size + 16))
    got, body = post.answer()
    grown = status_kib(relay.pid, "VmHWM") - base
    assert got == status, body
    assert grown < 48 * 1024, f"the relay's peak RSS grew by {grown} KiB for a request it refused"
    assert post.sent < size, "the whole body went through before the answer"


def test_a_body_longer_than_its_box_needs_is_refused_unread(writable: RelayProcess) -> None:
    route = "cutout/mem/noisy/image/0/0:10/0:10/0:1/"  # 100 voxels
    resp = requests.post(f"{writable.url}/v1/{route}", data=bytes(MiB), timeout=30,
                         headers={**AUTH, "Content-Type": BLOSC})
    assert resp.status_code == 413 and resp.json()["code"] == 2000, resp.text
    base = reset_peak(writable.pid)
    post = _RawPost(writable, route, {**AUTH, "Content-Type": BLOSC, "Transfer-Encoding": "chunked"},
                    _chunked(256 * MiB))
    got, body = post.answer()
    grown = status_kib(writable.pid, "VmHWM") - base
    assert got == 413, body
    assert grown < 48 * 1024, f"the relay's peak RSS grew by {grown} KiB reading a chunked body it refused"


def _npygz_bomb(shape: tuple[int, ...]) -> bytes:
    """zlib-compressed ``.npy`` bytes of zeros of ``shape``, made piece by piece (a few hundred KiB)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    z = zlib.compressobj(9)
    parts = [z.compress(header.getvalue())]
    block = bytes(4 * MiB)
    for _ in range(int(np.prod(shape)) // len(block)):
        parts.append(z.compress(block))
    return b"".join(parts) + z.flush()


@pytest.mark.parametrize("fmt", [NPYGZ, BLOSC_PYTHON])
def test_a_compressed_body_is_not_expanded_beyond_its_box(writable: RelayProcess, fmt: str) -> None:
    """A few hundred KiB that expand to 256 MiB and more, sent for a 4 MiB box: refused without expanding them."""
    if fmt == NPYGZ:
        body = _npygz_bomb((256, 1024, 1024))
    else:
        body = blosc.pack_array(np.zeros((128, 1024, 1024), np.uint8), clevel=9)
    assert len(body) < 4 * MiB
    base = reset_peak(writable.pid)
    resp = requests.post(f"{writable.url}/v1/cutout/mem/big/image/0/0:512/0:512/0:16/", data=body, timeout=60,
                         headers={**AUTH, "Content-Type": fmt})
    grown = status_kib(writable.pid, "VmHWM") - base
    assert resp.status_code == 400 and resp.json()["code"] == 2002, resp.text
    assert grown < 48 * 1024, f"the relay's peak RSS grew by {grown} KiB expanding a body it refused"


@pytest.fixture
def guarded(volumes: tuple[Path, np.ndarray]) -> Iterator[RelayProcess]:
    """A relay with short timeouts and a small connection limit, in a process that may open only 128 files."""
    relay = _relay(volumes[0], "guarded", tokens=[TOKEN], writable=True, open_files=128,
                   args=["--header-timeout", "1", "--body-timeout", "1", "--max-connections", "40"])
    with relay:
        yield relay


def test_slow_connections_are_closed_and_cannot_lock_others_out(guarded: RelayProcess) -> None:
    """160 connections that stall (10 in their body, 150 in their headers), more than the relay may open files: a
    legitimate request is still answered, and every stalled connection is closed (408 for a stalled body)."""
    route = "/v1/cutout/mem/noisy/image/0/0:100/0:100/0:10/"  # a 100,000-byte body
    slow_bodies, slow_heads = [], []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", guarded.port), timeout=30)
        s.sendall(f"POST {route} HTTP/1.1\r\nHost: relay\r\nAuthorization: Token {TOKEN}\r\n"
                  f"Content-Type: {BLOSC}\r\nContent-Length: 100016\r\n\r\n".encode() + bytes(1000))
        slow_bodies.append(s)
    time.sleep(0.2)  # the body stallers are in before the crowd (still well within the timeouts)
    for _ in range(150):
        s = socket.create_connection(("127.0.0.1", guarded.port), timeout=30)
        s.sendall(b"GET /v1/collection/ HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
        slow_heads.append(s)
    answered = None
    for _ in range(100):  # a client that retries a 503 or a refused connection, as ours does
        try:
            resp = requests.get(f"{guarded.url}/v1/collection/", headers=AUTH, timeout=10)
        except requests.ConnectionError:
            resp = None
        if resp is not None and resp.status_code != 503:
            answered = resp
            break
        time.sleep(0.2)
    assert answered is not None and answered.status_code == 200 and answered.json() == {"collections": ["mem"]}
    for s in slow_bodies + slow_heads:
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:  # closed with our unread bytes in its buffer
            pass
        except TimeoutError:
            pytest.fail(f"a stalled connection is still open after 30 s (it received {data[:40]!r})")
        finally:
            s.close()
        if s in slow_bodies:
            assert data.startswith(b"HTTP/1.1 408"), data[:200]
