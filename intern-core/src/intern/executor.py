"""The parallel executor for chunked work on one machine.

One thread pool per process, sized by :func:`intern.config.max_workers`. Threads suit the work: chunk I/O waits on
disks and sockets, and the codecs drivers use (blosc, zstd, gzip, lz4) release the GIL while they run.

Work submitted from inside a pool thread runs inline in that thread, so a task that itself fans out (a write that
reads its edge chunks back) cannot deadlock the pool by waiting for threads it occupies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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

    The first exception cancels the tasks not yet started and is raised after the running ones finish, so no
    thread is still writing into a caller's buffer when this returns. ``progress(n)`` is called as tasks finish.
    A single item, or a call from inside a pool thread, runs inline.
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
    if len(items) > 4 * _pool_size:
        # many small items (chunks of a cutout): a few batches per thread, so a future costs once per batch
        return _run_batched(fn, items, pool, progress)
    futures: list[Future[R]] = [pool.submit(fn, item) for item in items]
    try:
        if progress is None:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        else:
            done = set()
            for fut in _as_completed(futures):
                done.add(fut)
                progress(1)
                if fut.exception() is not None:
                    break
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        wait(futures)
        raise


def _run_batched(fn: Callable[[T], R], items: list[T], pool: ThreadPoolExecutor,
                 progress: Callable[[int], None] | None) -> list[R]:
    n = 2 * _pool_size
    batches = [items[i::n] for i in range(n)]  # interleaved: neighbouring chunks go to different threads
    stop = threading.Event()

    def run(batch: list[T]) -> list[R]:
        out = []
        for item in batch:
            if stop.is_set():
                break
            out.append(fn(item))
            if progress:
                progress(1)
        return out

    futures = [pool.submit(run, b) for b in batches]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and f.exception() is not None]
        if failed:
            stop.set()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        results = [f.result() for f in futures]
    except BaseException:
        stop.set()
        wait(futures)
        raise
    ordered: list[R] = [None] * len(items)  # type: ignore[list-item]
    for i, res in enumerate(results):
        ordered[i::n] = res
    return ordered


def _as_completed(futures: list[Future[R]]) -> Iterator[Future[R]]:
    from concurrent.futures import as_completed

    return as_completed(futures)


def shutdown() -> None:
    """Stop the pool's threads; the next parallel call starts a pool sized from the configuration again."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
