"""The one boundary where cloud-volume's, cloud-files' and the cloud clients' exceptions become intern's.

cloud-volume raises its own classes (``InfoUnavailableError``, ``EmptyVolumeException``, ``MeshDecodeError``...),
cloud-files passes on what boto3 (``ClientError``), google-cloud-storage (``NotFound``, ``Forbidden``) and requests
(``HTTPError``) raise, and the local file system raises ``OSError``. Every public method of the driver runs inside
:func:`translating`, which maps them onto :mod:`intern.errors` once, by class name and HTTP status, so none of
those libraries is imported to classify an error. An :class:`~intern.errors.InternError` raised on purpose passes
the boundary unchanged (the core's boundary does that, before :func:`translate` is asked).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from intern.errors import (
    ErrorBoundary,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    PermissionDeniedError,
    RemoteError,
    TransientRemoteError,
)
from intern.plugin import error_class

__all__ = ["translate", "translated", "translating"]

F = TypeVar("F", bound=Callable[..., Any])
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_NOT_FOUND = frozenset({
    "InfoUnavailableError", "FileNotFoundError", "NotFound", "NoSuchKey", "NoSuchBucket", "EmptyVolumeException",
    "EmptyFileException", "MeshMissingError", "ScaleUnavailableError",
})
_DECODE = frozenset({
    "MeshDecodeError", "SkeletonDecodeError", "DecodingError", "DecompressionError", "CompressionError",
    "JSONDecodeError", "UnsupportedCompressionType", "SkeletonUnassignedEdgeError", "DeflateError", "BadGzipFile",
})
_DENIED = frozenset({"Forbidden", "Unauthorized", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
_TRANSIENT = frozenset({
    "ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError", "EndpointConnectionError",
    "ConnectTimeoutError", "ReadTimeoutError", "ServiceUnavailable", "TooManyRequests", "InternalServerError",
    "BadGateway", "GatewayTimeout", "ProtocolError", "NewConnectionError", "MaxRetryError", "RemoteDisconnected",
})


def _status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries: requests' ``response``, botocore's ``response``, google's ``code``."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        return int(response.status_code)
    if isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    code = getattr(exc, "code", None)
    return int(code) if isinstance(code, int) and 100 <= code < 600 else None


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: BaseException, what: str) -> BaseException:
    """The intern exception for ``exc``, raised while working on ``what`` (a URI); ``exc`` itself when it is a
    programming error that should surface as it is. intern's own errors never get here: the core's
    :class:`~intern.errors.ErrorBoundary` lets them through."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    code = _error_code(exc)
    status = _status(exc)
    plain = _ANSI.sub("", str(exc)).strip()  # cloud-volume colours its messages for terminals
    text = plain.splitlines()[0] if plain else type(exc).__name__
    if "UnsupportedProtocolError" in names:
        return InvalidURIError(f"{what}: {text}")
    # the status means what it means for every driver: intern.plugin.error_for's one mapping
    by_status = error_class(status) if status is not None else None
    if names & _NOT_FOUND or code in _NOT_FOUND or by_status is NotFoundError:
        return NotFoundError(f"{what} does not exist ({text})")
    if names & _DENIED or code in _DENIED or by_status is PermissionDeniedError or isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{what}: permission denied ({text}); check the credentials for it")
    if names & _DECODE:
        return MetadataError(f"{what}: stored data could not be decoded ({text})")
    if names & _TRANSIENT or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable") \
            or by_status is TransientRemoteError:
        return TransientRemoteError(f"{what}: {text}", status)
    if by_status is not None and by_status is not RemoteError:
        return by_status(f"{what}: the server answered {status} ({text})")
    if status is not None:
        return RemoteError(f"{what}: the server answered {status} ({text})", status)
    if isinstance(exc, OSError):
        return RemoteError(f"{what}: {text}")
    return exc


# the boundary itself is the core's, shared by every driver: this module only says how each failure translates
_boundary = ErrorBoundary(translate)
translating = _boundary.translating
translated = _boundary.translated
