"""``mem://NAME``: volumes held in this process's memory.

For tests, demos and scratch results. Every scale level is one numpy array; chunks are only a grid the core cuts
requests along, so the chunked code paths run here exactly as they do for on-disk stores. Names may contain ``/``
to group volumes (``mem://experiment/raw``); ``intern.ls("mem://experiment")`` lists them.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Any, ClassVar

import numpy as np

from .._box import Box
from .._metadata import VolumeMetadata
from .._options import OptionSet
from .._registry import shared_remote
from .._traits import VolumeIO
from .._uri import URI
from ..errors import AlreadyExistsError, InvalidURIError, NotFoundError

__all__ = ["MemRemote", "MemVolume"]


class MemVolume:
    """A volume in memory: metadata and one array per scale level.

    Each write of a chunk gets a serial number, kept per chunk: they are the chunk stamps (``chunk_stamp``), with
    an id of this volume, so a volume made again under the same name never matches an older one's stamps.
    """

    #: the core cuts requests on the chunk grid, so the chunked paths run here as they do for stores on disk; reads
    #: are views of the level's array, which the core copies
    io: ClassVar[VolumeIO] = VolumeIO()

    def __init__(self, remote: MemRemote, name: str, metadata: VolumeMetadata) -> None:
        self._remote = remote
        self.name = name
        self.metadata = metadata
        self.levels = [np.zeros(level.shape, dtype=metadata.numpy_dtype) for level in metadata.scales]
        self.writable = True
        self._id = uuid.uuid4().hex
        self._serials = itertools.count(1)
        self._written: list[dict[tuple[int, ...], int]] = [{} for _ in metadata.scales]
        self._written_lock = threading.Lock()

    @property
    def uri(self) -> str:
        return f"mem://{self.name}"

    @property
    def remote(self) -> MemRemote:
        return self._remote

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        return self.levels[scale][box.to_slices()]

    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        self.levels[scale][box.to_slices()] = data
        index = tuple(a // c for a, c in zip(box.start, self.metadata.scales[scale].chunks, strict=True))
        with self._written_lock:  # the core writes chunks from several threads: one serial each, in order
            self._written[scale][index] = next(self._serials)

    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str:
        """This volume's id and the serial number of the last write of each chunk under ``box`` (0: never)."""
        chunks = self.metadata.scales[scale].chunks
        grid = itertools.product(*(range(a // c, -(-b // c)) for a, b, c in zip(box.start, box.stop, chunks, strict=True)))
        with self._written_lock:
            written = self._written[scale]
            return self._id + " " + " ".join(str(written.get(index, 0)) for index in grid)

    def __repr__(self) -> str:
        return f"<MemVolume {self.uri}>"


class _Memory:
    """The process's in-memory volumes by name. They outlive remotes: ``intern._registry.reload()`` gives a fresh
    remote, as it does for every scheme, and the volumes stay, as files stay for a fresh ``zarr://`` remote."""

    def __init__(self) -> None:
        self.volumes: dict[str, MemVolume] = {}
        self.lock = threading.Lock()  # protects every read and write of ``volumes``


_MEMORY = _Memory()


class MemRemote:
    """The in-memory datastore of this process (every ``mem://`` remote sees the same volumes)."""

    scheme: ClassVar[str] = "mem"
    declared_options: ClassVar[OptionSet] = OptionSet("mem")  # takes none

    def __init__(self) -> None:
        self._volumes = _MEMORY.volumes
        self._lock = _MEMORY.lock

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[MemRemote, str]:
        return shared_remote(cls.scheme, None, cls), uri.rest

    @staticmethod
    def _name(path: str) -> str:
        name = path.strip("/")
        if not name or any(part in ("", ".", "..") for part in name.split("/")):
            raise InvalidURIError(f"mem://{path} is not a valid name: use mem://NAME or mem://GROUP/NAME")
        return name

    def open(self, path: str, **options: Any) -> MemVolume:
        name = self._name(path)
        with self._lock:
            try:
                return self._volumes[name]
            except KeyError:
                known = ", ".join(sorted(self._volumes)) or "none"
                raise NotFoundError(f"mem://{name} does not exist in this process (volumes: {known}); "
                                    "make it with intern.create") from None

    def ls(self, path: str = "") -> list[str]:
        prefix = path.strip("/")
        prefix = prefix + "/" if prefix else ""
        with self._lock:
            if prefix and prefix[:-1] in self._volumes:
                return []
            children = {n[len(prefix):].split("/")[0] for n in self._volumes if n.startswith(prefix)}
        if prefix and not children:
            raise NotFoundError(f"mem://{path} does not exist in this process")
        return sorted(children)

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, **options: Any) -> MemVolume:
        name = self._name(path)
        with self._lock:
            if name in self._volumes:
                if exist_ok:
                    return self._volumes[name]
                raise AlreadyExistsError(f"mem://{name} exists already (pass exist_ok=True to open it)")
            vol = self._volumes[name] = MemVolume(self, name, metadata)
            return vol

    def delete(self, path: str) -> None:
        """Forget a volume (and free its memory)."""
        name = self._name(path)
        with self._lock:
            if self._volumes.pop(name, None) is None:
                raise NotFoundError(f"mem://{name} does not exist in this process")
