"""The chunk locks of :mod:`intern._locks`: which chunk a lock stands for, who shares it, and what it costs to keep."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import intern
from intern import _locks as locks
from intern._locks import LOCK_FILE, LevelLocks, level_locks

fcntl = pytest.importorskip("fcntl", reason="POSIX locks across processes exist only where fcntl does")

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from intern._locks import level_locks

    folder, signals = sys.argv[1], Path(sys.argv[2])
    with level_locks(("test",), (4, 4, 4), folder).hold((0, 1, 1)):
        (signals / "holding").touch()
        while not (signals / "release").exists():
            time.sleep(0.005)
""")


def _held_elsewhere(lock_file: Path, number: int) -> bool:
    """Whether another process holds the lock byte ``number`` (asked without waiting, from this process)."""
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, number)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, number)
        return False
    finally:
        os.close(fd)  # this process holds no lock on the file through intern._locks, so closing drops nothing


def test_a_chunk_lock_holds_against_other_processes_for_that_chunk_only(tmp_path: Path) -> None:
    folder, signals = tmp_path / "level", tmp_path / "signals"
    signals.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder), str(signals)], stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while not (signals / "holding").exists():
            assert holder.poll() is None, holder.communicate()[1]
            assert time.monotonic() < deadline, "the process holding the lock did not start"
            time.sleep(0.01)
        lock_file = folder / LOCK_FILE
        held = LevelLocks(("test",), (4, 4, 4)).index((0, 1, 1))
        assert held == 5
        assert _held_elsewhere(lock_file, held)
        assert not _held_elsewhere(lock_file, held + 1)
        assert not _held_elsewhere(lock_file, held - 1)
        (signals / "release").touch()
        holder.communicate(timeout=60)
        assert holder.returncode == 0
        assert not _held_elsewhere(lock_file, held)
        assert lock_file.stat().st_size == 0  # locks beyond the end: the file never holds anything
    finally:
        if holder.poll() is None:
            holder.kill()


def test_runs_of_chunks_are_few_for_large_boxes() -> None:
    grid = LevelLocks(("runs",), (4, 4, 4))
    # rows of two chunks on x, one run each: chunk numbers are (z * 4 + y) * 4 + x
    assert grid._runs((0, 0, 1), (2, 2, 3)) == [(1, 2), (5, 2), (17, 2), (21, 2)]
    # rows spanning the whole grid join up: a million chunks is one run, not a million locks
    assert LevelLocks(("runs",), (100, 100, 100))._runs((0, 0, 0), (100, 100, 100)) == [(0, 10**6)]


def test_a_large_write_takes_each_in_process_lock_once(tmp_path: Path) -> None:
    big = level_locks(("big",), (100, 100, 100), tmp_path)
    with big.hold((0, 0, 0), (100, 100, 100)):
        assert all(lock.locked() for lock in big._stripes.locks)
    assert not any(lock.locked() for lock in big._stripes.locks)


def test_every_path_to_a_level_directory_shares_its_locks(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    a = level_locks(("uri", "one"), (2, 2, 2), tmp_path / "data")
    b = level_locks(("uri", "other"), (2, 2, 2), tmp_path / "link")
    assert a.identity == b.identity
    assert a._stripes is b._stripes


def test_locks_kept_between_writes_are_bounded() -> None:
    volumes = [intern.create(f"mem://locks/kept{i}", shape=(8, 32, 32), dtype="uint8", chunks=(8, 8, 8))
               for i in range(3 * locks._RECENT_LEVELS)]
    for i, a in enumerate(volumes):
        a[:, 3, 3:5] = i
    gc.collect()
    # only the levels written last keep their locks between writes, however many were written
    assert len(locks._stripes) <= locks._RECENT_LEVELS
    assert [int(a[0, 3, 4]) for a in volumes] == list(range(len(volumes)))
