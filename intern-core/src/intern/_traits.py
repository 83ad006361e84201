"""The traits a driver implements: Remote, Resource, VolumeResource and Service.

They are :class:`typing.Protocol` classes: a driver's classes never subclass them, they only have the right
members; ``isinstance(obj, VolumeResource)`` checks their presence at run time, and a type checker checks their
types (``nox -s typecheck`` does so for this repository's drivers). Optional abilities are protocols of their own
(``SupportsWrite``, ``SupportsVersions``, ``SupportsCreate``), so a capability is visible before it is called.

The minimum a read-only driver writes is a Remote with ``scheme``, ``open`` and ``ls`` and a VolumeResource with
``uri``, ``remote``, ``metadata``, ``io`` and ``read``. Everything else (numpy indexing, parallel chunked reads, read-modify-write of edge chunks,
dask, CLI, conformance tests) comes from the core. The worked example is the ``mem://`` driver in
:mod:`intern._builtin.mem`, and the plugin author guide in ``docs/``.

Note for implementers, on boxes: ``read`` and ``write`` receive a :class:`~intern._box.Box` over **every** axis of
the volume (``t, c, z, y, x`` as the metadata's ``axes`` say), relative to voxel 0 of that scale level, always inside
the level's shape. How the core cuts requests is the volume's ``io`` record (:class:`VolumeIO`), which every volume
declares: by default the core only ever passes boxes that lie in one storage chunk (reads) or that are exactly one
whole chunk clipped to the volume (writes), and it calls ``read``/``write`` from several threads at once for
different chunks. A driver whose backend already parallelises and handles partial chunks (TensorStore, HDF5, a server
that accepts any cutout) declares ``VolumeIO(whole_reads=True, whole_writes=True)`` and gets whole requests instead;
one direction alone is allowed (a store whose reads may cut across chunks but whose writes need whole chunks merged
by the core). The same record says whether reads return fresh arrays and why a volume is read-only.

A Remote says how the resolver names its server-side implementations in ``server_name`` (:class:`ServerService`),
and may offer ``default_chunks(*, shape, dtype, kind)`` (:class:`SupportsDefaultChunks`: the chunk shape
``intern.create`` uses when the caller names none). A ``close()`` method (:class:`SupportsClose`) releases file
handles or sessions.

A volume that can tell cheaply whether its stored chunks changed implements :class:`SupportsChunkStamps`: a resumed
copy then copies again the units whose source changed since they were journaled (see ``docs/transfers.md``).

Note for implementers, on concurrent writers: the core holds a lock for each chunk while it reads, merges and writes
it (and around a whole request's ``write`` when the driver takes whole requests), so writers in threads of one
process never lose each other's voxels. A volume whose levels are files on a local or mounted disk says where in
``level_storage(scale)`` (:class:`SupportsLevelStorage`), and the core then locks chunks against other processes too,
with a lock file in that directory (see :mod:`intern._locks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._box import Box
from ._metadata import VolumeMetadata

__all__ = [
    "LevelStorage",
    "Remote",
    "Resource",
    "Service",
    "ServerService",
    "SupportsChunkStamps",
    "SupportsClose",
    "SupportsCreate",
    "SupportsDefaultChunks",
    "SupportsLevelStorage",
    "SupportsVersions",
    "SupportsWrite",
    "VolumeIO",
    "VolumeResource",
]


@dataclass(frozen=True, kw_only=True)
class VolumeIO:
    """How a volume's driver wants the core to hand it reads and writes: declared once, as the volume's ``io``.

    Every volume declares one (``io: ClassVar[VolumeIO] = VolumeIO(...)`` on the class, or an ``io`` property where
    it depends on the file opened). The fields are keyword-only and the record is frozen, so a misspelt field is a
    ``TypeError`` where the record is made, and a type checker flags it too. ``VolumeIO()`` is the safe choice for a
    store of chunk files: the core cuts every request on the chunk grid, runs the pieces in parallel, merges partial
    chunks, and copies what ``read`` returns.

    Attributes:
        whole_reads: ``read`` takes any box inside the level, in one call (a server that answers any cutout, a
            library that reads across chunks in parallel itself). False: the core cuts reads on the chunk grid and
            calls ``read`` once per piece, each inside one storage chunk, from several threads.
        whole_writes: ``write`` takes any box inside the level, in one call, and merges partial chunks itself (the
            core still holds the locks of every chunk the box touches during the call). False: the core calls
            ``write`` once per chunk, with the whole chunk (clipped to the volume), after merging a partial chunk
            with what the chunk held.
        fresh_reads: ``read`` returns a new array the driver keeps no reference to, so the core may hand it to the
            caller without copying it. False: the array may be a view of the driver's memory, which the core copies.
        read_only_reason: why the volume cannot be written (a compressed file, a committed version, ``mode='r'``),
            in words the core puts into the :class:`~intern.errors.ReadOnlyError`; None when nothing is known.
    """

    whole_reads: bool = False
    whole_writes: bool = False
    fresh_reads: bool = False
    read_only_reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("whole_reads", "whole_writes", "fresh_reads"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"VolumeIO.{name} is True or False, got {getattr(self, name)!r}")
        if self.read_only_reason is not None and not isinstance(self.read_only_reason, str):
            raise TypeError(f"VolumeIO.read_only_reason is a sentence or None, got {self.read_only_reason!r}")


@runtime_checkable
class Resource(Protocol):
    """A pointer to something on a Remote: a volume, a group, a collection.

    Attributes:
        uri: the URI that opens this resource again (it crosses process boundaries instead of the object).
        remote: the Remote it lives on.
    """

    @property
    def uri(self) -> str: ...

    @property
    def remote(self) -> Remote: ...


@runtime_checkable
class VolumeResource(Resource, Protocol):
    """A volume: metadata, how it takes reads and writes (``io``), and reads of boxes at a scale level."""

    @property
    def metadata(self) -> VolumeMetadata: ...

    @property
    def io(self) -> VolumeIO:
        """How the core hands this volume reads and writes (:class:`VolumeIO`). Required: a volume without it is
        refused with a :class:`~intern.errors.PluginError`, never given defaults."""
        ...

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        """Return the voxels of ``box`` (over every axis) at level ``scale`` as a C-order array of the volume's dtype.

        The core guarantees the box is inside the level. The array may be a view of the driver's memory as long as
        the driver never writes to it afterwards; the core copies it into the caller's output.
        """
        ...


@runtime_checkable
class SupportsWrite(Protocol):
    """A volume that can be written."""

    @property
    def writable(self) -> bool:
        """Whether writes are allowed now (a committed version or a read-only mode says no)."""
        ...

    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        """Store ``data`` (shape of ``box``, the volume's dtype, C order) at ``box`` of level ``scale``.

        Unless the volume's ``io.whole_writes`` is set, the box is one whole chunk clipped to the volume; the core has already merged
        partial writes with the chunk's old content. Atomic per chunk where the store allows.
        """
        ...


@dataclass(frozen=True)
class LevelStorage:
    """Where one scale level's chunks are stored, as far as guarding concurrent writers goes.

    Attributes:
        local_directory: the directory holding the level's chunk files on a local or mounted file system, or None
            (an object store, a server, memory). With a directory, the core locks each chunk a write touches against
            other processes too, through an empty lock file ``.intern-chunk-locks`` it keeps there: the format's
            readers must not mind one more hidden file in that directory, and the Remote's ``ls`` must not list it.
        atomic_chunks: the backend itself merges partial chunks and commits each chunk atomically, against other
            processes too (TensorStore's file driver commits conditionally): the core then keeps no lock file, only
            its in-process locks.
    """

    local_directory: str | None = None
    atomic_chunks: bool = False


@runtime_checkable
class SupportsLevelStorage(Protocol):
    """A volume that says where its levels are stored, so the core can lock chunks across processes."""

    def level_storage(self, scale: int) -> LevelStorage:
        """Where level ``scale`` (0 or more) is stored. Called once per write, before the write; cheap."""
        ...


@runtime_checkable
class SupportsClose(Protocol):
    """A resource or remote holding something to release (open files, HTTP sessions)."""

    def close(self) -> None: ...


@runtime_checkable
class SupportsChunkStamps(Protocol):
    """A volume that can tell, without reading voxels, whether the stored data under a box has changed.

    Note for implementers: gather the stamp from what the store keeps anyway, at the cost of one ``stat`` (or one
    ``HEAD``) per stored chunk, or one listing: a file's inode, size and ``mtime_ns``, an object's ETag, a server's
    version or mutation id. Never read the voxels; the copy's verification already does that. A store that
    rewrites a chunk by renaming a new file over it changes the inode, which catches a rewrite within one tick of
    the file system's clock. Return ``None`` when the store cannot tell for this box (a sharded scale, a server
    without a mutation id); the caller then relies on reading the data back.
    """

    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str | None:
        """A token of the stored state of every chunk (shard, file) holding voxels of ``box`` at level ``scale``.

        The token is the same, in any process and after reopening the volume by URI, as long as none of those chunks
        is written, created or deleted, and differs as soon as one is. A missing chunk (read as the fill value) has
        a state too: creating it changes the token. Tokens are compared for equality only; their content is the
        driver's. ``None``: the store cannot tell.
        """
        ...


@runtime_checkable
class SupportsVersions(Protocol):
    """A volume whose datastore keeps versions (DVID nodes, ...)."""

    def versions(self) -> Sequence[Mapping[str, Any]]:
        """Every version, oldest first, each a mapping with at least ``id``, ``committed`` and ``note``."""
        ...


@runtime_checkable
class Remote(Protocol):
    """A datastore reached by a URI scheme.

    A driver registers a Remote *factory* for its schemes (see :mod:`intern._hookspecs`): a callable
    ``factory(uri: URI) -> (remote, path)`` that splits a URI into the remote it names (host, bucket, credentials)
    and the path inside it. A class with a ``from_uri`` classmethod is the usual shape.
    """

    @property
    def scheme(self) -> str:
        """The URI scheme (``"zarr"``); a class attribute, or an instance's when one class serves several."""
        ...

    def open(self, path: str, **options: Any) -> Resource:
        """The resource at ``path``. Raises :class:`~intern.errors.NotFoundError` when there is none."""
        ...

    def ls(self, path: str = "") -> list[str]:
        """Names of the children of ``path`` (collections, groups, repos, instances); empty for a leaf."""
        ...


@runtime_checkable
class SupportsCreate(Protocol):
    """A Remote that can make new volumes."""

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, **options: Any) -> Resource:
        """Make a new volume (all its scale levels, empty) and return it.

        With ``exist_ok``, return what is at ``path`` (which may be no volume at all): the core checks, once for
        every driver, that it is a volume of the shape and dtype asked for.
        """
        ...


