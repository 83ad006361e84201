"""``h5://`` (and ``hdf5://``): datasets in local HDF5 files, through h5py.

``h5:///data/sample.h5/volumes/raw`` names dataset ``volumes/raw`` of file ``/data/sample.h5``: the file ends at
the first path component ending ``.h5`` or ``.hdf5``. One scale level per dataset.

HDF5 files are not safe to use from several threads at once, and one process cannot open a file twice in different
modes, so every file has one shared handle and one lock in this process (:class:`_OpenFiles`): reads keep the file
open read-only, the first write reopens it in append mode and keeps it so. Volumes take whole reads and writes (``VolumeIO``) so the
core hands over whole requests (HDF5 does partial-chunk writes itself) instead of fanning out threads that would
only queue on the lock.
"""

from __future__ import annotations

import atexit
import os
import re
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
from intern.plugin import URI, Box, Option, OptionSet, ScaleLevel, VolumeIO, VolumeMetadata, shared_remote

from ._errors import translated, translating
from ._extras import require
from ._ome import native

__all__ = ["H5Group", "H5Remote", "H5Volume", "close_files", "split_path"]

_FILE = re.compile(r"\.(h5|hdf5)$", re.IGNORECASE)
_DEFAULT_AXES = {3: ("z", "y", "x"), 4: ("c", "z", "y", "x"), 5: ("t", "c", "z", "y", "x")}
#: chosen by measurement (COMPRESSION.md): deflate is in every HDF5 build, so other tools read the files
DEFAULT_COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 1}


def split_path(path: str) -> tuple[str, str]:
    """(the file's absolute path, the object's path inside it) of ``/dir/file.h5/group/dataset``.

    The file ends at the first component ending ``.h5``/``.hdf5`` (any case); with none, the whole path is the file
    (or a directory) and the inner path is empty.
    """
    absolute = os.path.abspath(os.path.expanduser(path))
    parts = absolute.split("/")
    for i, part in enumerate(parts):
        if i and _FILE.search(part):
            return "/".join(parts[: i + 1]), "/".join(p for p in parts[i + 1:] if p)
    return absolute, ""


