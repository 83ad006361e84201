"""The HTTP boundary: one pooled session per server, retries, timeouts, and DVID's answers turned into intern errors.

Every request of the driver goes through :meth:`DvidHTTP.request`, the one place where ``requests`` exceptions and
DVID's status codes become :mod:`intern.errors` exceptions. DVID answers most errors with status 400 and a plain-text
message; the message is kept in the error (``RemoteError.body``) and in its text, with a hint where one helps.

Voxels (cutouts and block writes) travel on a lighter path: one keep-alive ``http.client`` connection per thread,
reading each body straight into its place in the output array. Everything else uses a pooled ``requests`` session.

Retries: a refused or dropped connection, a timeout and a 502/503/504 answer (503 is DVID's "throttled") are retried
with exponential backoff and jitter. Requests that change state and are not idempotent (commit, branch, new
repos and instances) are retried only when the server cannot have acted: connection refused, or 503.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from intern.errors import (
    AlreadyExistsError,
    InternError,
    InvalidURIError,
    NotFoundError,
    PermissionDeniedError,
    ReadOnlyError,
    RemoteError,
    TransientRemoteError,
)
from intern.http import CONNECTION_ERRORS, Connections, backoff, read_into

__all__ = ["DvidHTTP", "HTTPSettings"]

_RETRY_STATUS = (502, 503, 504)
_IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")

# DVID's 400 messages -> (intern error, hint); first match wins
_CLASSIFY: list[tuple[re.Pattern[str], type[InternError], str]] = [
    (re.compile(r"could not find UUID|could not find branch"), NotFoundError,
     "intern.ls('dvid://HOST:PORT') lists the repos, intern.ls('dvid://HOST:PORT/UUID') a node's instances"),
    (re.compile(r"more than one UUID matches"), InvalidURIError, "give more characters of the UUID"),
    (re.compile(r"invalid data instance name"), NotFoundError,
     "intern.ls('dvid://HOST:PORT/UUID') lists the instances of a node"),
    (re.compile(r"(of|on) locked node|already locked"), ReadOnlyError,
     "the version is committed: write to a new version (resource.newversion() or resource.branch(name))"),
    (re.compile(r"can't branch an unlocked node"), ReadOnlyError,
     "commit the node first (resource.commit(note)); DVID only branches committed versions"),
    (re.compile(r"already exists|already has a child"), AlreadyExistsError, ""),
]


class HTTPSettings:
    """Timeouts and retry policy, from the ``[dvid]`` (or ``[dvid+https]``) configuration section.

    Keys: ``timeout`` (seconds to wait for an answer, default 120), ``connect_timeout`` (default 10),
    ``retries`` (default 5), ``backoff`` (first wait in seconds, doubling, default 0.1).
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        def number(key: str, default: float) -> float:
            raw = values.get(key)
            if raw in (None, ""):
                return default
            try:
                return float(raw)  # type: ignore[arg-type]
            except ValueError:
                from intern.errors import ConfigError

                raise ConfigError(f"[dvid] {key} must be a number, got {raw!r}") from None

        self.timeout = number("timeout", 120.0)
        self.connect_timeout = number("connect_timeout", 10.0)
        self.retries = int(number("retries", 5))
        self.backoff = number("backoff", 0.1)


