"""Requests and answers of the relay, and the Boss error body every failure becomes.

A refusal is raised as :class:`BossHTTPError` wherever it is found; :func:`failure` turns it, and every other
exception, into an answer with the Boss's error body ``{"status", "code", "message"}``:

- :class:`BossHTTPError`: its own status and code (a refusal found while checking the request);
- :class:`~intern_boss._wire.BodyError`: 400, a body that is not what its URL and channel say;
- :class:`~._channel.UpstreamUnavailable`: 503, the upstream cannot be opened and nothing is cached;
- :class:`~intern.errors.TransientRemoteError`: 503, the upstream did not answer;
- :class:`~intern.errors.PermissionDeniedError`: 403, the upstream refused the relay;
- :class:`~intern.errors.MetadataError`: 502, the upstream cannot be served as a Boss channel;
- any other :class:`~intern.errors.InternError`: 502, the upstream failed otherwise;
- anything else: 500, a bug (logged with its traceback).

An upstream failure that the relay's client already retried (it tried more than once) is answered with
``Intern-Attempts`` (:data:`intern.plugin.ATTEMPTS_HEADER`): a downstream ``bossdb://`` client does not retry it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from intern.errors import InternError, MetadataError, PermissionDeniedError, RemoteError, TransientRemoteError
from intern.plugin import attempts_header

from .._wire import BodyError, ErrorCode
from ._channel import UpstreamUnavailable

__all__ = ["BossHTTPError", "Request", "Response", "error", "failure", "json_answer"]

log = logging.getLogger("intern.relay")


class BossHTTPError(Exception):
    """An answer with a Boss error body ``{"status", "code", "message"}``."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    """One request: its path with repeated slashes made one, its query, its headers (names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | bytearray = b""


@dataclass
class Response:
    """One answer, sent whole (with its ``Content-Length``)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    extra: list[tuple[bytes, bytes]] = field(default_factory=list)  # further headers, names in lower case
    close: bool = False  # close the connection after it (a request body is left unread)


def json_answer(value: Any, status: int = 200) -> Response:
    """An answer whose body is ``value`` as JSON."""
    return Response(status, json.dumps(value).encode())


def error(status: int, code: ErrorCode, message: str, *, attempts: int | None = None) -> Response:
    """A Boss error answer; ``attempts``: the tries the upstream's failure took (said in ``Intern-Attempts``)."""
    answer = json_answer({"status": status, "code": int(code), "message": message}, status)
    answer.extra += attempts_header(attempts)
    return answer


def failure(exc: Exception, request: Request) -> Response:
    """The Boss error answer to ``request`` for what went wrong while answering it."""
    if isinstance(exc, BossHTTPError):
        return error(exc.status, exc.code, exc.message)
    if isinstance(exc, BodyError):
        return error(400, exc.code, str(exc))
    if isinstance(exc, UpstreamUnavailable):
        return error(503, ErrorCode.IO_ERROR, str(exc), attempts=exc.attempts)
    if isinstance(exc, TransientRemoteError):
        return error(503, ErrorCode.IO_ERROR, f"the upstream did not answer: {exc}", attempts=exc.attempts)
    if isinstance(exc, PermissionDeniedError):
        return error(403, ErrorCode.MISSING_PERMISSION, str(exc))
    if isinstance(exc, MetadataError):
        return error(502, ErrorCode.IO_ERROR, f"the upstream cannot be served as a Boss channel: {exc}")
    if isinstance(exc, InternError):
        attempts = exc.attempts if isinstance(exc, RemoteError) else None
        return error(502, ErrorCode.IO_ERROR, f"the upstream failed: {exc}", attempts=attempts)
    # a bug must still answer with a Boss body, and be logged
    log.error("error answering %s %s", request.method, request.path, exc_info=exc)
    return error(500, ErrorCode.IO_ERROR, f"internal error: {type(exc).__name__}: {exc}")
