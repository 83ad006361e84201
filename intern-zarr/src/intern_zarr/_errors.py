"""The one boundary where backend exceptions become intern's.

zarr-python, TensorStore, h5py, fsspec and the cloud clients under it each raise their own exceptions (TensorStore a
``ValueError`` whose message starts with an absl status code, h5py ``OSError``/``KeyError``, s3fs ``OSError``
subclasses). Every public method of the drivers runs inside :func:`translated`, which maps them to the
:mod:`intern.errors` hierarchy once; an :class:`~intern.errors.InternError` raised deliberately passes the core's
boundary unchanged, before :func:`translate` is asked.
"""

from __future__ import annotations

import asyncio
import re

from intern.errors import (
    AlreadyExistsError,
    ErrorBoundary,
    InternError,
    NotFoundError,
    PermissionDeniedError,
    RemoteError,
    TransientRemoteError,
)

__all__ = ["translate", "translated", "translating"]

# absl status codes TensorStore puts at the front of its error messages
_TS_STATUS = re.compile(r"^([A-Z_]+):")
_TS_MAP: dict[str, type[InternError]] = {
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "UNAUTHENTICATED": PermissionDeniedError,
    "UNAVAILABLE": TransientRemoteError,
    "DEADLINE_EXCEEDED": TransientRemoteError,
    "RESOURCE_EXHAUSTED": TransientRemoteError,
    "ABORTED": TransientRemoteError,
    "DATA_LOSS": RemoteError,
    "INTERNAL": RemoteError,
    "UNKNOWN": RemoteError,
    "FAILED_PRECONDITION": RemoteError,
}


def translate(exc: BaseException, what: str) -> BaseException:
    """The intern exception for a backend exception ``exc`` raised while doing ``what`` (a path or URI).

    Returns ``exc`` itself when it is a programming error that should surface as it is. intern's own errors never
    get here: the core's :class:`~intern.errors.ErrorBoundary` lets them through.
    """
    name = type(exc).__name__
    message = f"{what}: {exc}"
    # zarr's NodeNotFoundError also derives from ValueError and FileNotFoundError; test the specific names first
    if name in ("NodeNotFoundError", "GroupNotFoundError", "ArrayNotFoundError", "FileNotFoundError"):
        return NotFoundError(f"{what} does not exist ({exc})")
    if isinstance(exc, FileExistsError) or name == "ContainsArrayError" or name == "ContainsGroupError":
        return AlreadyExistsError(f"{what} exists already ({exc}); pass exist_ok=True to open it")
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{what}: permission denied ({exc})")
    if isinstance(exc, (TimeoutError, ConnectionError, asyncio.TimeoutError)):
        return TransientRemoteError(message)
    if isinstance(exc, ValueError):
        m = _TS_STATUS.match(str(exc))
        if m and m.group(1) in _TS_MAP:
            cls = _TS_MAP[m.group(1)]
            if cls is NotFoundError:
                return NotFoundError(f"{what} does not exist ({_short(exc)})")
            return cls(f"{what}: {_short(exc)}")
        return exc
    if isinstance(exc, OSError):
        return RemoteError(message)
    return exc


def _short(exc: BaseException) -> str:
    # TensorStore appends the whole JSON spec to its messages; the status and reason are what a user needs
    return str(exc).split(" [tensorstore_spec=")[0]


# the boundary itself is the core's, shared by every driver: this module only says how each failure translates
_boundary = ErrorBoundary(translate)
translating = _boundary.translating
translated = _boundary.translated

