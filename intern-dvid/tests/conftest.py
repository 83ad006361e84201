"""Fixtures of intern-dvid's tests: the DVID-compatible test server on 127.0.0.1, and a fresh repo per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from intern_dvid.testing import DvidTestServer


@pytest.fixture(scope="session")
def server() -> Iterator[DvidTestServer]:
    """The DVID test server, in a thread of this process, for the whole session."""
    with DvidTestServer("127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
def root(server: DvidTestServer) -> str:
    """``dvid://127.0.0.1:PORT/ROOT``: the root node of a new, empty repo."""
    return f"dvid://{server.address}/{server.new_repo('test')}"


@pytest.fixture
def api(server: DvidTestServer) -> requests.Session:
    """A plain HTTP session, for talking to the server without intern (as another DVID client would)."""
    with requests.Session() as session:
        yield session
