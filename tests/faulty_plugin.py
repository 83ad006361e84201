"""A test driver, ``faulty://MODE/PATH.zarr``: a real Zarr volume behind a remote that misbehaves as told.

``faulty://MODE/URI`` (``faulty://broken/precomputed://s3://bucket/em``) wraps any other volume the same way.

Modes: ``slow`` (each read sleeps), ``flaky`` (the first two reads of every box fail transiently), ``broken`` (reads
at z >= 32 fail for good unless ``FAULTY_FIXED=1``), ``lossy`` (writes flip a voxel). Registered in a process with
``intern._registry.register(faulty_plugin, name="faulty")``; the subprocess tests do the same.

Chunk stamps are the Zarr volume's own; with ``FAULTY_NO_STAMPS=1`` the volume says it cannot tell (``None``), as a
store without modification stamps does.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

import intern
from intern._hookspecs import SchemeSpec, hookimpl
from intern._traits import SupportsChunkStamps
from intern.errors import RemoteError, TransientRemoteError

_attempts: dict[tuple, int] = {}
_lock = threading.Lock()


@hookimpl
def intern_schemes():
    return [SchemeSpec("faulty", "faulty_plugin:FaultyRemote.from_uri")]


class FaultyVolume:
    def __init__(self, remote, mode: str, path: str) -> None:
        self._remote, self.mode, self.path = remote, mode, path
        self.inner = intern.open(path[1:] if "://" in path else f"zarr://{path}")
        self.metadata = self.inner.metadata
        self.io = self.inner.io  # the wrapped volume takes requests as it declares

    @property
    def uri(self) -> str:
        return f"faulty://{self.mode}{self.path}"

    @property
    def remote(self):
        return self._remote

    @property
    def writable(self) -> bool:
        return self.inner.writable

    def read(self, box, *, scale=0):
        if self.mode == "slow":
            time.sleep(0.02)
        if self.mode == "flaky":
            with _lock:
                n = _attempts[(self.path, box)] = _attempts.get((self.path, box), 0) + 1
            if n <= 2:
                raise TransientRemoteError("503 Service Unavailable (injected)", 503, "throttled")
        if self.mode == "broken" and box.start[-3] >= 32 and os.environ.get("FAULTY_FIXED") != "1":
            raise RemoteError("500 Internal Server Error (injected)", 500, "disk on fire")
        return self.inner.read(box, scale=scale)

    def chunk_stamp(self, box, *, scale=0):
        if os.environ.get("FAULTY_NO_STAMPS") == "1":
            return None
        if not isinstance(self.inner, SupportsChunkStamps):
            return None
        return self.inner.chunk_stamp(box, scale=scale)

    def write(self, box, data, *, scale=0):
        if self.mode == "lossy":
            data = data.copy()
            data.flat[0] ^= 1
        self.inner.write(box, np.ascontiguousarray(data), scale=scale)


class FaultyRemote:
    scheme = "faulty"

    @classmethod
    def from_uri(cls, uri):
        return cls(), uri.rest

    def open(self, path, **options):
        mode, _, rest = path.partition("/")
        return FaultyVolume(self, mode, "/" + rest)

    def ls(self, path=""):
        return []
