"""``zarr://``: Zarr v2/v3 arrays and OME-Zarr multiscales groups, on local disks and any fsspec URL.

``intern.open("zarr:///data/em.ome.zarr")`` gives a :class:`ZarrVolume` for an array or a multiscales group, and a
:class:`ZarrGroup` for any other group (``intern.ls`` lists what is in it). zarr-python reads and writes all metadata
(it is the authority on the format); voxels move through the engines of :mod:`intern_zarr._engines`.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from intern.errors import (
    AlreadyExistsError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    ParameterError,
    ReadOnlyError,
)
from intern.plugin import (
    INTS,
    URI,
    Box,
    LevelStorage,
    Option,
    OptionSet,
    VolumeIO,
    VolumeMetadata,
    run_parallel,
    shared_remote,
)

from ._codecs import compressors_for
from ._diagnose import metadata_error, metadata_file, present_metadata_files
from ._engines import Engine, open_engine
from ._errors import translated, translating
from ._extras import require
from ._location import Location
from ._ome import Layout, array_layout, find_multiscales, multiscales_layout, ome_attributes

__all__ = ["ZarrGroup", "ZarrRemote", "ZarrVolume"]

_MODES = ("r", "r+", "a")


#: what ``open`` and ``create`` take; the core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "zarr",
    Option("mode", str, "a", choices=_MODES, help="'r' read-only; 'a' or 'r+' read and write ('r' for http(s) URLs)"),
    Option("engine", str, "tensorstore", choices=("tensorstore", "zarr-python"),
           help="'zarr-python' bypasses TensorStore (for comparison and debugging)"),
    Option("cache_bytes", int, None, help="TensorStore's shared chunk cache for the volume's handles (0: none)"),
    Option("storage_options", object, None, help="fsspec options for URLs, over the [zarr] config section"),
    Option("compressor", object, None, creation_only=True,
           help="'none', or zarr-python codecs; default blosc-zstd (COMPRESSION.md)"),
    Option("shards", INTS, None, creation_only=True, help="a shard shape, a multiple of the chunks on every axis"),
    Option("name", str, None, creation_only=True, help="the multiscales name (default: the group's file name)"),
)


def _mode(options: dict[str, Any], default: str = "a") -> str:
    return str(options.pop("mode", default))  # the core checked it against OPTIONS


def _uri(location: Location, mode: str = "a") -> str:
    text = f"zarr://{location.path}"
    # a read-only mode travels with the URI so a worker reopening it cannot write either; an http(s) URL's query
    # belongs to the server, so there it cannot be carried
    if mode == "r" and location.protocol not in ("http", "https"):
        text += "?mode=r"
    return text


class ZarrVolume:
    """A Zarr array, or an OME-Zarr multiscales group, as an intern volume.

    Reads and writes take any box (``VolumeIO(whole_reads=True, whole_writes=True)``): each becomes one engine call per request, which parallelises
    over chunks and merges partial chunks itself.
    """

    io: ClassVar[VolumeIO] = VolumeIO(whole_reads=True, whole_writes=True)

    def __init__(self, remote: ZarrRemote, location: Location, layout: Layout, arrays: list[Any], *, mode: str,
                 engine: str | None = None, cache_bytes: int | None = None) -> None:
        self._remote = remote
        self._location = location
        self._layout = layout
        # only the format is kept of zarr-python's read-only arrays: engines open their own handles
        self._formats = [int(getattr(a.metadata, "zarr_format", 3)) for a in arrays]
        # and how each names its chunk (or shard) files: "c/0/1/2", "0.1.2", ... (for chunk_stamp)
        self._chunk_keys = [a.metadata.encode_chunk_key for a in arrays]
        self._mode = mode
        self._prefer = engine
        self._cache_bytes = cache_bytes
        self._engines: dict[int, Engine] = {}
        self._lock = threading.Lock()
        order = layout.order
        self._inverse = None if order is None else tuple(int(i) for i in np.argsort(order))

    # -- what it is ---------------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return _uri(self._location, self._mode)

    @property
    def remote(self) -> ZarrRemote:
        return self._remote

    @property
    def metadata(self) -> VolumeMetadata:
        return self._layout.metadata

    @property
    def writable(self) -> bool:
        return self._mode != "r"

    @property
    def location(self) -> Location:
        return self._location

    def engine(self, scale: int = 0) -> Engine:
        """The engine serving level ``scale`` (opened on first use, then reused)."""
        with self._lock:
            if scale not in self._engines:
                path = self._layout.paths[scale]
                self._engines[scale] = open_engine(self._location.child(path), self._formats[scale],
                                                   writable=self.writable, prefer=self._prefer,
                                                   cache_bytes=self._cache_bytes)
            return self._engines[scale]

    def level_storage(self, scale: int) -> LevelStorage:
        """Where level ``scale`` lives, for the core's chunk locks: the array's directory on a local disk (TensorStore
        commits its chunks atomically there by itself; zarr-python needs the core's lock file), nothing elsewhere."""
        location = self._location.child(self._layout.paths[scale])
        if not location.is_local:
            return LevelStorage()
        return LevelStorage(local_directory=location.path, atomic_chunks=self.engine(scale).atomic_chunks)

    # -- voxels -------------------------------------------------------------------------------------------------
    def _stored(self, box: Box) -> tuple[slice, ...]:
        slices = box.to_slices()
        return slices if self._inverse is None else tuple(slices[i] for i in self._inverse)

    @translated
    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        data = self.engine(scale).read(self._stored(box))
        return data if self._layout.order is None else data.transpose(self._layout.order)

    @translated
    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        if not self.writable:
            raise ReadOnlyError(f"{self.uri} is open read-only (mode='r')")
        if self._inverse is not None:
            data = np.ascontiguousarray(data.transpose(self._inverse))
        self.engine(scale).write(self._stored(box), data)

    @translated
    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str:
        """The stored state of every chunk (or shard) file holding voxels of ``box``, without reading them.

        On a local disk one ``stat`` per file (inode, size, ``mtime_ns``: TensorStore rewrites a chunk by renaming a
        new file over it, so the inode changes even within one tick of the clock); elsewhere one ``info`` request per object (an S3
        ETag, or size and modification time). A missing file, read as the fill value, is a state of its own.
        """
        level = self.metadata.scales[scale]
        chunks = level.chunks if self._inverse is None else tuple(level.chunks[i] for i in self._inverse)
        grid = [range(s.start // c, -(-s.stop // c)) for s, c in zip(self._stored(box), chunks, strict=True)]
        encode = self._chunk_keys[scale]
        keys = [encode(index) for index in itertools.product(*grid)]
        where = self._location.child(self._layout.paths[scale])
        if where.is_local:
            return "\n".join(_file_state(where.path, key) for key in keys)
        fs, root = where.filesystem()
        return "\n".join(run_parallel(lambda key: _object_state(fs, f"{root}/{key}", key), keys))

    def __repr__(self) -> str:
        return f"<ZarrVolume {self.uri} {self.metadata.dtype}{list(self.metadata.shape)}>"


def _file_state(root: str, key: str) -> str:
    try:
        st = os.stat(os.path.join(root, key))
    except FileNotFoundError:
        return f"{key} -"
    return f"{key} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def _object_state(fs: Any, path: str, key: str) -> str:
    if hasattr(fs, "invalidate_cache"):
        fs.invalidate_cache(path)  # s3fs answers info() from its listings cache: ask the store itself
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return f"{key} -"
    tag = info.get("ETag") or info.get("etag") or ""
    modified = info.get("LastModified") or info.get("mtime") or info.get("last_modified") or ""
    return f"{key} {tag} {info.get('size', '')} {modified}"


class ZarrGroup:
    """A Zarr group that is not a multiscales image: a container (``intern.ls`` lists it)."""

    def __init__(self, remote: ZarrRemote, location: Location, attributes: dict[str, Any], *, mode: str) -> None:
        self._remote = remote
        self._location = location
        self._mode = mode
        self.attributes = attributes

    @property
    def uri(self) -> str:
        return _uri(self._location, self._mode)

    @property
    def remote(self) -> ZarrRemote:
        return self._remote

    def ls(self) -> list[str]:
        """Names of the group's children."""
        return self._remote.ls(self._location.path)

    def __repr__(self) -> str:
        return f"<ZarrGroup {self.uri}>"


class ZarrRemote:
    """Zarr stores reached by one protocol: the local file system, or one fsspec protocol (s3, https, ...)."""

    scheme: ClassVar[str] = "zarr"
    declared_options: ClassVar[OptionSet] = OPTIONS

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[ZarrRemote, str]:
        """The remote for ``zarr://PATH-or-URL`` and the path (an absolute local path, or the URL) inside it."""
        try:
            location = Location.parse(uri.rest)
        except ValueError as exc:
            raise InvalidURIError(f"{uri}: {exc}") from None
        # one remote per protocol; the core has split intern's options off the URI (an http(s) URL keeps its query)
        return shared_remote(cls.scheme, location.protocol, lambda: cls(location.protocol)), location.path

    @staticmethod
    def _split(path: str, options: dict[str, Any]) -> Location:
        return Location.parse(path, options.pop("storage_options", None))

    # -- the Remote protocol ------------------------------------------------------------------------------------
    def open(self, path: str, **options: Any) -> ZarrVolume | ZarrGroup:
        """The volume or group at ``path``.

        Options:
            mode: ``"r"`` read-only, ``"a"`` (default; ``"r"`` for http/https URLs) or ``"r+"`` read and write.
            storage_options: fsspec options for URLs (merged over the ``[zarr]`` config section).
            engine: ``"zarr-python"`` to bypass TensorStore (for comparison and debugging).
            cache_bytes: size of TensorStore's shared chunk cache for this volume's handles (0: none).

        Raises:
            NotFoundError: nothing is there, or what is there is not a Zarr array or group.
            MetadataError: the metadata makes no volume intern can read (axes, transforms).
        """
        options = dict(options)
        location = self._split(path, options)
        # plain HTTP servers take no writes: read-only unless the caller says otherwise (WebDAV-like fsspec stores)
        mode = _mode(options, "r" if location.protocol in ("http", "https") else "a")
        engine = _engine_options(options)
        if options:
            raise ParameterError(f"unknown option(s) for zarr:// open: {', '.join(sorted(options))}")
        with translating(_uri(location)):
            node = self._node(location)
            return self._resource(location, node, mode, engine)

    def ls(self, path: str = "") -> list[str]:
        """Children of a group (arrays and groups), entries of a plain directory, nothing for an array."""
        location = self._split(path, {})
        with translating(_uri(location)):
            try:
                node = self._node(location)
            except NotFoundError:
                if location.exists():
                    return location.listdir()
                raise
            if _is_array(node):
                return []
            return sorted(node.keys())

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, compressor: Any = None,
               shards: Any = None, storage_options: dict[str, Any] | None = None, name: str | None = None,
               **options: Any) -> ZarrVolume:
        """Write a new OME-Zarr 0.5 multiscales group (zarr v3): one array per scale level, ``"0"``, ``"1"``, ...

        Args:
            compressor: ``None`` for the measured default (blosc-zstd, see ``COMPRESSION.md``), ``"none"``, or
                zarr-python codec objects.
            shards: a shard shape (every axis, a multiple of the chunks) to store many chunks per file or object
                (Zarr v3 sharding); the volume's ``chunks`` are then the shards, the unit a write replaces.
            storage_options: fsspec options for URLs.
            name: the multiscales ``name`` (default: the group's file name).

        Raises:
            AlreadyExistsError: something is there and ``exist_ok`` is false, or it does not match ``metadata``.
        """
        options = dict(options)
        if storage_options is not None:
            options["storage_options"] = storage_options
        location = self._split(path, options)
        _mode(options)  # creating always writes; a mode only has to be valid
        engine = _engine_options(options)
        if options:
            raise ParameterError(f"unknown option(s) for zarr:// create: {', '.join(sorted(options))}")
        with translating(_uri(location)):
            try:
                existing = self._node(location)
            except NotFoundError:
                existing = None
            if existing is not None:
                if not exist_ok:
                    raise AlreadyExistsError(f"{_uri(location)} exists already (pass exist_ok=True to open it)")
                # what is there is returned as it is: intern.create_like checks, for every driver, that it matches
                return self._resource(location, existing, "a", engine)  # type: ignore[return-value]
            if location.is_local and location.exists() and location.listdir():
                raise AlreadyExistsError(f"{location.path} exists and is not a Zarr node; intern will not write "
                                         "into it")
            self._write_group(location, metadata, compressor, shards, name or location.name)
            return self._resource(location, self._node(location), "a", engine)  # type: ignore[return-value]

    # -- helpers ------------------------------------------------------------------------------------------------
    @staticmethod
    def _node(location: Location) -> Any:
        """The zarr-python array or group at ``location``, opened read-only (metadata only; engines write)."""
        import zarr

        try:
            return zarr.open(store=location.zarr_store(read_only=True), mode="r")
        except (FileNotFoundError, KeyError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
            # what zarr-python raises for absent metadata and for damaged metadata alike: the files tell which
            present = present_metadata_files(location)
            if present:
                raise metadata_error(location, present, exc) from exc
            if location.exists():
                raise NotFoundError(f"{_uri(location)} is not a Zarr array or group (no zarr.json, .zarray or "
                                    ".zgroup there)") from exc
            raise NotFoundError(f"{_uri(location)} does not exist") from exc

    def _resource(self, location: Location, node: Any, mode: str, engine: dict[str, Any]) -> ZarrVolume | ZarrGroup:
        where = _uri(location)
        under_labels = location.parent.name == "labels"
        attrs = dict(node.attrs)
        try:
            if _is_array(node):
                return ZarrVolume(self, location, array_layout(node, where=where, under_labels=under_labels), [node],
                                  mode=mode, **engine)
            found = find_multiscales(attrs)
            if found is None:
                return ZarrGroup(self, location, attrs, mode=mode)
            arrays = []
            for ds in found[1].get("datasets") or []:
                try:
                    arrays.append(node[str(ds["path"])])
                except KeyError:
                    raise MetadataError(f"{where}: multiscales names dataset {ds.get('path')!r}, which is missing") \
                        from None
            layout = multiscales_layout(attrs, arrays, where=where, under_labels=under_labels)
        except ValidationError as exc:
            # an array's shape or data type that makes no intern volume is a fault of its own metadata file
            named = metadata_file(location, node) if _is_array(node) else where
            message = str(exc.errors()[0].get("msg", exc)).removeprefix("Value error, ")
            raise MetadataError(f"{named}: {message}") from None
        return ZarrVolume(self, location, layout, arrays, mode=mode, **engine)

    @staticmethod
    def _write_group(location: Location, metadata: VolumeMetadata, compressor: Any, shards: Any, name: str) -> Any:
        import zarr

        levels = [lv if lv.key else lv.model_copy(update={"key": str(i)}) for i, lv in enumerate(metadata.scales)]
        metadata = metadata.model_copy(update={"scales": tuple(levels)})
        own: dict[str, Any] = {"kind": metadata.kind}
        if metadata.attributes:
            own["attributes"] = _jsonable(metadata.attributes)
        store = location.zarr_store(read_only=False)
        group = zarr.create_group(store=store, zarr_format=3, overwrite=False,
                                  attributes={"ome": ome_attributes(metadata, name=name), "intern": own})
        codecs = compressors_for(compressor, metadata.numpy_dtype, metadata.kind)
        if shards is not None and len(tuple(shards)) != len(metadata.axes):
            raise MetadataError(f"shards {tuple(shards)} must give every axis {metadata.axes}")
        for level in metadata.scales:
            group.create_array(name=level.key, shape=level.shape, chunks=level.chunks, dtype=metadata.numpy_dtype,
                               shards=None if shards is None else tuple(int(s) for s in shards),
                               compressors=codecs, fill_value=0, dimension_names=list(metadata.axes))
        return group


def _engine_options(options: dict[str, Any]) -> dict[str, Any]:
    """Take ``engine`` and ``cache_bytes`` out of ``options``."""
    cache_bytes = options.pop("cache_bytes", None)  # an int: the core parsed it
    engine = options.pop("engine", None)
    if engine == "tensorstore":
        require("tensorstore", "tensorstore", "engine='tensorstore'")
    return {"engine": engine, "cache_bytes": None if cache_bytes is None else max(0, cache_bytes)}


def _is_array(node: Any) -> bool:
    return hasattr(node, "shape") and hasattr(node, "dtype")


def _jsonable(attributes: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        return json.loads(json.dumps(attributes))
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"attributes must be JSON-serialisable to be stored in Zarr: {exc}") from None
