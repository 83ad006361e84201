"""A relay in a child process: for tests, benchmarks and notebooks that need a Boss on loopback.

>>> with RelayProcess({"c/e/ch": "zarr:///data/em.zarr"}) as relay:   # doctest: +SKIP
...     intern.array(f"bossdb://{relay.url}/c/e/ch")[0:16, 0:512, 0:512]
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RelayProcess"]


class RelayProcess:
    """``intern relay`` started in a subprocess, stopped on exit.

    Args:
        mounts: ``{"COLL/EXP/CHAN": URI}`` or ``["COLL/EXP/CHAN=URI", ...]``.
        port: 0 picks a free port (see :attr:`port` once started).
        cache_dir: the disk tier (``"none"`` for none; default a new temporary directory).
        tokens, writable, workers: as the command's options.
        args: further command-line arguments (``["--cache-size", "1MB"]``).
        env: environment variables for the relay on top of this process's (``INTERN_BOSSDB_RETRIES`` ...).
        log: file for the relay's standard error (default: beside the cache).
        open_files: the relay's open-file limit, soft and hard (default: this process's), to see how it copes with
            few files (POSIX only).
    """

    def __init__(self, mounts: Mapping[str, str] | Sequence[str], *, host: str = "127.0.0.1", port: int = 0,
                 cache_dir: str | os.PathLike[str] | None = None, tokens: Sequence[str] = (), writable: bool = False,
                 workers: int = 1, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 log: str | os.PathLike[str] | None = None, open_files: int | None = None) -> None:
        items = [f"{k}={v}" for k, v in mounts.items()] if isinstance(mounts, Mapping) else list(mounts)
        self._tmp = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="intern-relay-")
            cache_dir = self._tmp.name
        self.cache_dir = str(cache_dir)
        self.host = host
        self.port = port
        self.log = Path(log) if log else Path(tempfile.mkstemp(prefix="intern-relay-", suffix=".log")[1])
        self._argv = [sys.executable, "-m", "intern.cli", "relay", "--host", host, "--cache-dir", self.cache_dir,
                      "--workers", str(workers)]
        for m in items:
            self._argv += ["--mount", m]
        if tokens:
            self._argv += ["--token", *tokens]
        if writable:
            self._argv.append("--writable")
        self._argv += list(args)
        self._env = {**os.environ, **(env or {})}
        self._open_files = open_files
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running relay."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> RelayProcess:
        """Start and wait until it listens.

        Raises:
            RuntimeError: it exited or did not listen within ``timeout`` (with its log).
        """
        argv = self._argv + ["--port", str(self.port)]
        with open(self.log, "ab") as err:
            self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=self._env,
                                          preexec_fn=self._limit_files if self._open_files else None)
        assert self._proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                self.stop()
                raise RuntimeError(f"the relay did not start within {timeout} s:\n{self.log.read_text()[-3000:]}")
            chunk = os.read(self._proc.stdout.fileno(), 4096)
            if not chunk:
                self._proc.wait()
                raise RuntimeError(f"the relay exited with {self._proc.returncode}:\n{self.log.read_text()[-3000:]}")
            line += chunk
        sel.close()
        text = line.decode().strip()
        self.port = int(text.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        return self

    def _limit_files(self) -> None:  # in the child, before the relay starts
        import resource

        if self._open_files is not None:  # set as the child's preexec_fn only then
            resource.setrlimit(resource.RLIMIT_NOFILE, (self._open_files, self._open_files))

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the relay (SIGTERM, then SIGKILL after ``timeout``); its cache directory stays."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def close(self) -> None:
        """Stop, and delete the temporary cache directory if this object made it."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the relay (with ``workers > 1``, of the supervisor that started the workers).

        Raises:
            RuntimeError: the relay is not running.
        """
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("the relay is not running")
        return self._proc.pid

    def worker_pids(self) -> list[int]:
        """The process ids of the processes that serve requests: the relay itself with one worker, else its worker
        processes (Linux: read from ``/proc``)."""
        pid = self.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        kids = [int(k) for k in children.read_text().split()] if children.exists() else []
        # uvicorn's workers are spawned interpreters; multiprocessing's resource tracker is a child too, not a worker
        return [k for k in kids if _is_worker(k)] or [pid]

    def __enter__(self) -> RelayProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited meanwhile
        return False
    return b"resource_tracker" not in cmdline
