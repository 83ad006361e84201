"""The relay's cache tiers: an in-memory LRU of cuboids, then an on-disk cuboid store bounded by size.

Both tiers hold a cuboid as the blosc buffer the relay sends (so a request for exactly one cached cuboid is answered
without touching the voxels), with the CRC-32 of that buffer (sent with it, so a relay downstream can check what it
received) and the write generation the cuboid had when its fetch began (see :mod:`._generations`): a copy whose
generation is no longer the cuboid's is stale, never served, and replaced by the next read. A disk entry is one file::

    header (48 bytes): magic "IBCU", version, key length, epoch of the generation table, generation,
                       uncompressed size, payload size, CRC-32 of the payload
    key: the cuboid's name, ``CHANNEL-DIR/rRES/tT/Z_Y_X`` (what the file must hold, whatever its own name)
    payload: the blosc buffer

Files are written to a temporary name in the same directory and renamed into place, so a reader sees a whole file or
none. Every read checks the header, the key, the sizes and the CRC; a file that fails (truncated, corrupted, another
cuboid's, another version) is deleted and reported as a miss, so the cuboid is fetched again and never served damaged.
A temporary file a killed worker left behind is deleted by the next start-up or eviction scan once it is a minute old
(younger ones may be another worker's write under way).

The disk tier is shared by the worker processes of one relay. Its budget is kept by LRU: a hit refreshes the file's
modification time, and when the bytes written push the running total over the budget, one process at a time (an
``flock`` on ``.lock``) scans the directory and deletes the oldest files down to 90% of it.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from intern.plugin import write_atomic

from ._generations import NAME as _GENERATIONS
from ._generations import Generations

__all__ = ["CacheStats", "DiskTier", "MemoryTier"]

log = logging.getLogger("intern.relay")

_HEADER = struct.Struct("<4sBxHQQQQI4x")
_MAGIC = b"IBCU"
_VERSION = 2  # 1 had no key, epoch nor generation: such files are misses, replaced when their cuboid is read
_SUFFIX = ".cub"
_ORPHAN_AGE = 60.0  # seconds after which a temporary file is a killed writer's, not a write under way
_TOUCH_EVERY = 30.0  # seconds between LRU refreshes of a file kept hot by the memory tier


@dataclass
class CacheStats:
    """Counters of one process, for ``GET /relay/stats`` and the benchmarks."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    stale: int = 0
    discarded: int = 0
    evicted: int = 0
    orphans: int = 0
    upstream_reads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in vars(self).items() if k != "lock"}


@dataclass
class Entry:
    """A cached cuboid: its blosc buffer, that buffer's CRC-32, and the generation its fetch began at."""

    payload: bytes
    crc: int
    generation: int
    touched: float = field(default_factory=time.monotonic)


