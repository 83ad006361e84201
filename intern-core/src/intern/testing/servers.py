"""Real servers on loopback for driver tests: an S3 endpoint, a static HTTP file server, and a misbehaving one.

Drivers that read object stores or web servers test against these instead of patching their HTTP clients::

    from intern.testing.servers import FaultyServer, s3_server, static_http_server

    with s3_server() as endpoint:                 # moto in server mode on 127.0.0.1, fake credentials set
        ...
    with static_http_server(folder) as url:       # serves folder at http://127.0.0.1:PORT
        ...
    with FaultyServer(upstream=url) as faulty:    # forwards to url, except what it is told to fail
        faulty.fail(3, status=503, retry_after="1")
        ...
        assert faulty.count("GET", "/data") == 4  # what the server saw: the client's tries

They bind 127.0.0.1 on a free port and stop when the block ends. ``s3_server`` needs ``moto[server]`` (a test
dependency, imported only here).
"""

from __future__ import annotations

import functools
import http.client
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

__all__ = ["FaultyServer", "closed_port", "s3_server", "static_http_server"]

_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server() -> Iterator[str]:
    """An S3 server (moto) on 127.0.0.1; yields its URL. Fake credentials and a region are set in the environment
    for the block, as the AWS SDKs, s3fs, cloud-files and TensorStore read them there."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in _AWS}
    os.environ.update(_AWS)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def static_http_server(directory: str | os.PathLike[str]) -> Iterator[str]:
    """A static file server for ``directory`` on 127.0.0.1 (as neuroglancer data is often served); yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(Path(directory)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class _Fault:
    kind: str  # "status", "reset", "close" or "stall"
    count: int  # requests still to spoil (-1: all of them)
    match: str  # spoils requests whose path starts with this
    status: int = 503
    retry_after: str | None = None
    attempts: int | None = None  # said in Intern-Attempts: the tries already spent behind this server
    seconds: float = 0.0


class FaultyServer:
    """An HTTP server on 127.0.0.1 that fails requests as a test tells it, and records every request it sees.

    Requests no fault applies to are forwarded to ``upstream`` (a real server: the DVID test server, a relay, a
    static file server) and its answer is passed back; with no upstream they are answered ``200`` with an empty body.
    Faults apply in the order they were set, each to the next ``count`` requests whose path starts with ``match``
    (``count=-1``: every one, until :meth:`heal`):

    - :meth:`fail`: an answer with ``status`` (and ``Retry-After`` when given), a short plain-text body;
    - :meth:`reset`: the connection is reset (TCP RST) once the request has arrived, before any answer;
    - :meth:`close`: the connection is closed without an answer (``http.client.RemoteDisconnected`` for the client);
    - :meth:`stall`: no answer for ``seconds``, then the connection is closed (the client's timeout fires first).

    ``seen`` lists ``(method, path)`` of every request that arrived (path with its query), spoiled or not: what a
    client's tries look like from the server. A refused connection never arrives anywhere: for that, use a port
    nobody listens on (:func:`closed_port`).
    """

    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.seen: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()  # guards seen and _faults: handler threads take faults while the test adds them
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.address = self.url.split("://", 1)[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- what to spoil ----------------------------------------------------------------------------------------------
    def fail(self, count: int = 1, *, status: int = 503, retry_after: str | None = None, match: str = "/",
             attempts: int | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status`` (saying ``Intern-Attempts: attempts``, as a
        relay does whose own client spent that many tries on the failure behind it)."""
        self._add(_Fault("status", count, match, status=status, retry_after=retry_after, attempts=attempts))

    def reset(self, count: int = 1, *, match: str = "/") -> None:
        """Reset the connection of the next ``count`` matching requests."""
        self._add(_Fault("reset", count, match))

    def close(self, count: int = 1, *, match: str = "/") -> None:
        """Close the connection of the next ``count`` matching requests without answering."""
        self._add(_Fault("close", count, match))

    def stall(self, count: int = 1, *, seconds: float = 5.0, match: str = "/") -> None:
        """Leave the next ``count`` matching requests unanswered for ``seconds``."""
        self._add(_Fault("stall", count, match, seconds=seconds))

    def heal(self) -> None:
        """Forget every fault not yet spent."""
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, prefix: str = "/") -> int:
        """Requests seen with this method (any, if ``None``) whose path starts with ``prefix``."""
        with self._lock:
            return sum(1 for m, p in self.seen if (method is None or m == method) and p.startswith(prefix))

    def _add(self, fault: _Fault) -> None:
        if fault.count == 0 or fault.count < -1:
            raise ValueError(f"count must be a positive number of requests or -1 (all), not {fault.count}")
        with self._lock:
            self._faults.append(fault)

    def _take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            self.seen.append((method, path))
            for fault in self._faults:
                if path.startswith(fault.match):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- lifetime ---------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultyServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _handler(faulty: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = faulty._take(self.command, self.path)
            if fault is None:
                self._forward(body)
            elif fault.kind == "status":
                text = f"{fault.status} (a fault injected by the test)\n".encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(text)))
                if fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                if fault.attempts is not None:
                    self.send_header("Intern-Attempts", str(fault.attempts))
                self.end_headers()
                self.wfile.write(text)
            elif fault.kind == "reset":
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
            elif fault.kind == "close":
                self.close_connection = True
            else:  # stall
                time.sleep(fault.seconds)
                self.close_connection = True

        def _forward(self, body: bytes) -> None:
            if faulty.upstream is None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection(faulty.upstream.split("://", 1)[1], timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(key, value)
            # a HEAD answer has no body but says how long the GET's would be
            length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any  # noqa: N815 - the base class's names

    return Handler


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
