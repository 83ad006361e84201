"""The exceptions intern raises.

Every error intern raises on purpose derives from :class:`InternError`, and each also derives from the builtin
exception a Python user would reach for first, so ``except IndexError`` keeps working around array code::

    InternError
    ├── InvalidURIError (ValueError)          the URI does not parse, or names no resource
    ├── DriverNotInstalledError (ImportError) no installed distribution handles the scheme
    ├── NotFoundError (LookupError)           the path names nothing on the remote
    ├── AlreadyExistsError (FileExistsError)  create() found something there already
    ├── PermissionDeniedError (PermissionError)
    │   └── ReadOnlyError                     the resource, scale or version cannot be written
    ├── OutOfBoundsError (IndexError)         a box or index reaches outside the volume
    ├── IndexingError (IndexError)            an index expression intern does not support
    ├── DTypeError (TypeError)                a value cannot be cast to the volume's dtype
    ├── ParameterError (TypeError)            a function, driver or service was given a parameter it does not take
    ├── ShapeError (ValueError)               data does not fit the box or selection it is written to
    ├── MetadataError (ValueError)            metadata is missing, invalid or inconsistent
    ├── ConfigError (ValueError)              a setting in intern.cfg or INTERN_* is invalid
    ├── InvalidArgumentError (ValueError)     an argument of a call or command is out of range; names it
    ├── CapabilityUnavailableError (LookupError) no implementation of a service fits
    ├── PluginError (RuntimeError)            a plugin is broken or registers nonsense
    ├── RemoteError (OSError)                 the datastore answered with an error, or not at all
    │   └── TransientRemoteError              worth retrying (timeouts, 5xx, throttling), unless ``attempts`` says
    │                                         the client's retry policy has already been spent on it
    └── TransferError (RuntimeError)          a copy stopped or did not verify; says how to resume

Drivers translate their backends' exceptions at one boundary (``raise NotFoundError(...) from exc``).
All classes keep their constructor arguments in ``args`` so they pickle, which matters to Dask and to
process pools.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

__all__ = [
    "AlreadyExistsError",
    "ErrorBoundary",
    "CapabilityUnavailableError",
    "ConfigError",
    "DTypeError",
    "DriverNotInstalledError",
    "IndexingError",
    "InternError",
    "InvalidArgumentError",
    "InvalidURIError",
    "MetadataError",
    "NotFoundError",
    "OutOfBoundsError",
    "ParameterError",
    "PermissionDeniedError",
    "PluginError",
    "ReadOnlyError",
    "ShapeError",
    "RemoteError",
    "TransferError",
    "TransientRemoteError",
]


class InternError(Exception):
    """Base class of every error intern raises on purpose.

    The message is the first argument; it says what went wrong and what to do about it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidURIError(InternError, ValueError):
    """The URI is malformed or does not name a resource the driver understands."""


class DriverNotInstalledError(InternError, ImportError):
    """No installed plugin handles this scheme (or service); the message names what to install."""

    def __init__(self, message: str, scheme: str | None = None, distribution: str | None = None):
        super().__init__(message, scheme, distribution)
        self.scheme = scheme
        self.distribution = distribution


class NotFoundError(InternError, LookupError):
    """The remote has nothing at that path (file, dataset, collection, repo, ...)."""


class AlreadyExistsError(InternError, FileExistsError):
    """``create`` was asked to make something that already exists (pass ``exist_ok=True`` to open it)."""


class PermissionDeniedError(InternError, PermissionError):
    """The remote refused the operation for these credentials."""


class ReadOnlyError(PermissionDeniedError):
    """The resource, scale level or version cannot be written (a committed DVID node, a read-only store, ...)."""


class OutOfBoundsError(InternError, IndexError):
    """An index or box reaches outside the volume; intern never clips silently."""


class IndexingError(InternError, IndexError):
    """The index expression is of a kind intern arrays do not support (fancy or boolean indexing, a zero step).

    An ``IndexError`` like numpy's own answer to an invalid index.
    """


class DTypeError(InternError, TypeError):
    """A value cannot be written to a volume of this dtype without an unsafe cast."""