@runtime_checkable
class SupportsDefaultChunks(Protocol):
    """A Remote that knows the chunk shape suiting its store (DVID blocks, KNOSSOS cubes)."""

    def default_chunks(self, *, shape: tuple[int, ...], dtype: np.dtype, kind: str) -> tuple[int, ...]:
        """The chunk shape ``intern.create`` uses for a volume of ``shape``, ``dtype`` and ``kind`` when the caller
        names none. Without this method the core takes 64 on each spatial axis, capped at the shape."""
        ...


@runtime_checkable
class ServerService(Protocol):
    """A Remote that runs services on its own server for some resources (DVID stored meshes, ...).

    Both members are required: a Remote with ``server_services`` and no ``server_name`` is refused by the resolver
    with a :class:`~intern.errors.PluginError` rather than passed over.
    """

    @property
    def server_name(self) -> str:
        """How ``explain()`` and ``prefer=`` name this datastore's server-side implementations (``"dvid-server"``)."""
        ...

    def server_services(self, resource: Resource) -> Mapping[str, Callable[..., Any]]:
        """For this resource, capability name -> callable taking ``(resource, **params)``. Empty when none."""
        ...


@runtime_checkable
class Service(Protocol):
    """A named capability (``mesh``, ``skeleton``, ``downsample``, ...) run on a resource.

    Registered by plugins through :class:`~intern._hookspecs.ServiceSpec`, which also states the traits it needs of a
    resource, so the resolver can pass over implementations that would not fit before loading them.
    """

    def __call__(self, resource: VolumeResource, **params: Any) -> Any: ...

