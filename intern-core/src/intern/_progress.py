"""A small progress bar on stderr for long work (no dependency; silent when stderr is not a terminal).

Drivers and services use it for their CLI commands: give the work a ``progress`` callback and pass ``bar.update``::

    from intern._progress import Progress

    with Progress(total=len(tasks), label="mesh") as bar:
        run(tasks, progress=bar.update)
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Counts finished units of work and redraws one line at most ten times a second.

    >>> with Progress(total=3, label="chunks", enabled=False) as p:
    ...     p.update(3)
    """

    def __init__(self, *, total: int | None, label: str = "", unit_bytes: int = 0, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.total = max(total, 0) if total is not None else None  # None: unknown, count without a bar
        self.label = label
        self.unit_bytes = unit_bytes
        self.stream = stream if stream is not None else sys.stderr  # looked up now: tests and notebooks swap it
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.done = 0
        self._start = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.perf_counter()
            if self.enabled and (now - self._last > 0.1 or (self.total is not None and self.done >= self.total)):
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        if self.total is None:
            self.stream.write(f"\r{self.label} {self.done} done, {self.done / elapsed:.1f}/s")
            self.stream.flush()
            return
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * 30)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        speed = f" {self.done * self.unit_bytes / elapsed / 1e6:7.1f} MB/s" if self.unit_bytes else ""
        self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total}{speed} ETA {eta:5.1f}s")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, AttributeError):  # closed or not a real file
        return False
