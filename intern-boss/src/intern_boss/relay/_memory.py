"""Giving the memory a relay worker freed back to the system, so that a long-running relay stays at a steady size.

Writes and unaligned reads allocate buffers of a few hundred KB to a few MB (request bodies, assembled cutouts, their
blosc encodings) and free them at once. glibc raises its threshold for serving such buffers from fresh mappings as
it meets them, so after a while they all come from the heap, whose free pages between live allocations are never
returned: under a sustained mix of writes and unaligned reads a worker's resident memory kept climbing (209 MB after
100 requests, 546 MB after 900, and still rising), although the relay itself held 13 MB.

Fixing the threshold instead (``MALLOC_MMAP_THRESHOLD_``) keeps the size flat but maps and faults in every large
buffer afresh, which made the same requests half again as slow. ``malloc_trim(0)`` returns the free pages of every
heap at once, in a few milliseconds; run from a thread a second after the relay last served a request, it keeps a
worker within a few tens of MB of its working set at no measurable cost to the requests. Other C libraries than
glibc keep their own policy: there the trimmer does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

__all__ = ["HeapTrimmer"]

log = logging.getLogger("intern.relay")


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this process already runs on
    except (OSError, AttributeError):  # not glibc
        return None


class HeapTrimmer:
    """A thread that trims the heaps ``every`` seconds while requests come in, and sleeps while none do.

    ``served()`` is called for every request (a plain attribute write, from the event loop); the thread reads and
    clears the flag. A request missed between the read and the clear only delays the next trim by one period, so the
    flag needs no lock.
    """

    def __init__(self, every: float) -> None:
        self.every = every
        self.trims = 0
        self._busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._trim = _malloc_trim() if every > 0 else None

    def served(self) -> None:
        self._busy = True

    def start(self) -> None:
        if self._trim is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, args=(self._trim,), name="intern-relay-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, trim: Callable[[int], int]) -> None:
        while not self._stop.wait(self.every):
            if not self._busy:
                continue
            self._busy = False
            try:
                trim(0)
                self.trims += 1
            except OSError as exc:  # pragma: no cover - malloc_trim does not fail; a broken binding might
                log.warning("malloc_trim failed (%s); the relay no longer trims its heaps", exc)
                return
