"""The plugin surface: everything a driver or service author imports from intern, in one module.

A distribution that adds a scheme, a service or a command imports from four places only: ``intern`` (the user API:
``intern.open``, ``intern.array``, ``intern.resolve``, ...), ``intern.errors`` (the error tree), this module, and
``intern.testing`` in its tests. Every other module of intern-core is private (its name starts with an underscore)
and may change in any release; the names below are the supported surface.

Stability: a name listed here keeps its meaning and its call signature within a major version of intern-core;
arguments are only added, with defaults, and new names are only added. Removing or changing one is announced in the
changelog one minor release ahead, with a ``DeprecationWarning`` in the meantime.

The names, by topic, in the order of ``__all__``:

Registering a plugin (the light plugin module)
    - ``hookimpl``: marks the functions of a plugin module that implement intern's hooks.
    - ``SchemeSpec``: a URI scheme a plugin adds, its factory named by dotted reference.
    - ``ServiceSpec``: a local implementation of a service (``mesh``, ``downsample``, your own), by reference.
    - ``CommandSpec``: an ``intern NAME`` command a plugin adds, by reference.
    - ``REQUIREMENTS``: what a service may require of a resource (``volume``, ``segmentation``, ``writable``, ...).
    - ``register``: registers a plugin module or object in this process, without an entry point.
    - ``reload``: forgets loaded plugins and remotes and finds the installed plugins again.

Traits (the protocols a driver's classes implement; nothing subclasses them)
    - ``Remote``: a datastore reached by a URI scheme: ``open`` and ``ls``.
    - ``Resource``: a pointer to something on a Remote: ``uri`` and ``remote``.
    - ``VolumeResource``: a volume: ``metadata`` and ``read``.
    - ``SupportsWrite``: a volume that writes: ``write`` and ``writable``.
    - ``SupportsCreate``: a Remote that creates volumes: ``create``.
    - ``SupportsVersions``: a volume with versions: ``versions()``.
    - ``SupportsClose``: a Remote or volume holding handles: ``close()``.
    - ``SupportsChunkStamps``: a volume that tells cheaply whether stored chunks changed: ``chunk_stamp``.
    - ``SupportsLevelStorage``: a volume whose levels are local files: ``level_storage``.
    - ``LevelStorage``: where a level's chunk files are, so the core locks chunks across processes.
    - ``VolumeIO``: the typed record of how a volume takes requests (whole or per chunk, fresh reads, read-only
      reason), which every volume declares as its ``io``.
    - ``SupportsDefaultChunks``: a Remote that chooses the chunk shape ``intern.create`` uses when none is given.
    - ``Service``: a local implementation of a service: a callable ``(resource, **params)``.
    - ``ServerService``: a Remote that answers services itself: ``server_services(resource)``.

Values a driver builds and receives
    - ``Box``: a half-open box of voxels, (z, y, x) or over every axis of a volume.
    - ``URI``: a parsed URI (``scheme``, ``rest``, ``options``), what a scheme's factory receives.
    - ``parse_uri``: parses a URI string into a ``URI``.
    - ``resolve_uri``: parses a URI, or a plain path into the URI of the scheme claiming its suffix.
    - ``VolumeMetadata``: a volume's axes, dtype, kind, scale levels and attributes.
    - ``ScaleLevel``: one scale level: shape, chunks, voxel size, downsampling factors, offset, key.
    - ``VolumeKind``: the kinds of volume, ``"image"`` or ``"segmentation"``.
    - ``to_nanometres``: a voxel size in a datastore's unit, converted to nanometres.

Options a driver takes
    - ``Option``: one option of ``open`` or ``create``, with its type, default and help.
    - ``OptionSet``: the options a Remote declares (its ``declared_options``); parses URIs' queries and keywords.
    - ``parse_bool``: one yes-or-no setting in the words every driver accepts.
    - ``INTS``: the type of an option holding whole numbers (``chunks=16,512,512``).
    - ``FLOATS``: the type of an option holding numbers (``voxel_size=40,4,4``).

Errors at the boundary (the error classes themselves are in :mod:`intern.errors`)
    - ``ErrorBoundary``: translates a backend's errors to intern's in one place.

Remotes, volumes and their data
    - ``shared_remote``: the process's one remote for a key (a host, a token), made on first use.
    - ``remote_for``: the remote, the path inside it and the parsed URI of a URI.
    - ``as_volume``: a volume for a URI, an ``intern.Array``, a resource or a numpy array.
    - ``read_box``: reads a box through the core (chunked, in parallel, bounds checked).
    - ``write_box``: writes a box through the core (chunked, locked, partial chunks merged).
    - ``update_box``: changes a box in place under the chunks' locks (read, merge, write).
    - ``write_atomic``: writes a local file whole or not at all (a temporary file renamed over).
    - ``LOCK_FILE``: the name of the hidden lock file the core keeps in a level's folder.

HTTP: one retry policy, one status mapping
    - ``RetryPolicy``: what is retried (statuses, attempts, waits), built from a driver's settings.
    - ``RETRY_STATUSES``: the HTTP statuses the default policy retries (408, 429, 500, 502, 503, 504).
    - ``ATTEMPTS_HEADER``: ``Intern-Attempts``, by which a relay says its upstream's failure was retried already.
    - ``attempts_header``: the header pairs a relay adds to such an answer.
    - ``announced_attempts``: the tries an answer's ``Intern-Attempts`` announces, if any.
    - ``Answer``: an HTTP answer a request did not want: status, reason, headers, body.
    - ``UnwantedAnswer``: raised by an attempt with the ``Answer`` it got instead of what it wanted.
    - ``Describe``: the hook that turns an unwanted ``Answer`` into intern's error, for a driver to refine.
    - ``Failure``: the kinds of connection failure: never sent, timed out, dropped.
    - ``connection_failure``: the kind of a connection failure, by the exception's type.
    - ``call_with_retries``: runs one attempt after another under a ``RetryPolicy``.
    - ``error_for``: the intern error for an HTTP answer (404 ``NotFoundError``, 403 ``PermissionDeniedError``, ...).
    - ``error_class``: the intern error class for an HTTP status.
    - ``Connections``: kept-alive ``http.client`` connections, one per thread, to one server.
    - ``http_request``: one request on ``Connections`` under a policy, its body read by the caller's function.
    - ``read_into``: reads an answer's body straight into a buffer (an output array's place).
    - ``read_body``: reads an answer's body into a buffer the thread reuses.

Parallel work, configuration and progress
    - ``run_parallel``: runs a function over items on the process's thread pool (chunked I/O, a service's blocks).
    - ``run_jobs``: runs independent jobs on threads or on Dask, with retries (``intern.copy``'s runner).
    - ``max_workers``: the size of the process's thread pool (``max_workers`` setting).
    - ``default_scheduler``: where chunked jobs run by default (``scheduler`` setting), or ``None`` for threads.
    - ``config_section``: one section of the configuration, files and environment merged.
    - ``config_path``: the configuration file in use.
    - ``Progress``: a progress bar on stderr for a plugin's command.

Data products and provenance
    - ``Mesh``: a triangle mesh, vertices (x, y, z) in nanometres.
    - ``Skeleton``: a skeleton, vertices (x, y, z) and radii in nanometres.
    - ``read_precomputed_mesh_dir``: reads a neuroglancer precomputed mesh directory.
    - ``write_precomputed_mesh_dir``: writes meshes as a neuroglancer precomputed mesh directory.
    - ``read_precomputed_skeleton_dir``: reads a neuroglancer precomputed skeleton directory.
    - ``write_precomputed_skeleton_dir``: writes skeletons as a neuroglancer precomputed skeleton directory.
    - ``provenance_record``: a provenance record (source, box, implementation, parameters, versions).
    - ``write_provenance``: writes ``provenance.json`` beside a data product.
    - ``package_versions``: the versions of intern's distributions, numpy and Python.

Importing this module is as light as the plugin module that imports it: the hook markers and specs load at once,
everything else on first use, so ``import intern`` and ``intern plugins`` stay fast with every driver installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._hookspecs import REQUIREMENTS, CommandSpec, SchemeSpec, ServiceSpec, hookimpl

__all__ = [
    # registering a plugin
    "hookimpl", "SchemeSpec", "ServiceSpec", "CommandSpec", "REQUIREMENTS", "register", "reload",
    # traits
    "Remote", "Resource", "VolumeResource", "SupportsWrite", "SupportsCreate", "SupportsVersions", "SupportsClose",
    "SupportsChunkStamps", "SupportsLevelStorage", "LevelStorage", "VolumeIO", "SupportsDefaultChunks", "Service",
    "ServerService",
    # values
    "Box", "URI", "parse_uri", "resolve_uri", "VolumeMetadata", "ScaleLevel", "VolumeKind", "to_nanometres",
    # options
    "Option", "OptionSet", "parse_bool", "INTS", "FLOATS",
    # errors at the boundary
    "ErrorBoundary",
    # remotes, volumes and their data
    "shared_remote", "remote_for", "as_volume", "read_box", "write_box", "update_box", "write_atomic", "LOCK_FILE",
    # HTTP
    "RetryPolicy", "RETRY_STATUSES", "ATTEMPTS_HEADER", "attempts_header", "announced_attempts", "Answer",
    "UnwantedAnswer", "Describe", "Failure", "connection_failure", "call_with_retries", "error_for", "error_class",
    "Connections", "http_request", "read_into", "read_body",
    # parallel work, configuration and progress
    "run_parallel", "run_jobs", "max_workers", "default_scheduler", "config_section", "config_path", "Progress",
    # data products and provenance
    "Mesh", "Skeleton", "read_precomputed_mesh_dir", "write_precomputed_mesh_dir", "read_precomputed_skeleton_dir",
    "write_precomputed_skeleton_dir", "provenance_record", "write_provenance", "package_versions",
]

# public name -> (module that defines it, its name there), imported on first use; modules are named in full so
# that a rename of a core module rewrites them with its other references
_LAZY: dict[str, tuple[str, str]] = {
    "register": ("intern._registry", "register"),
    "reload": ("intern._registry", "reload"),
    **{name: ("intern._traits", name) for name in (
        "Remote", "Resource", "VolumeResource", "SupportsWrite", "SupportsCreate", "SupportsVersions",
        "SupportsClose", "SupportsChunkStamps", "SupportsLevelStorage", "LevelStorage", "VolumeIO",
        "SupportsDefaultChunks", "Service", "ServerService")},
    "Box": ("intern._box", "Box"),
    "URI": ("intern._uri", "URI"),
    "parse_uri": ("intern._uri", "parse_uri"),
    **{name: ("intern._metadata", name) for name in ("VolumeMetadata", "ScaleLevel", "VolumeKind", "to_nanometres")},
    **{name: ("intern._options", name) for name in ("Option", "OptionSet", "parse_bool", "INTS", "FLOATS")},
    "ErrorBoundary": ("intern.errors", "ErrorBoundary"),
    "shared_remote": ("intern._registry", "shared_remote"),
    "remote_for": ("intern._api", "remote_for"),
    "resolve_uri": ("intern._api", "resolve_uri"),
    "as_volume": ("intern._services", "as_volume"),
    **{name: ("intern._io", name) for name in ("read_box", "write_box", "update_box")},
    "write_atomic": ("intern._files", "write_atomic"),
    "LOCK_FILE": ("intern._locks", "LOCK_FILE"),
    **{name: ("intern._http", name) for name in (
        "RetryPolicy", "RETRY_STATUSES", "ATTEMPTS_HEADER", "attempts_header", "announced_attempts", "Answer",
        "UnwantedAnswer", "Describe", "Failure", "connection_failure", "error_for", "error_class", "Connections",
        "read_into", "read_body")},
    "call_with_retries": ("intern._http", "call"),
    "http_request": ("intern._http", "request"),
    "run_parallel": ("intern._executor", "run_parallel"),
    "run_jobs": ("intern.jobs", "run_jobs"),
    "max_workers": ("intern.config", "max_workers"),
    "default_scheduler": ("intern.config", "scheduler"),
    "config_section": ("intern.config", "section"),
    "config_path": ("intern.config", "config_path"),
    "Progress": ("intern._progress", "Progress"),
    **{name: ("intern._products", name) for name in (
        "Mesh", "Skeleton", "read_precomputed_mesh_dir", "write_precomputed_mesh_dir",
        "read_precomputed_skeleton_dir", "write_precomputed_skeleton_dir")},
    "provenance_record": ("intern._provenance", "record"),
    "write_provenance": ("intern._provenance", "write"),
    "package_versions": ("intern._provenance", "package_versions"),
}

if TYPE_CHECKING:
    from ._api import remote_for, resolve_uri
    from ._box import Box
    from ._executor import run_parallel
    from ._files import write_atomic
    from ._http import (
        ATTEMPTS_HEADER,
        RETRY_STATUSES,
        Answer,
        Connections,
        Describe,
        Failure,
        RetryPolicy,
        UnwantedAnswer,
        announced_attempts,
        attempts_header,
        connection_failure,
        error_class,
        error_for,
        read_body,
        read_into,
    )
    from ._http import call as call_with_retries
    from ._http import request as http_request
    from ._io import read_box, update_box, write_box
    from ._locks import LOCK_FILE
    from ._metadata import ScaleLevel, VolumeKind, VolumeMetadata, to_nanometres
    from ._options import FLOATS, INTS, Option, OptionSet, parse_bool
    from ._products import (
        Mesh,
        Skeleton,
        read_precomputed_mesh_dir,
        read_precomputed_skeleton_dir,
        write_precomputed_mesh_dir,
        write_precomputed_skeleton_dir,
    )
    from ._progress import Progress
    from ._provenance import package_versions
    from ._provenance import record as provenance_record
    from ._provenance import write as write_provenance
    from ._registry import register, reload, shared_remote
    from ._services import as_volume
    from ._traits import (
        LevelStorage,
        Remote,
        Resource,
        ServerService,
        Service,
        SupportsChunkStamps,
        SupportsClose,
        SupportsCreate,
        SupportsDefaultChunks,
        SupportsLevelStorage,
        SupportsVersions,
        SupportsWrite,
        VolumeIO,
        VolumeResource,
    )
    from ._uri import URI, parse_uri
    from .config import config_path, max_workers
    from .config import scheduler as default_scheduler
    from .config import section as config_section
    from .errors import ErrorBoundary
    from .jobs import run_jobs


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'intern.plugin' has no attribute {name!r}")
    module, attribute = where
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
