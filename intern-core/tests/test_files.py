"""intern._files.write_atomic: readers see a file whole or not at all, and failures leave nothing behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from intern._files import write_atomic


def test_writes_the_parts_and_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "info", b"head:", memoryview(b"body"), bytearray(b"!"))
    finally:
        os.umask(old)
    assert path == tmp_path / "info" and path.read_bytes() == b"head:body!"
    assert path.stat().st_mode & 0o777 == 0o644  # shared datasets: not mkstemp's owner-only 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["info"]


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "info", b"old")
    with pytest.raises(TypeError):
        write_atomic(path, b"new, half", "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["info"]
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "info", b"x")


def test_concurrent_writers_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "chunk"
    bodies = [bytes([i]) * 1_000_000 for i in range(8)]
    seen: list[bytes] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if path.exists():
                seen.append(path.read_bytes())

    watcher = threading.Thread(target=reader)
    watcher.start()
    writers = [threading.Thread(target=lambda b=b: [write_atomic(path, b) for _ in range(5)]) for b in bodies]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    watcher.join()
    assert path.read_bytes() in bodies
    assert seen and all(s in bodies for s in seen)  # never a mix, never a part
    assert [p.name for p in tmp_path.iterdir()] == ["chunk"]
