"""Real servers on loopback for driver tests: an S3 endpoint and a static HTTP file server.

Drivers that read object stores or web servers test against these instead of patching their HTTP clients::

    from intern.testing.servers import s3_server, static_http_server

    with s3_server() as endpoint:                 # moto in server mode on 127.0.0.1, fake credentials set
        ...
    with static_http_server(folder) as url:       # serves folder at http://127.0.0.1:PORT
        ...

They bind 127.0.0.1 on a free port and stop when the block ends. ``s3_server`` needs ``moto[server]`` (a test
dependency, imported only here).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["s3_server", "static_http_server"]

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
