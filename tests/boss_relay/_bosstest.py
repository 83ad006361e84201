"""Helpers of intern-boss's tests: zarr volumes with known content, served by relays on loopback.

Relays run as real ``intern relay`` processes (uvicorn) on 127.0.0.1. The session shares two of them: ``lab`` is
writable and needs a token, ``public`` is anonymous and read-only. The client reads the relay's address, protocol and
token from ``INTERN_PROTOCOL``, ``INTERN_HOST`` and ``INTERN_TOKEN``, as users configure it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import requests

import intern
from intern_boss.relay import RelayProcess

__all__ = ["CONF_DTYPES", "CONF_SHAPE", "LAB_MOUNTS", "TOKEN", "FaultyProxy", "Lab", "build_lab", "em", "labels", "relay_env"]

TOKEN = "lab-token-123"
CONF_DTYPES = ("uint8", "uint16", "uint32", "uint64", "float32")
CONF_SHAPE = (20, 37, 45)


def em(shape: tuple[int, ...], seed: int = 0, dtype: str = "uint8") -> np.ndarray:
    """Deterministic content whose every voxel differs from its neighbours' (so misplaced blocks show)."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    hi = min(int(info.max), 2**40) if info else 1000
    return rng.integers(0, hi, shape, endpoint=True).astype(dtype)


def labels(shape: tuple[int, ...]) -> np.ndarray:
    """Blocky uint64 labels: 8x32x32 boxes numbered from 1, with a zero band."""
    z, y, x = np.indices(shape)
    out = (1 + (z // 8) * 10000 + (y // 32) * 100 + x // 32).astype(np.uint64)
    out[:, :, :8] = 0
    return out


def relay_env(tmp: Path) -> dict[str, str]:
    """Environment for relay processes: no user configuration, quick retries towards their upstreams."""
    return {"INTERN_CONFIG": str(tmp / "no-intern.cfg"), "INTERN_BOSSDB_RETRIES": "1",
            "INTERN_BOSSDB_BACKOFF": "0.05", "INTERN_BOSSDB_TIMEOUT": "20"}


@dataclass
class Lab:
    relay: RelayProcess
    root: Path
    data: dict[str, np.ndarray]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.relay.port}"

    def uri(self, path: str) -> str:
        return f"bossdb://{self.relay.url}/{path}"


def build_lab(root: Path) -> dict[str, np.ndarray]:
    data = {}
    for dtype in CONF_DTYPES:
        intern.create(f"zarr://{root}/conf-{dtype}.zarr", shape=CONF_SHAPE, dtype=dtype, chunks=(8, 16, 16),
                      voxel_size=(40, 8, 8))
    image = em((40, 700, 600), seed=1)
    a = intern.create(f"zarr://{root}/image.zarr", shape=image.shape, dtype="uint8", chunks=(16, 128, 128),
                      voxel_size=(40, 8, 8), scales=3, attributes={"stain": "osmium", "session": 7})
    a[...] = image
    for s in (1, 2):
        level = a.at_scale(s)
        level[...] = image[:, :: 2**s, :: 2**s][tuple(slice(0, n) for n in level.shape)]
    data["image"] = image
    seg = labels((40, 700, 600))
    b = intern.create(f"zarr://{root}/labels.zarr", shape=seg.shape, dtype="uint64", chunks=(16, 128, 128),
                      voxel_size=(40, 8, 8), kind="segmentation", scales=3)
    b[...] = seg
    data["labels"] = seg
    movie = em((3, 20, 40, 50), seed=2, dtype="uint16")
    c = intern.create(f"zarr://{root}/movie.zarr", shape=movie.shape, dtype="uint16", chunks=(1, 8, 16, 16),
                      voxel_size=(100, 50, 50), axes=("t", "z", "y", "x"))
    c[...] = movie
    data["movie"] = movie
    iso = em((40, 96, 80), seed=3)
    d = intern.create(f"zarr://{root}/iso.zarr", shape=iso.shape, dtype="uint8", chunks=(16, 32, 32),
                      voxel_size=(8, 8, 8), scales=2)
    d[...] = iso
    data["iso"] = iso
    scratch = em((24, 600, 530), seed=4)
    e = intern.create(f"zarr://{root}/scratch.zarr", shape=scratch.shape, dtype="uint8", chunks=(8, 64, 64),
                      voxel_size=(40, 8, 8))
    e[...] = scratch
    data["scratch"] = scratch
    # over the 520 MiB cutout limit as a whole, and never written: zarr stores no chunk of it
    intern.create(f"zarr://{root}/big.zarr", shape=(1024, 1024, 1024), dtype="uint8", chunks=(64, 256, 256))
    return data


LAB_MOUNTS = {
    **{f"kit/conf/conf-{d}": f"conf-{d}.zarr" for d in CONF_DTYPES},
    "lab/em/image": "image.zarr",
    "lab/em/labels": "labels.zarr",
    "lab/movie/frames": "movie.zarr",
    "lab/iso/image": "iso.zarr",
    "lab/scratch/image": "scratch.zarr",
    "lab/big/image": "big.zarr",
}


class FaultyProxy:
    """Forwards to ``target``; the first ``fail`` cutout requests get 503, the first ``stall`` wait ``stall_s``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fail = 0
        self.stall = 0
        self.stall_s = 0.0
        self.cutouts = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16  # headers and body leave in one write (no delayed-ACK stall between them)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if "/v1/cutout/" in self.path:
                    with proxy.lock:
                        proxy.cutouts += 1
                        fail = proxy.fail > 0
                        stall = proxy.stall > 0 and not fail
                        proxy.fail -= int(fail)
                        proxy.stall -= int(stall)
                    if fail:
                        body = b'{"status": 503, "code": 5000, "message": "busy"}'
                        self.send_response(503)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    if stall:
                        time.sleep(proxy.stall_s)
                try:
                    resp = requests.get(proxy.target + self.path, headers=dict(self.headers), timeout=30)
                except requests.RequestException:  # a stalled request answered after its test ended
                    self.send_error(502)
                    return
                self.send_response(resp.status_code)
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
