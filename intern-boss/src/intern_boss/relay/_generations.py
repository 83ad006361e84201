"""Write generations: what keeps every cached cuboid coherent with the writes made through the relay.

Every cuboid has a generation, a counter that a write through the relay raises after its data has reached the
upstream and before it is answered. A read notes the generation of each cuboid it is about to fetch, *before* the
fetch begins, and every copy it caches (in memory or on disk) carries that number. A copy is served only while its
number is still the cuboid's generation. Hence:

- a fetch begun before a write may hold the old data; the write has raised the number since, so its copy is never
  served, whenever it is stored (before or after the write dropped the cached copies), and the next read replaces it;
- a write through any worker raises the number in the table every worker shares, so all memory copies and the disk
  file go stale at once, with no message between workers;
- so, once a write has been answered, every later read through any worker returns its data or newer.

The table: cuboids are hashed to :data:`SLOTS` counters (two cuboids sharing one only cost an extra fetch). With a
disk tier it is the file ``generations`` in the cache directory, mapped into the memory of every worker. A read of a
counter is one aligned 8-byte load, which 64-bit machines make whole (it never sees half of a raise). A raise (read,
add one, write back) holds an ``fcntl`` lock on the file against other processes and a thread lock against the
process's other threads (``fcntl`` locks belong to a process, not a thread). The file begins with a random epoch that
disk files carry too: a table made afresh (deleted, or damaged) disowns every file cached under the one before.
Without a disk tier the table is the process's own memory, which is enough for one worker; several workers writing
through a relay need the disk tier (:class:`~intern_boss.relay._channel.ServedChannel` refuses otherwise).
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import threading
import zlib
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone (one worker)
    fcntl = None  # type: ignore[assignment]

__all__ = ["SLOTS", "Generations"]

SLOTS = 1 << 16
_HEAD = struct.Struct("<4sB3xQ")  # magic, version, epoch; the counters start at _START (8-byte aligned)
_MAGIC, _VERSION, _START = b"IBGN", 1, 64
_SIZE = _START + 8 * SLOTS
NAME = "generations"


class Generations:
    """The generation of every cuboid (by slot), shared by the workers through a file or private to one process."""

    def __init__(self, counts: np.ndarray, epoch: int, fd: int | None = None, keep: Any = None) -> None:
        self._counts = counts
        self.epoch = epoch
        self._fd = fd
        self._keep = keep  # the mapping under ``counts``, kept open as long as this object lives
        self._lock = threading.Lock()

    @classmethod
    def private(cls) -> Generations:
        """A table in this process's memory (a relay with no disk tier)."""
        return cls(np.zeros(SLOTS, np.uint64), 0)

    @classmethod
    def shared(cls, root: str | os.PathLike[str]) -> Generations:
        """The table of the cache directory ``root``, made when missing or damaged.

        Raises:
            OSError: the file cannot be made, read or mapped.
        """
        path = Path(root) / NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            with _locked(fd):  # against workers starting at the same time: one makes the file, the others map it
                head = os.pread(fd, _HEAD.size, 0)
                whole = os.fstat(fd).st_size == _SIZE and len(head) == _HEAD.size
                magic, version, epoch = _HEAD.unpack(head) if whole else (b"", 0, 0)
                if not whole or magic != _MAGIC or version != _VERSION:
                    epoch = secrets.randbits(63) | 1  # never 0, the epoch of private tables
                    os.ftruncate(fd, 0)
                    os.ftruncate(fd, _SIZE)
                    os.pwrite(fd, _HEAD.pack(_MAGIC, _VERSION, epoch), 0)
            mapped = mmap.mmap(fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        counts = np.frombuffer(mapped, np.uint64, SLOTS, _START)
        return cls(counts, epoch, fd, mapped)

    @staticmethod
    def slot(name: str) -> int:
        """The counter of the cuboid ``name`` (its path in the cache, the same in every process and run)."""
        return zlib.crc32(name.encode()) % SLOTS

    def current(self, slot: int) -> int:
        """The generation of ``slot`` now (one aligned load: no lock)."""
        return int(self._counts[slot])

    def advance(self, slots: Iterable[int]) -> None:
        """Raise the generation of ``slots``: every copy cached before is stale, in every worker."""
        # read-modify-write of shared counters: the thread lock against this process's threads, the file lock
        # against the other workers
        with self._lock, _locked(self._fd):
            for slot in set(slots):
                self._counts[slot] += np.uint64(1)


@contextmanager
def _locked(fd: int | None) -> Any:
    if fd is None or fcntl is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
