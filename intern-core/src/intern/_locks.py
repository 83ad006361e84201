"""Chunk locks: writers of one chunk take turns, so a read-modify-write never drops another writer's voxels.

A write that covers a chunk only in part reads the chunk, merges the new voxels in and writes the chunk back. Two
writers doing that to one chunk at once each write back the chunk as *they* read it, and the one that writes last
drops the other's voxels. :func:`level_locks` gives the guard the core holds around every chunk write
(:func:`intern._io.write_box`):

- **within a process**, always: one lock per chunk of a level, shared by every handle on the same store. Locks are
  striped (a fixed number per level, a chunk's lock chosen by its index), so memory stays bounded however many
  chunks a write covers, neighbouring chunks still write in parallel, and two levels or volumes never share a lock.
  A level's stripes live while a writer uses them, and those of the last few levels written a while longer.
- **across processes**, where the driver says the level is stored in a local (or mounted) directory
  (:class:`intern._traits.LevelStorage`): a POSIX ``fcntl`` lock on one byte per chunk of an empty lock file,
  ``.intern-chunk-locks``, in that directory. Every process that writes the level through intern opens the same
  file, the kernel releases a dead process's locks, and the file goes wherever the data goes. Its byte ``i`` stands
  for the chunk whose index on the level's chunk grid, counted in C order, is ``i``; the file stays empty.

POSIX locks belong to a process, not to a thread or a file descriptor, and closing *any* descriptor of the file
drops all of them. So a thread first takes the in-process lock of the chunk (no other thread of this process can
then touch that byte), each lock file is opened once per process and kept open while any lock on it is held, and a
process never opens a second descriptor on it.

Locks are taken in increasing chunk order, in-process ones first, so writers that need several chunks cannot
deadlock. On file systems without POSIX locks only the in-process locks hold (a warning says so), and on Windows,
which has no ``fcntl``, too.
"""

from __future__ import annotations

import errno
import itertools
import os
import random
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import PermissionDeniedError

__all__ = ["LOCK_FILE", "LevelLocks", "level_locks"]

LOCK_FILE = ".intern-chunk-locks"
"""The lock file's name in a level's directory: hidden, empty, and named so nobody mistakes it for data."""

_STRIPES = 64  # in-process locks per level: more than the threads writing at once (32 at most), a few KiB a level
_RECENT_LEVELS = 16  # levels whose locks are kept between writes, so a run of small writes does not remake them
_MAX_IDLE_FILES = 64  # lock files kept open without a lock held, before the first opened of them are closed

try:
    import fcntl
except ImportError:  # Windows: in-process locks only
    fcntl = None  # type: ignore[assignment]


# -- within a process ------------------------------------------------------------------------------------------
class _Stripes:
    """The in-process locks of one level; chunk ``i`` takes lock ``i % _STRIPES``."""

    __slots__ = ("locks", "__weakref__")

    def __init__(self) -> None:
        self.locks = [threading.Lock() for _ in range(_STRIPES)]


# level identity -> its stripes, while some writer holds a reference (a WeakValueDictionary: bounded by the levels
# being written), and the stripes of the levels written last, kept alive by _recent. Both are protected by
# _stripes_lock, which is held only to look up or add an entry, never during I/O.
_stripes: weakref.WeakValueDictionary[Any, _Stripes] = weakref.WeakValueDictionary()
_recent: OrderedDict[Any, _Stripes] = OrderedDict()
_stripes_lock = threading.Lock()


def _stripes_for(identity: Any) -> _Stripes:
    with _stripes_lock:
        stripes = _stripes.get(identity)
        if stripes is None:
            stripes = _stripes[identity] = _Stripes()
        _recent[identity] = stripes
        _recent.move_to_end(identity)
        if len(_recent) > _RECENT_LEVELS:
            _recent.popitem(last=False)
        return stripes


# -- across processes ------------------------------------------------------------------------------------------
class _LockFile:
    """One open lock file of this process. ``holders`` counts threads holding locks through it (under _files_lock)."""

    __slots__ = ("path", "fd", "holders", "usable")

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.holders = 0
        self.usable = True  # False once the file system refused a lock: in-process locks only from then on