class _OpenFiles:
    """One h5py handle and one lock per file in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._ids: dict[str, tuple[int, int]] = {}

    def lock(self, path: str) -> threading.RLock:
        with self._lock:
            return self._locks.setdefault(path, threading.RLock())

    def get(self, path: str, *, write: bool = False, create: bool = False) -> Any:
        """The open file (call with :meth:`lock` held); reopened in append mode for a write."""
        import h5py

        handle = self._handles.get(path)
        if handle is not None and (not handle.id.valid or self._replaced(path)):
            self._close(path)  # the file was closed by h5py or replaced on disk since we opened it
            handle = None
        if handle is not None and write and handle.mode == "r":
            self._close(path)
            handle = None
        if handle is None:
            if not create and not os.path.isfile(path):
                raise NotFoundError(f"HDF5 file {path} does not exist")
            try:
                handle = h5py.File(path, "a" if (write or create) else "r")
            except OSError as exc:
                if "signature" in str(exc).lower():
                    raise NotFoundError(f"{path} is not an HDF5 file") from exc
                raise
            self._handles[path] = handle
            st = os.stat(path)
            self._ids[path] = (st.st_dev, st.st_ino)
        return handle

    def _replaced(self, path: str) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self._ids.get(path)

    def _close(self, path: str) -> None:
        handle = self._handles.pop(path, None)
        if handle is not None:
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - a handle h5py already invalidated has nothing left to close
                pass

    def close_all(self) -> None:
        for path in list(self._handles):
            with self.lock(path):
                self._close(path)


_FILES = _OpenFiles()
atexit.register(_FILES.close_all)


def close_files() -> None:
    """Close every HDF5 file this process holds open (they reopen on the next use)."""
    _FILES.close_all()


def _uri(file: str, inner: str, mode: str = "a") -> str:
    text = f"h5://{file}" + (f"/{inner}" if inner else "")
    return text + ("?mode=r" if mode == "r" else "")


def _voxel_size(attrs: Any) -> tuple[float, float, float]:
    # intern's own attribute, then CREMI's ``resolution`` (nm) and ilastik/Fiji's ``element_size_um``
    for key, factor in (("voxel_size", 1.0), ("resolution", 1.0), ("element_size_um", 1000.0)):
        if key in attrs:
            values = np.asarray(attrs[key], dtype=float).ravel()
            if values.size >= 3 and np.all(values[-3:] > 0):
                return tuple(float(v) * factor for v in values[-3:])  # type: ignore[return-value]
    return (1.0, 1.0, 1.0)


def _metadata(ds: Any, where: str) -> VolumeMetadata:
    attrs = ds.attrs
    ndim = len(ds.shape)
    axes = tuple(str(a.decode() if isinstance(a, bytes) else a) for a in attrs["axes"]) if "axes" in attrs \
        else _DEFAULT_AXES.get(ndim)
    if axes is None:
        raise MetadataError(f"{where}: a {ndim}-D dataset; intern reads 3-D (z, y, x) to 5-D (t, c, z, y, x) data")
    kind = attrs.get("kind", "image")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    chunks = ds.chunks or tuple([1] * (ndim - 3) + [max(1, min(64, s)) for s in ds.shape[-3:]])
    try:
        return VolumeMetadata(
            axes=axes, dtype=native(ds.dtype), kind=kind if kind in ("image", "segmentation") else "image",
            scales=(ScaleLevel(shape=ds.shape, chunks=chunks, voxel_size=_voxel_size(attrs), key=ds.name),),
            attributes={"hdf5_compression": ds.compression},
        )
    except ValidationError as exc:
        raise MetadataError(f"{where}: {exc.errors()[0].get('msg', exc)}") from None


class H5Volume:
    """One HDF5 dataset as a single-scale intern volume."""

    io: ClassVar[VolumeIO] = VolumeIO(whole_reads=True, whole_writes=True)

    def __init__(self, remote: H5Remote, file: str, inner: str, metadata: VolumeMetadata, *, mode: str) -> None:
        self._remote = remote
        self._file = file
        self._inner = inner
        self._mode = mode
        self.metadata = metadata

    @property
    def uri(self) -> str:
        return _uri(self._file, self._inner, self._mode)

    @property
    def remote(self) -> H5Remote:
        return self._remote

    @property
    def writable(self) -> bool:
        return self._mode != "r"

    @translated
    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        out = np.empty(box.shape, dtype=self.metadata.numpy_dtype)
        with _FILES.lock(self._file):
            ds = _FILES.get(self._file)[self._inner]
            # straight into an array we own: no copy here, and none in the core
            ds.read_direct(out, source_sel=box.to_slices())
        return out

    @translated
    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        if not self.writable:
            raise ReadOnlyError(f"{self.uri} is open read-only (mode='r')")
        with _FILES.lock(self._file):
            handle = _FILES.get(self._file, write=True)
            handle[self._inner][box.to_slices()] = data
            handle.flush()  # other readers of the file see whole writes, and a crash loses no finished one

    def __repr__(self) -> str:
        return f"<H5Volume {self.uri}>"


class H5Group:
    """An HDF5 file or group: a container whose datasets ``intern.ls`` lists."""

    def __init__(self, remote: H5Remote, file: str, inner: str, *, mode: str) -> None:
        self._remote = remote
        self._file = file
        self._inner = inner
        self._mode = mode

    @property
    def uri(self) -> str:
        return _uri(self._file, self._inner, self._mode)

    @property
    def remote(self) -> H5Remote:
        return self._remote

    def ls(self) -> list[str]:
        return self._remote.ls(f"{self._file}/{self._inner}")

    def __repr__(self) -> str:
        return f"<H5Group {self.uri}>"


class H5Remote:
    """Local HDF5 files (one remote per process)."""

    scheme: ClassVar[str] = "h5"
    declared_options: ClassVar[OptionSet] = OptionSet(
        "h5",
        Option("mode", str, "a", choices=("r", "r+", "a"), help="'r' read-only; 'a' or 'r+' read and write"),
        Option("compression", object, "default", creation_only=True,
               help="'default' (gzip level 1), None, or an h5py compression ('lzf', 'gzip')"),
        Option("compression_opts", object, None, creation_only=True, help="the h5py compression's options"),
    )

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[H5Remote, str]:
        require("h5py", "hdf5", f"{uri.scheme}:// (HDF5 files)")
        if "://" in uri.rest:
            raise InvalidURIError(f"{uri}: h5:// reads local files only; copy remote HDF5 files first")
        # one remote for every local file; the files' handles and locks are the module's (_FILES)
        return shared_remote(cls.scheme, None, cls), os.path.abspath(os.path.expanduser(uri.rest))

    @staticmethod
    def _mode(options: dict[str, Any]) -> str:
        return str(options.pop("mode", "a"))  # the core checked it against declared_options

    def open(self, path: str, **options: Any) -> H5Volume | H5Group:
        """The dataset (a volume) or group at ``path``; ``mode="r"`` opens it read-only.

        Raises:
            NotFoundError: no such file, not an HDF5 file, or no such object in it.
        """
        options = dict(options)
        mode = self._mode(options)
        if options:  # the one option is mode: anything else is a mistake, not something to ignore
            raise ParameterError(f"unknown option(s) for h5:// open: {', '.join(sorted(options))} (known: mode)")
        file, inner = split_path(path)
        with translating(_uri(file, inner)):
            with _FILES.lock(file):
                obj = self._object(file, inner)
                if hasattr(obj, "shape"):
                    return H5Volume(self, file, inner, _metadata(obj, _uri(file, inner)), mode=mode)
            return H5Group(self, file, inner, mode=mode)

    def ls(self, path: str = "") -> list[str]:
        """Objects in a file or group; entries of a directory; nothing for a dataset."""
        file, inner = split_path(path or ".")
        with translating(_uri(file, inner)):
            if os.path.isdir(file):
                return sorted(os.listdir(file))
            with _FILES.lock(file):
                obj = self._object(file, inner)
                return [] if hasattr(obj, "shape") else sorted(obj.keys())

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, compression: Any = "default",
               compression_opts: Any = None, **options: Any) -> H5Volume:
        """Make a chunked dataset (and its file and groups as needed).

        Args:
            compression: ``"default"`` (gzip level 1, see ``COMPRESSION.md``), ``None`` for none, or any h5py
                compression (``"lzf"``, ``"gzip"``) with ``compression_opts``.

        Raises:
            MetadataError: more than one scale level (HDF5 volumes are single-scale here).
            AlreadyExistsError: the dataset exists and ``exist_ok`` is false (with ``exist_ok``, intern.create checks
                that what is there matches ``metadata``).
        """
        options = dict(options)
        self._mode(options)
        if options:
            raise ParameterError(f"unknown option(s) for h5:// create: {', '.join(sorted(options))}")
        file, inner = split_path(path)
        if not inner:
            raise InvalidURIError(f"{_uri(file, inner)} names a file; name a dataset in it: h5://{file}/volume")
        if len(metadata.scales) > 1:
            raise MetadataError(f"{_uri(file, inner)}: HDF5 volumes are single-scale; create scales=1 (or use zarr://)")
        with translating(_uri(file, inner)), _FILES.lock(file):
            handle = _FILES.get(file, write=True, create=True)
            if inner in handle:
                if not exist_ok:
                    raise AlreadyExistsError(f"{_uri(file, inner)} exists already (pass exist_ok=True to open it)")
                obj = handle[inner]
                # what is there is returned as it is: intern.create_like checks, for every driver, that it matches
                if not hasattr(obj, "shape"):
                    return H5Group(self, file, inner, mode="a")  # type: ignore[return-value]
                return H5Volume(self, file, inner, _metadata(obj, _uri(file, inner)), mode="a")
            level = metadata.scales[0]
            opts = dict(DEFAULT_COMPRESSION) if compression == "default" else \
                {"compression": compression, "compression_opts": compression_opts}
            chunks = tuple(max(1, min(c, s)) for c, s in zip(level.chunks, level.shape, strict=True)) if all(level.shape) else None
            ds = handle.create_dataset(inner, shape=level.shape, dtype=metadata.numpy_dtype, chunks=chunks,
                                       fillvalue=0, **opts)
            ds.attrs["voxel_size"] = np.asarray(level.voxel_size, dtype=float)
            ds.attrs["kind"] = metadata.kind
            ds.attrs["axes"] = list(metadata.axes)
            handle.flush()
            return H5Volume(self, file, inner, _metadata(ds, _uri(file, inner)), mode="a")

    @staticmethod
    def _object(file: str, inner: str) -> Any:
        if os.path.isdir(file):
            raise NotFoundError(f"{file} is a directory; name a file ending .h5 or .hdf5 (and a dataset in it)")
        handle = _FILES.get(file)
        if inner and inner not in handle:
            raise NotFoundError(f"{_uri(file, inner)}: the file has no object {inner!r} (it has: "
                                f"{', '.join(sorted(handle.keys())) or 'nothing'})")
        return handle[inner] if inner else handle
