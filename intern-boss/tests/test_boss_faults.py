"""The client's retry policy against a real, misbehaving server: a proxy on loopback in front of the lab relay that
answers 503, or stalls, a set number of times before it forwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
from _bosstest import TOKEN, Lab

import intern
from intern.errors import NotFoundError, TransientRemoteError


class FaultyProxy:
    """Forwards to ``target``; the first ``fail`` cutout requests get 503, the first ``stall`` wait ``stall_s``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fail = 0
        self.stall = 0
        self.stall_s = 0.0
        self.cutouts = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16  # headers and body leave in one write (no delayed-ACK stall between them)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if "/v1/cutout/" in self.path:
                    with proxy.lock:
                        proxy.cutouts += 1
                        fail = proxy.fail > 0
                        stall = proxy.stall > 0 and not fail
                        proxy.fail -= int(fail)
                        proxy.stall -= int(stall)
                    if fail:
                        body = b'{"status": 503, "code": 5000, "message": "busy"}'
                        self.send_response(503)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    if stall:
                        time.sleep(proxy.stall_s)
                try:
                    resp = requests.get(proxy.target + self.path, headers=dict(self.headers), timeout=30)
                except requests.RequestException:  # a stalled request answered after its test ended
                    self.send_error(502)
                    return
                self.send_response(resp.status_code)
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    p = FaultyProxy(lab.relay.url)
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", p.url.split("://")[1])
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    yield p
    p.close()


def test_503_twice_then_200_succeeds(proxy: FaultyProxy, lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image", retries=2)
    proxy.fail = 2
    np.testing.assert_array_equal(a[0:4, 0:100, 0:100], lab.data["image"][0:4, 0:100, 0:100])
    assert proxy.cutouts == 3  # two refusals, then the answer


def test_503_beyond_the_retries_is_a_clear_transient_error(proxy: FaultyProxy) -> None:
    a = intern.array("bossdb://lab/em/image", retries=1)
    proxy.fail = 5
    with pytest.raises(TransientRemoteError, match="503.*busy.*after 2 tries"):
        a[0:4, 0:100, 0:100]
    assert proxy.cutouts == 2


def test_a_stalled_request_times_out_and_is_retried(proxy: FaultyProxy, lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image", timeout=0.3, retries=2)
    proxy.stall, proxy.stall_s = 1, 1.5
    np.testing.assert_array_equal(a[5, 0:50, 0:50], lab.data["image"][5, 0:50, 0:50])
    assert proxy.cutouts == 2


def test_no_server_is_a_transient_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientRemoteError, match=f"127.0.0.1:{port}.*after 2 tries"):
        intern.open(f"bossdb://http://127.0.0.1:{port}/a/b/c", retries=1)


def test_not_found_is_not_retried(proxy: FaultyProxy) -> None:
    with pytest.raises(NotFoundError):
        intern.open("bossdb://lab/em/absent", retries=3)