# (st_dev, st_ino) of a lock file -> its one descriptor in this process. A file is keyed by what it is, not by the
# path that reached it, so a symlink or a second mount of the same directory finds the same descriptor (a second
# descriptor closed would drop this process's locks). Protected by _files_lock, held only for the table and counts.
_files: dict[tuple[int, int], _LockFile] = {}
_files_lock = threading.Lock()


def _open_lock_file(directory: str) -> _LockFile:
    """The lock file of ``directory`` (made, with the directory, when missing), with one more holder counted."""
    path = os.path.join(directory, LOCK_FILE)
    with _files_lock:
        try:
            st = os.stat(path)
            known = _files.get((st.st_dev, st.st_ino))
        except FileNotFoundError:
            known = None
        if known is None:
            try:
                os.makedirs(directory, exist_ok=True)
                # 0o666 less the umask, as for the data beside it: every user who may write the data may lock it
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise
                raise _refused(path, exc) from exc
            st = os.fstat(fd)
            known = _files.get((st.st_dev, st.st_ino))
            if known is None:
                known = _files[(st.st_dev, st.st_ino)] = _LockFile(path, fd)
                _close_idle()
            # else: the file appeared between stat and open, and is known after all. The new descriptor stays open,
            # unused: closing it would drop the locks this process holds through the known one.
        known.holders += 1
        return known


def _refused(path: str, exc: OSError) -> PermissionDeniedError:
    """The error for a lock file this process may not open for writing; nothing has been written yet."""
    if os.path.exists(path):
        return PermissionDeniedError(
            f"cannot open the chunk lock file {path} for writing ({exc.strerror}): make it writable for everyone who "
            "writes this volume (chmod g+w), or remove it while nobody writes; nothing was written")
    return PermissionDeniedError(
        f"cannot write in {os.path.dirname(path)} ({exc.strerror}), where this volume's chunks and their lock file "
        "go: check the folder's permissions, or open the volume read-only; nothing was written")


def _close_idle() -> None:
    """Close lock files nobody holds, oldest first, beyond ``_MAX_IDLE_FILES`` (call with _files_lock held)."""
    idle = [key for key, f in _files.items() if f.holders == 0]
    for key in idle[:max(0, len(idle) - _MAX_IDLE_FILES)]:
        os.close(_files.pop(key).fd)  # nobody holds a lock through it, so closing drops nothing


def _release_lock_file(lock_file: _LockFile) -> None:
    with _files_lock:
        lock_file.holders -= 1


def _lock_range(lock_file: _LockFile, start: int, count: int) -> bool:
    """Take the write lock on bytes ``start`` to ``start + count``; False when the file system has no locks."""
    while True:
        try:
            fcntl.lockf(lock_file.fd, fcntl.LOCK_EX, count, start)
            return True
        except OSError as exc:
            if exc.errno == errno.EDEADLK:
                # The kernel sees a deadlock between *processes*: process A waits for B while a thread of B waits
                # for another thread of A. Threads here never wait holding a lock the other needs (locks go in
                # chunk order), so it is a false alarm; wait a moment and ask again.
                time.sleep(random.uniform(0.001, 0.01))
                continue
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                warnings.warn(f"the file system of {lock_file.path} has no POSIX locks ({exc.strerror}): writers "
                              "in other processes are not kept from losing each other's voxels in shared chunks; "
                              "give each process whole chunks", RuntimeWarning, stacklevel=4)
                lock_file.usable = False
                return False
            raise


def _unlock_range(lock_file: _LockFile, start: int, count: int) -> None:
    fcntl.lockf(lock_file.fd, fcntl.LOCK_UN, count, start)