class ParameterError(InternError, TypeError):
    """A service, or a driver's ``open``/``create``, was given a parameter it does not take.

    A ``TypeError``, as Python's own answer to an unexpected keyword argument; the message names the parameter and
    the ones that are taken.
    """


class ShapeError(InternError, ValueError):
    """Data does not have (and does not broadcast to) the shape of the box or selection it is written to."""


class ConfigError(InternError, ValueError):
    """A setting in the configuration file or the environment is invalid; the message names it."""


class InvalidArgumentError(InternError, ValueError):
    """An argument of a call or command (a unit size, a worker count, a scale level) is out of range.

    The message names the argument as the caller wrote it (``chunk``, ``--workers``), so nothing has run yet.
    """


class MetadataError(InternError, ValueError):
    """Metadata is missing, invalid or contradicts itself."""


class CapabilityUnavailableError(InternError, LookupError):
    """No implementation of a service (mesh, skeleton, ...) fits this resource; see ``explain()``."""


class PluginError(InternError, RuntimeError):
    """A plugin failed to load or registered something invalid."""


class RemoteError(InternError, OSError):
    """The datastore answered with an error, or did not answer.

    ``status`` is the HTTP status (or ``None``), ``body`` the server's own message. ``attempts`` is set by a client
    that sent the request under its retry policy (:func:`intern._http.call`): how many times it tried. Such an error
    is final as far as retrying goes (the policy has had its say), and :func:`intern.jobs.run_jobs` does not retry it
    again; ``None`` when no retrying client was involved.
    """

    def __init__(self, message: str, status: int | None = None, body: str | None = None,
                 attempts: int | None = None):
        super().__init__(message, status, body, attempts)
        self.status = status
        self.body = body
        self.attempts = attempts


class TransientRemoteError(RemoteError):
    """A failure that may pass: a timeout, a dropped connection, a 5xx or throttling answer."""


class TransferError(InternError, RuntimeError):
    """A copy stopped before the end, or its destination did not verify.

    ``unfinished`` lists the boxes (as ``"scale:Z0:Z1,Y0:Y1,X0:X1"``) not copied or not matching; the message ends
    with the command that resumes the copy.
    """

    def __init__(self, message: str, unfinished: tuple[str, ...] = ()):
        super().__init__(message, tuple(unfinished))
        self.unfinished = tuple(unfinished)


F = TypeVar("F", bound=Callable[..., Any])


class ErrorBoundary:
    """The one place where a driver's backend exceptions become intern's.

    A driver writes a ``translate(exc, what) -> exception`` function (returning ``exc`` itself to let it pass
    unchanged) and wraps its entry points. intern's own errors (:class:`InternError`, raised on purpose inside the
    boundary, e.g. a ``MetadataError``, which is also a ``ValueError``) leave unchanged without reaching
    ``translate``, so ``translate`` only ever sees the backend's exceptions::

        boundary = ErrorBoundary(translate)

        class MyVolume:
            @boundary.translated            # names ``self.uri`` in the message
            def read(self, box, *, scale=0): ...

        with boundary.translating("opening /data/x"):
            backend.open("/data/x")

    The new exception is raised ``from`` the original, so the backend's traceback stays visible.
    """

    def __init__(self, translate: Callable[[BaseException, str], BaseException]) -> None:
        self.translate = translate

    @contextmanager
    def translating(self, what: str) -> Iterator[None]:
        """Run a block; a backend failure in it leaves as intern's exception naming ``what``."""
        try:
            yield
        except InternError:
            raise  # already says what went wrong, in intern's terms
        except Exception as exc:
            new = self.translate(exc, what)
            if new is exc:
                raise
            raise new from exc

    def translated(self, method: F) -> F:
        """Decorate a method likewise, naming ``self.uri`` (or the first string argument, or the class)."""
        translate = self.translate

        @wraps(method)
        def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            # a plain try costs nothing until something fails: chunk reads run through here by the thousand
            try:
                return method(obj, *args, **kwargs)
            except InternError:
                raise  # already says what went wrong, in intern's terms
            except Exception as exc:
                what = getattr(obj, "uri", None) or (args[0] if args and isinstance(args[0], str) else None)
                new = translate(exc, str(what or type(obj).__name__))
                if new is exc:
                    raise
                raise new from exc

        return wrapper  # type: ignore[return-value]
