"""The parallel executor for chunked work on one machine.

One thread pool per process, sized by :func:`intern.config.max_workers`. Threads suit the work: chunk I/O waits on
disks and sockets, and the codecs drivers use (blosc, zstd, gzip, lz4) release the GIL while they run.

Work submitted from inside a pool thread runs inline in that thread, so a task that itself fans out (a write that
reads its edge chunks back) cannot deadlock the pool by waiting for threads it occupies; and a caller outside the
pool works through its own items beside the pool threads, so it never waits for a free one.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from . import config

__all__ = ["run_parallel", "shutdown"]

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_local = threading.local()


def _mark_worker() -> None:
    _local.in_pool = True


def _get_pool() -> ThreadPoolExecutor:
    # sized once from the configuration; shutdown() makes the next call read it again
    global _pool, _pool_size
    if _pool is not None:
        return _pool
    with _lock:
        if _pool is None:
            _pool_size = config.max_workers()
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="intern-io", initializer=_mark_worker)
        return _pool


def run_parallel(fn: Callable[[T], R], items: Iterable[T], *, progress: Callable[[int], None] | None = None) -> list[R]:
    """Call ``fn`` on every item, in parallel, and return the results in the items' order.

    The calling thread works through the items too, beside up to one pool thread per remaining item: each thread
    takes the next item not yet taken. So the call finishes even when every pool thread is busy, or waiting for
    something the caller holds (a chunk lock: see :mod:`intern._locks`); neighbouring items (chunks) go to different
    threads, and a region of slow items is shared among them.

    The first exception stops the items not yet started and is raised after the running ones finish, so no
    thread is still writing into a caller's buffer when this returns. ``progress(n)`` is called as items finish,
    from the thread that ran them. A single item, or a call from inside a pool thread, runs inline.
    """
    items = list(items)
    if len(items) <= 1 or getattr(_local, "in_pool", False):
        out = []
        for item in items:
            out.append(fn(item))
            if progress:
                progress(1)
        return out
    pool = _get_pool()
    results: list[R] = [None] * len(items)  # type: ignore[list-item]
    errors: list[BaseException] = []
    taken = itertools.count()
    taking = threading.Lock()  # makes taking the next index atomic without relying on the GIL
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with taking:
                i = next(taken)
            if i >= len(items):
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # noqa: BLE001 - raised in the caller below
                errors.append(exc)
                stop.set()
                return
            if progress:
                progress(1)

    helpers = [pool.submit(work) for _ in range(min(_pool_size, len(items) - 1))]
    try:
        work()
    finally:
        if errors or sys.exc_info()[0] is not None:
            stop.set()
        # a helper not started yet has nothing left to take: cancel it rather than wait for a thread to run it
        wait([helper for helper in helpers if not helper.cancel()])
    if errors:
        raise errors[0]
    return results


def shutdown() -> None:
    """Stop the pool's threads; the next parallel call starts a pool sized from the configuration again."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