# -- one level -------------------------------------------------------------------------------------------------
class LevelLocks:
    """The locks of the chunks of one scale level of one volume (see the module's description).

    Args:
        identity: what the level is, the same for every handle on it (hashable).
        grid: chunks per axis of the level, to number chunks.
        directory: the level's local directory, where the lock file goes; None for in-process locks only.
    """

    def __init__(self, identity: Any, grid: Sequence[int], directory: str | None = None) -> None:
        self.identity = identity
        self.grid = tuple(int(n) for n in grid)
        self.directory = directory
        self._stripes = _stripes_for(identity)  # held for this object's life: the stripes outlive every writer

    def index(self, chunk: Sequence[int]) -> int:
        """The number of the chunk at grid position ``chunk`` (C order): its lock byte in the lock file."""
        number = 0
        for i, n in zip(chunk, self.grid, strict=True):
            number = number * n + int(i)
        return number

    def _runs(self, lo: Sequence[int], hi: Sequence[int]) -> list[tuple[int, int]]:
        """The chunks from grid position ``lo`` to ``hi`` (exclusive) as runs of consecutive numbers (first, count),
        in increasing order, without listing every chunk: a write of a million chunks makes a few thousand runs."""
        runs: list[tuple[int, int]] = []
        width = hi[-1] - lo[-1]
        for lead in itertools.product(*(range(a, b) for a, b in zip(lo[:-1], hi[:-1], strict=True))):
            first = self.index((*lead, lo[-1]))
            if runs and runs[-1][0] + runs[-1][1] == first:  # rows spanning the whole grid join up
                runs[-1] = (runs[-1][0], runs[-1][1] + width)
            else:
                runs.append((first, width))
        return runs

    @contextmanager
    def hold(self, lo: Sequence[int], hi: Sequence[int] | None = None) -> Iterator[None]:
        """Hold the locks of the chunks from grid position ``lo`` to ``hi`` (exclusive; default: the one chunk at
        ``lo``) for the duration of a ``with`` block."""
        hi = tuple(a + 1 for a in lo) if hi is None else tuple(hi)
        if any(b <= a for a, b in zip(lo, hi, strict=True)):
            yield
            return
        runs = self._runs(tuple(lo), hi)
        stripes: set[int] = set()
        for first, count in runs:
            stripes.update(n % _STRIPES for n in range(first, first + min(count, _STRIPES)))
            if len(stripes) == _STRIPES:
                break
        taken: list[threading.Lock] = []
        lock_file: _LockFile | None = None
        locked: list[tuple[int, int]] = []
        try:
            for s in sorted(stripes):  # in increasing order: writers needing overlapping stripes cannot deadlock
                lock = self._stripes.locks[s]
                lock.acquire()
                taken.append(lock)
            if self.directory is not None and fcntl is not None:
                lock_file = _open_lock_file(self.directory)
                for first, count in runs:  # in increasing order too, for the same reason between processes
                    if not lock_file.usable or not _lock_range(lock_file, first, count):
                        break
                    locked.append((first, count))
            yield
        finally:
            if lock_file is not None:
                for first, count in locked:
                    _unlock_range(lock_file, first, count)
                _release_lock_file(lock_file)
            for lock in reversed(taken):
                lock.release()


def level_locks(identity: Any, grid: Sequence[int], directory: str | os.PathLike[str] | None = None, *,
                lock_file: bool = True) -> LevelLocks:
    """The locks of one level (see :class:`LevelLocks`).

    Args:
        identity: what the level is when it has no local directory (its URI and scale, say).
        grid: chunks per axis of the level.
        directory: the level's local directory, or None. A directory is identified by what it is (device and
            inode) instead of ``identity``, so every path to it, through symlinks or other mounts, shares the locks.
        lock_file: False where the backend commits chunks atomically across processes by itself: in-process locks
            only, still keyed by the directory.
    """
    if directory is None:
        return LevelLocks(identity, grid)
    directory = os.fspath(directory)
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)  # a level's first write makes its directory anyway
        st = os.stat(directory)
    return LevelLocks(("dir", st.st_dev, st.st_ino), grid, directory if lock_file else None)


def _after_fork_in_child() -> None:
    # A forked child holds none of its parent's locks: locks other threads of the parent held at the fork would
    # never be released here, and the parent's POSIX locks are not inherited. Start afresh (descriptors inherited
    # are left open, unused; closing one could not hurt the parent, but nothing needs it).
    global _stripes, _recent, _stripes_lock, _files, _files_lock
    _stripes = weakref.WeakValueDictionary()
    _recent = OrderedDict()
    _stripes_lock = threading.Lock()
    _files = {}
    _files_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
