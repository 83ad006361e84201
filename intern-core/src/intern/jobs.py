"""Running many independent chunk jobs: on threads here, or on a Dask cluster, with the same call.

Copies, and the meshing and downsampling of large volumes, are lists of jobs that each touch their own chunks.
:func:`run_jobs` runs such a list with retries of transient failures, a progress bar, and a callback as each job
finishes (where a journal records it). Where the jobs run is configuration, not code:

- ``scheduler=None`` (and no ``INTERN_SCHEDULER``): a thread pool of ``workers`` threads in this process;
- ``scheduler="local"``: a ``dask.distributed.LocalCluster`` of ``workers`` processes, started and stopped here;
- ``scheduler="tcp://host:8786"``: an existing Dask cluster.

On Dask, the job function and its items travel by pickle, so they must be plain data and module-level functions:
drivers' objects are reopened by URI on the workers.

A worker process that runs these jobs keeps the memory it frees for its next job (see :func:`_keep_freed_memory`):
Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc hand every buffer of a few hundred KiB
and up back to the system and fault it in again, page by page, for the next chunk; on chunk jobs that doubled the
time of a copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Generic, TypeVar

from . import config
from .errors import InvalidArgumentError, RemoteError, TransientRemoteError

__all__ = ["JobFailure", "JobStats", "job_threads", "local_cluster", "run_jobs"]

T = TypeVar("T")
R = TypeVar("R")

#: errors worth another try: the datastore said so, or the network dropped (unless a client already retried them)
RETRYABLE: tuple[type[BaseException], ...] = (TransientRemoteError, ConnectionError, TimeoutError)


def _retried_already(exc: BaseException) -> bool:
    """Whether a client spent its retry policy on ``exc`` already (:attr:`RemoteError.attempts` is set).

    Retrying the job would multiply the policy's tries: a unit against a dead server would cost the client's
    attempts times the runner's, each with its waits, before the copy reports it.
    """
    return isinstance(exc, RemoteError) and exc.attempts is not None


@dataclass
class JobFailure(Generic[T]):
    item: T
    error: BaseException


@dataclass
class JobStats:
    """What a run did: jobs done, retries spent, failures (empty when all succeeded), wall time."""

    done: int = 0
    retried: int = 0
    failures: list[JobFailure[Any]] = field(default_factory=list)
    not_started: list[Any] = field(default_factory=list)
    seconds: float = 0.0


_MMAP_THRESHOLD = 64 << 20  # buffers up to a unit of work come from the heap, not from fresh mmaps
_TRIM_THRESHOLD = 256 << 20  # and what a job frees stays for the next, up to a few units
_tuned = False
_tune_lock = threading.Lock()


def _keep_freed_memory() -> bool:
    """Let glibc keep freed memory in this process for reuse; True when it did (once per process).

    Only called in Dask workers, never in the caller's process: a worker's chunk jobs allocate and free buffers of
    the same sizes over and over, and with Dask's default trim threshold each of them is returned to the system and
    faulted in again (zeroed page by page). Raising the mmap and trim thresholds bounds what a worker keeps to a few
    hundred MiB. Other C libraries are left as they are.
    """
    global _tuned
    with _tune_lock:
        if _tuned:
            return False
        _tuned = True
        import ctypes

        try:
            mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
        except (OSError, AttributeError):  # no mallopt: not glibc
            return False
        # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1 (malloc.h)
        return bool(mallopt(-3, _MMAP_THRESHOLD)) and bool(mallopt(-1, _TRIM_THRESHOLD))


class _Retrying(Generic[T, R]):
    """``fn`` with retries and exponential backoff on transient errors; returns (result, retries used).

    A class rather than a closure so that Dask can pickle it.
    """

    def __init__(self, fn: Callable[[T], R], retries: int, backoff: float, *, on_worker: bool = False) -> None:
        self.fn, self.retries, self.backoff, self.on_worker = fn, retries, backoff, on_worker

    def __call__(self, item: T) -> tuple[R, int]:
        if self.on_worker and not _tuned:
            _keep_freed_memory()
        for attempt in range(self.retries + 1):
            try:
                return self.fn(item), attempt
            except RETRYABLE as exc:
                if attempt == self.retries or _retried_already(exc):
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")


def job_threads() -> int:
    """Jobs run at once by default: half of ``max_workers`` (at least two).

    A job's own reads and writes fan out on the core's I/O pool of ``max_workers`` threads; more jobs than half of it
    only queue their chunks behind each other there, and hold a unit of memory each while they wait (measured on
    copies: 4 jobs at once 10-15 % faster than 8 on 2 cores).
    """
    return max(2, config.max_workers() // 2)


def run_jobs(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 3,
    backoff: float = 0.2,
    on_done: Callable[[T, R], None] | None = None,
    fail_fast: bool = True,
) -> JobStats:
    """Run ``fn`` on every item; call ``on_done(item, result)`` in this thread as each finishes.

    Args:
        workers: threads (or, with ``scheduler="local"``, worker processes); default: :func:`job_threads`.
        scheduler: ``"threads"``, ``"local"`` or a ``tcp://`` address for Dask; ``None`` takes ``INTERN_SCHEDULER``
            (or ``scheduler`` in ``[intern]``), threads when that is unset.
        retries: further tries of a job after a transient error (:data:`RETRYABLE`), with exponential backoff; an
            error a client has retried under its own policy already (``RemoteError.attempts`` set) is not retried.
        fail_fast: after the first permanent failure, start no more jobs (those are returned in ``not_started``).

    Returns:
        the :class:`JobStats`; failures are reported there, not raised, so the caller can say what is left to do.

    Raises:
        InvalidArgumentError: ``workers`` is not a whole number of at least 1.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, Integral) or workers < 1):
        raise InvalidArgumentError(f"workers={workers!r}: give at least 1 (threads, or Dask worker processes)")
    scheduler = scheduler if scheduler is not None else config.scheduler()
    if scheduler == "threads":  # says so explicitly, whatever INTERN_SCHEDULER says
        scheduler = None
    job = _Retrying(fn, retries, backoff, on_worker=bool(scheduler))
    start = time.perf_counter()
    if scheduler:
        stats = _run_dask(job, items, scheduler, workers, on_done, fail_fast)
    else:
        stats = _run_threads(job, items, workers or job_threads(), on_done, fail_fast)
    stats.seconds = time.perf_counter() - start
    return stats


