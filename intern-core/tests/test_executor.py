"""The thread pool under chunked work: a caller never waits for pool threads that may be waiting for it."""

from __future__ import annotations

import threading

import pytest

from intern import _executor as executor
from intern._executor import run_parallel


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INTERN_MAX_WORKERS", "2")
    executor.shutdown()  # the next call sizes the pool from the setting
    yield
    executor.shutdown()


def test_a_fan_out_finishes_while_every_pool_thread_waits_for_its_caller(two_threads: None) -> None:
    # A writer holding a chunk's lock fans its work out (a driver uploading blocks in parallel) while every pool
    # thread runs another writer's chunk, waiting for that lock: the fan-out must not wait for a free pool thread.
    lock_held_by_caller = threading.Lock()
    lock_held_by_caller.acquire()
    pool_threads_waiting = threading.Semaphore(0)

    def other_writer_chunk(_: int) -> None:
        if threading.current_thread().name.startswith("intern-io"):
            pool_threads_waiting.release()
        with lock_held_by_caller:
            pass

    other = threading.Thread(target=run_parallel, args=(other_writer_chunk, range(3)))
    other.start()
    for _ in range(2):
        pool_threads_waiting.acquire()
    result: list[list[int]] = []
    fan_out = threading.Thread(target=lambda: result.append(run_parallel(lambda i: i * 2, range(5))))
    fan_out.start()
    fan_out.join(timeout=30)  # a hang detector, not a measurement: the work itself takes microseconds
    finished = not fan_out.is_alive()
    lock_held_by_caller.release()
    fan_out.join()
    other.join()
    assert finished, "the fan-out waited for pool threads that were waiting for its caller"
    assert result == [[0, 2, 4, 6, 8]]


def test_the_first_error_stops_the_rest_and_is_raised(two_threads: None) -> None:
    done: list[int] = []

    def work(i: int) -> None:
        if i == 3:
            raise ValueError("chunk 3 failed")
        done.append(i)

    with pytest.raises(ValueError, match="chunk 3"):
        run_parallel(work, range(200))
    assert len(done) < 199