class DvidHTTP:
    """A pooled, retrying client of one DVID server (``base`` is ``http://host:port``)."""

    def __init__(self, base: str, settings: HTTPSettings, *, pool: int) -> None:
        self.base = base.rstrip("/")
        self.settings = settings
        self._conns = Connections(self.base, connect_timeout=settings.connect_timeout, timeout=settings.timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    # -- requests -------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: bytes | None = None,
                json: Any = None, ok: tuple[int, ...] = (200,), stream: bool = False,
                idempotent: bool | None = None) -> requests.Response:
        """Send one request (retrying as the module says); raise intern's error for any answer not in ``ok``."""
        url = self.base + path
        idempotent = method in _IDEMPOTENT or bool(idempotent)
        timeout = (self.settings.connect_timeout, self.settings.timeout)
        attempt = 0
        while True:
            try:
                resp = self.session.request(method, url, params=params, data=data, json=json, timeout=timeout,
                                            stream=stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt < self.settings.retries and (idempotent or _never_sent(exc)):
                    attempt = self._wait(attempt)
                    continue
                raise TransientRemoteError(f"DVID at {self.base} did not answer {method} {path} after "
                                           f"{attempt + 1} attempt(s): {_reason(exc)}") from exc
            if resp.status_code in _RETRY_STATUS and attempt < self.settings.retries and (
                    idempotent or resp.status_code == 503):
                resp.close()
                attempt = self._wait(attempt)
                continue
            if resp.status_code not in ok:
                raise self.error(resp, method, path)
            return resp

    def _wait(self, attempt: int) -> int:
        time.sleep(backoff(attempt, first=self.settings.backoff, most=10.0))
        return attempt + 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError:
            raise RemoteError(f"DVID at {self.base} answered {method} {path} with something that is not JSON: "
                              f"{resp.text[:200]!r}", resp.status_code, resp.text[:1000]) from None

    # -- bulk voxels ----------------------------------------------------------------------------------------------
    def read(self, path: str, nbytes: int | None, *, params: Mapping[str, Any] | None = None,
             into: memoryview | None = None) -> bytes | None:
        """GET a binary body: straight into the writable buffer ``into`` (exactly its size), or as bytes."""
        return self._bulk("GET", path, params, None, nbytes, into)

    def send(self, path: str, body: memoryview | bytes, *, params: Mapping[str, Any] | None = None) -> None:
        """POST a binary body (a block-aligned write: repeating it is harmless, so it is retried like a GET)."""
        self._bulk("POST", path, params, body, None, None)

    def _bulk(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, nbytes: int | None,
              into: memoryview | None) -> bytes | None:
        # Voxels skip requests: one kept-alive http.client connection per thread (intern.http) reads bodies straight
        # into the caller's array, which halves the client's work on large cutouts. Same retries, same errors.
        target = path + ("?" + urlencode(params) if params else "")
        attempt = 0
        while True:
            try:
                resp = self._conns.exchange(method, target, body=body, headers={})
                if resp.status != 200:
                    text = resp.read().decode("utf-8", "replace")
                    if resp.status in _RETRY_STATUS and attempt < self.settings.retries:
                        attempt = self._wait(attempt)
                        continue
                    raise self._error(resp.status, text, method, path)
                length = resp.getheader("Content-Length")
                want = len(into) if into is not None else nbytes
                if want is not None and length is not None and int(length) != want:
                    resp.read()
                    raise RemoteError(f"DVID at {self.base} sent {length} bytes for {path}, expected {want}", 200)
                if into is None:
                    data = resp.read()
                    if nbytes is not None and len(data) != nbytes:
                        raise RemoteError(f"DVID at {self.base} sent {len(data)} bytes for {path}, expected "
                                          f"{nbytes}", 200)
                    return data
                read_into(resp, into)
                return None
            except InternError:
                raise
            except CONNECTION_ERRORS as exc:
                self._conns.drop()
                if attempt >= self.settings.retries:
                    raise TransientRemoteError(f"DVID at {self.base} did not answer {method} {path} after "
                                               f"{attempt + 1} attempt(s): {exc!r}") from exc
                attempt = self._wait(attempt)

    # -- errors ---------------------------------------------------------------------------------------------------
    def error(self, resp: requests.Response, method: str, path: str) -> InternError:
        """The intern exception for DVID's answer ``resp``."""
        return self._error(resp.status_code, resp.text, method, path)

    def _error(self, status: int, text: str, method: str, path: str) -> InternError:
        text = text.strip()
        if len(text) > 500:
            text = text[:500] + " [...]"
        where = f"DVID at {self.base}: {method} {path} answered {status}"
        said = f": {text}" if text else ""
        if status == 400:
            for pattern, cls, hint in _CLASSIFY:
                if pattern.search(text):
                    return cls(f"{where}{said}" + (f" ({hint})" if hint else ""))
            return RemoteError(f"{where}{said}", status, text)
        if status == 404:
            return NotFoundError(f"{where}{said or ': not found'}")
        if status in (401, 403):
            return PermissionDeniedError(f"{where}{said}: the server refused; check its access settings")
        if status in _RETRY_STATUS:
            return TransientRemoteError(f"{where}{said} (retried {self.settings.retries} times; the server is busy "
                                        "or restarting: try again later, or raise [dvid] retries)", status, text)
        return RemoteError(f"{where}{said}", status, text)


def _never_sent(exc: BaseException) -> bool:
    """Whether the request cannot have reached the server (refused, unreachable, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


def _reason(exc: BaseException) -> str:
    return str(exc).split(" (Caused by ")[-1].rstrip(")") or type(exc).__name__
