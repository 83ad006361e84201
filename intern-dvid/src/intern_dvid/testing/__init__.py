"""A DVID-compatible HTTP server in Python, for tests: a stand-in for a DVID server that cannot run here.

It answers the endpoints intern-dvid uses as the real server does (status codes, plain-text error bodies, JSON
shapes, binary layouts, node locking, UUID prefix matching, growing extents, labelmap downres, a labelmap's max label
and label allocator), from memory, and stays consistent under concurrent requests (see :class:`Store` for what
protects what). It is not a DVID replacement: no persistence, no authentication beyond an optional admin token, no
2-D images, no label merges. Labs writing tools for DVID can test against it the same way intern-dvid's own tests
do::

    from intern_dvid.testing import DvidTestServer

    with DvidTestServer() as server:          # a thread serving on 127.0.0.1, on a free port
        root = server.new_repo("demo")        # the root UUID of a new repo
        uri = f"dvid://{server.address}/{root}/grayscale"

Run it as a process (for benchmarks, or to poke at it with curl)::

    python -m intern_dvid.testing --port 8000

Tests can make it misbehave on purpose: :meth:`DvidTestServer.fail_next` answers the next requests with a status
(503, as a throttled DVID does), :meth:`DvidTestServer.drop_next` closes the connection without answering.
"""

from __future__ import annotations

import collections
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType

from ._handler import Handler
from ._store import DvidError, Store

__all__ = ["DvidError", "DvidTestServer", "Store"]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class DvidTestServer:
    """The server: a :class:`Store` behind DVID's HTTP API, on ``host`` (loopback only by default).

    Args:
        host: the address to bind; tests use ``127.0.0.1``.
        port: 0 picks a free port; :attr:`address` says which.
        max_throttled: how many ``throttle=true`` requests run at once before the server answers 503.
        admin_token: requests with ``?admintoken=<this>`` have DVID's admin privileges (``POST maxlabel``,
            ``POST set-nextlabel``, changes to committed nodes); empty (the default): no request has them.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_throttled: int = 2,
                 admin_token: str = "") -> None:
        self.store = Store()
        self.max_throttled = max_throttled
        self.admin_token = admin_token
        self.throttle = threading.Semaphore(max_throttled)
        self.requests: collections.deque[tuple[str, str]] = collections.deque(maxlen=10_000)
        self._faults: list[str] = []
        self._faults_lock = threading.Lock()
        self._http = _HTTPServer((host, port), Handler)
        self._http.dvid = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- where and how it runs ------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """``host:port`` the server listens on."""
        host, port = self._http.server_address[:2]
        return f"{host if isinstance(host, str) else host.decode()}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> DvidTestServer:
        """Serve from a daemon thread of this process."""
        self._thread = threading.Thread(target=self._http.serve_forever, name="dvid-test-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (``python -m intern_dvid.testing``)."""
        self._http.serve_forever()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DvidTestServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- conveniences and fault injection -------------------------------------------------------------------------
    def new_repo(self, alias: str = "", description: str = "") -> str:
        """Make a repo directly in the store; returns its root UUID."""
        return self.store.new_repo(alias, description).root

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` (and a plain-text body) instead of serving them."""
        with self._faults_lock:
            self._faults.extend([str(status)] * count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._faults_lock:
            self._faults.extend(["drop"] * count)

    def take_fault(self) -> str | None:
        with self._faults_lock:
            return self._faults.pop(0) if self._faults else None

    def record(self, method: str, path: str) -> None:
        self.requests.append((method, path))