class MemoryTier:
    """An LRU of cuboid buffers bounded by their total size in bytes (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget = max(0, int(budget))
        self._items: OrderedDict[Hashable, Entry] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        if len(entry.payload) > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.payload)
            self._items[key] = entry
            self._size += len(entry.payload)
            while self._size > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.payload)

    def drop(self, key: Hashable, entry: Entry | None = None) -> None:
        """Forget ``key`` (only if it still holds ``entry``, when given: a newer copy stays)."""
        with self._lock:
            if entry is not None and self._items.get(key) is not entry:
                return
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.payload)

    @property
    def size(self) -> int:
        return self._size


class DiskTier:
    """Cuboid files under ``root``, verified on read, LRU-evicted beyond ``budget`` bytes.

    Attributes:
        generations: the write generations the workers share (the file ``generations`` in ``root``).
    """

    def __init__(self, root: str | os.PathLike[str], budget: int, stats: CacheStats) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.budget = int(budget)
        self.stats = stats
        self.generations = Generations.shared(self.root)
        self._lock = threading.Lock()
        self._estimate = sum(size for _, size, _ in self._files())
        if self._estimate > self.budget:
            self._evict()

    # -- paths ----------------------------------------------------------------------------------------------------
    def path(self, parts: tuple[str, ...]) -> Path:
        """The file of a cuboid named by path parts; refuses anything that would leave the cache directory."""
        for p in parts:
            if not p or p in (".", "..") or "/" in p or "\\" in p or "\0" in p:
                raise ValueError(f"cache path part {p!r} is not allowed")
        path = self.root.joinpath(*parts[:-1], parts[-1] + _SUFFIX)
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"cache path {path} leaves {self.root}")
        return path

    # -- entries --------------------------------------------------------------------------------------------------
    def read(self, path: Path, name: str, nbytes: int) -> Entry | None:
        """The entry of a whole, intact file of cuboid ``name`` holding ``nbytes`` uncompressed; ``None`` otherwise.

        A file of a stale generation is deleted and ``None`` returned.
        """
        try:
            with open(path, "rb") as f:
                head = f.read(_HEADER.size)
                key = f.read(_HEADER.unpack(head)[2] if len(head) == _HEADER.size else 0)
                payload = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache file %s cannot be read (%s); fetching the cuboid again", path, exc)
            self._discard(path)
            return None
        problem = _check(head, key, payload, name, nbytes, self.generations.epoch)
        if problem:
            log.warning("cache file %s is %s; discarded, fetching the cuboid again", path, problem)
            self._discard(path)
            return None
        _, _, _, _, generation, _, _, crc = _HEADER.unpack(head)
        if generation != self.generations.current(self.generations.slot(name)):
            self.stats.add(stale=1)  # fetched before a write: its replacement is on its way
            self.drop(path)
            return None
        self.touch(path)
        return Entry(payload, crc, generation)

    def write(self, path: Path, name: str, entry: Entry, nbytes: int) -> None:
        """Store ``entry`` as the file of cuboid ``name`` (atomically; a failure is logged, the entry not stored)."""
        key = name.encode()
        head = _HEADER.pack(_MAGIC, _VERSION, len(key), self.generations.epoch, entry.generation, nbytes,
                            len(entry.payload), entry.crc)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(path, head, key, entry.payload)
        except OSError as exc:
            log.warning("cannot write cache file %s (%s); serving without caching it", path, exc)
            return
        self._account(len(head) + len(key) + len(entry.payload))

    def drop(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    @staticmethod
    def touch_due(last: float) -> bool:
        """Whether a file the memory tier has kept hot since ``last`` should have its LRU time refreshed."""
        return time.monotonic() - last >= _TOUCH_EVERY

    def touch(self, path: Path) -> None:
        """Refresh a file's LRU time (a file that is gone is ignored)."""
        try:
            os.utime(path)
        except OSError:
            pass

    # -- budget ---------------------------------------------------------------------------------------------------

    def _discard(self, path: Path) -> None:
        self.stats.add(discarded=1)
        self.drop(path)

    def _files(self) -> list[tuple[float, int, str]]:
        """(mtime, size, path) of every cuboid file and of temporary files under way; orphaned ones are deleted."""
        found = []
        orphaned = time.time() - _ORPHAN_AGE
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                temporary = name.startswith(".") and name.endswith(".tmp")
                if not (temporary or name.endswith(_SUFFIX)) or name == _GENERATIONS:
                    continue
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                    if temporary and st.st_mtime < orphaned:  # write_atomic's file of a writer killed mid-write
                        os.unlink(full)
                        self.stats.add(orphans=1)
                        log.info("deleted %s, left behind by a relay stopped while writing it", full)
                        continue
                except FileNotFoundError:
                    continue
                if not temporary:
                    found.append((st.st_mtime, st.st_size, full))
        return found

    def _account(self, added: int) -> None:
        with self._lock:
            self._estimate += added
            over = self._estimate > self.budget
        if over:
            self._evict()

    def _evict(self) -> None:
        """Delete the least recently used files down to 90% of the budget (one process at a time)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: the in-process lock alone
            fcntl = None  # type: ignore[assignment]
        with open(self.root / ".lock", "a+") as lock:
            if fcntl is not None:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another worker is evicting; it brings the total down for everyone
            files = sorted(self._files())
            total = sum(size for _, size, _ in files)
            target = int(self.budget * 0.9)
            removed = 0
            for _, size, full in files:
                if total <= target:
                    break
                try:
                    os.unlink(full)
                except FileNotFoundError:
                    pass
                total -= size
                removed += 1
            with self._lock:
                self._estimate = total
        if removed:
            self.stats.add(evicted=removed)


def _check(head: bytes, key: bytes, payload: bytes, name: str, nbytes: int, epoch: int) -> str | None:
    if len(head) != _HEADER.size:
        return "truncated (no whole header)"
    magic, version, _, file_epoch, _, stored_nbytes, length, crc = _HEADER.unpack(head)
    if magic != _MAGIC or version != _VERSION:
        return "not a cuboid file of this relay version"
    if key != name.encode():
        return f"the file of cuboid {key.decode(errors='replace')!r}, not of {name!r}"
    if file_epoch != epoch:
        return "from before the generation table was made afresh"
    if length != len(payload):
        return f"truncated ({len(payload)} of {length} payload bytes)"
    if stored_nbytes != nbytes:
        return f"for {stored_nbytes} bytes where the cuboid has {nbytes}"
    if zlib.crc32(payload) != crc:
        return "corrupted (checksum mismatch)"
    return None