def _run_threads(job: _Retrying[T, R], items: Sequence[T], workers: int,
                 on_done: Callable[[T, R], None] | None, fail_fast: bool) -> JobStats:
    stats = JobStats()
    queue = list(reversed(items))
    running: dict[Future[tuple[R, int]], T] = {}
    stop = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="intern-job") as pool:
        # keep at most 2 jobs a thread in flight: memory stays bounded however many jobs there are
        while queue or running:
            while queue and not stop and len(running) < 2 * workers:
                item = queue.pop()
                running[pool.submit(job, item)] = item
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                item = running.pop(fut)
                stop = _collect(fut.exception(), fut.result if fut.exception() is None else None, item, stats,
                                on_done, fail_fast) or stop
    stats.not_started = list(reversed(queue))
    return stats


def _collect(error: BaseException | None, result: Callable[[], tuple[R, int]] | None, item: T, stats: JobStats,
             on_done: Callable[[T, R], None] | None, fail_fast: bool) -> bool:
    """Record one finished job; True when the run should stop starting new ones."""
    if error is not None:
        stats.failures.append(JobFailure(item, error))
        return fail_fast
    assert result is not None
    value, retried = result()
    stats.done += 1
    stats.retried += retried
    if on_done is not None:
        on_done(item, value)
    return False


def _returning(value: tuple[R, int]) -> Callable[[], tuple[R, int]]:
    """A job's result as :func:`_collect` takes it, bound now (a lambda in the loop would see the last one)."""
    return lambda: value


def local_cluster(workers: int = 2, **options: Any) -> Any:
    """The ``dask.distributed.LocalCluster`` that ``scheduler="local"`` starts: ``workers`` processes.

    Each worker runs ``job_threads() // workers`` jobs at once (at least one), so the cluster has as many job threads
    as a threaded run: a job spends part of its time waiting on storage, and with one thread a worker would idle
    through every read and every write. ``options`` go to ``LocalCluster``. Start one yourself to keep it across
    several runs, and pass its ``scheduler_address`` as ``scheduler``:

    >>> cluster = local_cluster(2)  # doctest: +SKIP
    >>> intern.copy(src, dst, scheduler=cluster.scheduler_address)  # doctest: +SKIP
    """
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        raise ImportError("a local Dask cluster needs dask.distributed: pip install 'intern-core[dask]'") from None
    # distributed starts the dashboard's HTTP server even when told None: on loopback, on a free port, it exposes
    # nothing and does not clash with another cluster on 8787
    settings = {"n_workers": workers, "threads_per_worker": max(1, job_threads() // workers),
                "processes": True, "dashboard_address": "127.0.0.1:0", **options}
    return LocalCluster(**settings)


def _run_dask(job: _Retrying[T, R], items: Sequence[T], scheduler: str, workers: int | None,
              on_done: Callable[[T, R], None] | None, fail_fast: bool) -> JobStats:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ImportError("running on a Dask cluster needs dask.distributed: pip install 'intern-core[dask]'") from None
    stats = JobStats()
    cluster = None
    if scheduler == "local":
        cluster = local_cluster(workers or 2)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = client.map(job, list(items), pure=False)
        by_key = {f.key: item for f, item in zip(futures, items, strict=True)}
        pending = set(futures)
        # results come with their futures: the client's event loop fetches them as they finish, instead of this
        # thread asking for each in turn (a blocking round trip per job, a few ms of CPU on a busy machine)
        for fut, value in as_completed(futures, with_results=True, raise_errors=False):
            pending.discard(fut)
            item = by_key[fut.key]
            error = fut.exception() if fut.status == "error" else None
            if _collect(error, _returning(value) if error is None else None, item, stats, on_done, fail_fast):
                for other in pending:
                    other.cancel()
                stats.not_started = [by_key[f.key] for f in pending]
                break
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return stats
