"""The HTTP boundary: one pooled session per server, the core's retry policy, and DVID's answers as intern errors.

Every request of the driver goes through :meth:`DvidHTTP.request`, the one place where ``requests`` exceptions and
DVID's status codes become :mod:`intern.errors` exceptions (by the core's mapping, :func:`intern.plugin.error_for`).
DVID answers most errors with status 400 and a plain-text message; the message is kept in the error
(``RemoteError.body``) and in its text, and picks the error's class, with a hint where one helps.

Voxels (cutouts and block writes) travel on a lighter path: one keep-alive ``http.client`` connection per thread,
reading each body straight into its place in the output array. Everything else uses a pooled ``requests`` session.

Retries: both paths run under one :class:`intern.plugin.RetryPolicy` (the ``retries`` and ``backoff`` settings, waits
capped at 10 s): a connection that failed, a timeout, and 408/429/500/502/503/504 answers are retried with
exponential backoff and jitter. Requests that change state and are not idempotent (commit, branch, new repos and
instances) are retried only when the server cannot have acted: the connection was never made, or it answered 503
(DVID's "throttled") or 429.
"""

from __future__ import annotations

import re
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
from intern.plugin import (
    Answer,
    Connections,
    RetryPolicy,
    UnwantedAnswer,
    call_with_retries,
    error_for,
    http_request,
    read_into,
)

__all__ = ["DvidHTTP", "HTTPSettings"]

_IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
_MAX_WAIT = 10.0

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
                return float(raw)
            except ValueError:
                from intern.errors import ConfigError

                raise ConfigError(f"[dvid] {key} must be a number, got {raw!r}") from None

        self.timeout = number("timeout", 120.0)
        self.connect_timeout = number("connect_timeout", 10.0)
        self.retries = int(number("retries", 5))
        self.backoff = number("backoff", 0.1)
        if self.retries < 0 or self.backoff < 0:
            from intern.errors import ConfigError

            raise ConfigError(f"[dvid] retries and backoff must be >= 0, got {self.retries} and {self.backoff}")

    def policy(self) -> RetryPolicy:
        """The retry policy of these settings: DVID's 503 ("throttled") means it did nothing, so anything is retried
        after it."""
        return RetryPolicy.from_settings(retries=self.retries, backoff=self.backoff, most=max(_MAX_WAIT, self.backoff),
                                         unacted=frozenset({429, 503}), setting="[dvid] retries")


class DvidHTTP:
    """A pooled, retrying client of one DVID server (``base`` is ``http://host:port``)."""

    def __init__(self, base: str, settings: HTTPSettings, *, pool: int) -> None:
        self.base = base.rstrip("/")
        self.settings = settings
        self.policy = settings.policy()
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

        def attempt() -> requests.Response:
            resp = self.session.request(method, url, params=params, data=data, json=json, timeout=timeout,
                                        stream=stream)
            if resp.status_code not in ok:
                answer = Answer(resp.status_code, resp.reason or "", resp.headers, resp.content)
                resp.close()
                raise UnwantedAnswer(answer)
            return resp

        return call_with_retries(self.policy, attempt, what=f"DVID at {self.base}: {method} {path}", idempotent=idempotent,
                          describe=self._describe)

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
        # Voxels skip requests: one kept-alive http.client connection per thread (intern.plugin) reads bodies straight
        # into the caller's array, which halves the client's work on large cutouts. Same policy, same errors.
        target = path + ("?" + urlencode(params) if params else "")

        def read(resp: Any) -> bytes | None:
            length = resp.getheader("Content-Length")
            want = len(into) if into is not None else nbytes
            if want is not None and length is not None and int(length) != want:
                resp.read()
                raise RemoteError(f"DVID at {self.base} sent {length} bytes for {path}, expected {want}", 200)
            if into is None:
                data = resp.read()
                if nbytes is not None and len(data) != nbytes:
                    raise RemoteError(f"DVID at {self.base} sent {len(data)} bytes for {path}, expected {nbytes}", 200)
                return bytes(data)
            read_into(resp, into)
            return None

        # a block-aligned write replaces what the blocks held: repeating it is harmless
        return http_request(self._conns, method, target, policy=self.policy, headers={}, body=body, read=read,
                             what=f"DVID at {self.base}: {method} {path}", describe=self._describe)

    # -- errors ---------------------------------------------------------------------------------------------------
    def error(self, resp: requests.Response, method: str, path: str) -> Exception:
        """The intern exception for DVID's answer ``resp``."""
        return self._describe(Answer(resp.status_code, resp.reason or "", resp.headers, resp.content),
                              f"DVID at {self.base}: {method} {path}", 1)

    def _describe(self, answer: Answer, what: str, attempts: int) -> Exception:
        """The core's error for ``answer``, refined by DVID's plain-text message (its 400s say what went wrong)."""
        text = answer.text.strip()
        if len(text) > 500:
            text = text[:500] + " [...]"
        where = f"{what} answered {answer.status}"
        said = f": {text}" if text else ""
        if answer.status == 400:
            for pattern, cls, hint in _CLASSIFY:
                if pattern.search(text):
                    return cls(f"{where}{said}" + (f" ({hint})" if hint else ""))
        error = error_for(answer, what, attempts, message=text)
        if isinstance(error, NotFoundError) and not text:
            return NotFoundError(f"{where}: not found")
        if isinstance(error, PermissionDeniedError):
            return PermissionDeniedError(f"{where}{said}: the server refused; check its access settings")
        if isinstance(error, TransientRemoteError):
            return TransientRemoteError(f"{error}, or raise [dvid] retries", error.status, error.body, error.attempts)
        return error
