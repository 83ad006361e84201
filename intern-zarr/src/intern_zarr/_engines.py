"""The two engines that move voxels between numpy and a Zarr array.

- :class:`TensorStoreEngine` for local stores and ``s3://``: one TensorStore read or write per request. TensorStore
  splits it along the chunk grid, runs codecs and I/O on its own thread pools, merges partial chunks itself and
  reads straight into the caller's buffer. On files each chunk's read-modify-write is committed conditionally (a
  locked rename), so concurrent writers, even in other processes, never lose each other's voxels
  (``atomic_chunks``). TensorStore's S3 driver does not promise that atomicity, so there chunks equal to the fill
  value are stored rather than deleted (S3 deletes are not atomic), and the core's per-chunk locks keep the writers
  of this process apart.
  Measured faster than zarr-python in every case of ``bench/bench_zarr.py``, and 3-4x faster on S3 reads (README,
  Engine).
- :class:`ZarrPythonEngine` where TensorStore is not installed (it comes with the ``tensorstore`` extra), for other fsspec URLs (``https://``, ``gs://``...), S3 set up with fsspec options
  TensorStore cannot express, and arrays whose codecs TensorStore does not know. zarr-python fetches and decodes
  chunks concurrently; its read-modify-write of partial chunks is not atomic, so it runs under the core's chunk
  locks (:mod:`intern.plugin`): in this process always, and across processes where the array is in a local
  directory.

Both take and return arrays in the *stored* axis order; :mod:`intern_zarr._zarr` transposes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from ._extras import installed
from ._location import Location

__all__ = ["DEFAULT_CACHE_BYTES", "Engine", "TensorStoreEngine", "ZarrPythonEngine", "open_engine", "ts_context"]

Slices = tuple[slice, ...]


class Engine(Protocol):
    """Reads and writes boxes (given as slices) of one stored array.

    Attributes:
        name: ``"tensorstore"`` or ``"zarr-python"``.
        atomic_chunks: whether the engine commits each chunk's read-modify-write atomically against other
            processes by itself (see :class:`intern.plugin.LevelStorage`).
    """

    name: str
    atomic_chunks: bool

    def read(self, slices: Slices) -> np.ndarray:
        """The voxels at ``slices`` as a new C-order array the caller owns."""
        ...

    def write(self, slices: Slices, data: np.ndarray) -> None:
        """Store ``data`` at ``slices``; voxels of partly covered chunks outside ``slices`` keep their values."""
        ...


#: decoded chunks TensorStore keeps per process unless the ``[zarr]`` config says ``cache_bytes``
DEFAULT_CACHE_BYTES = 256 << 20


def cache_bytes_from_config() -> int:
    """The chunk cache size: ``cache_bytes`` in the ``[zarr]`` config section (or ``INTERN_ZARR_CACHE_BYTES``)."""
    from intern.plugin import config_section

    value = config_section("zarr").get("cache_bytes")
    try:
        return DEFAULT_CACHE_BYTES if value is None else max(0, int(value))
    except ValueError:
        raise ValueError(f"[zarr] cache_bytes must be a whole number of bytes, got {value!r}") from None


@lru_cache(maxsize=4)
def ts_context(cache_bytes: int) -> Any:
    """The TensorStore context the handles of this process share (one per cache size).

    One shared context means one set of thread pools, concurrency limits and one chunk cache for all open volumes,
    instead of a pool per volume. The cache holds decoded chunks, so a read that touches chunks read before (a
    halo, a neighbouring cutout, a second pass) skips decoding them; it never serves stale data, because TensorStore
    revalidates a cached chunk against the file's generation on every read (a ``stat``). Thread and I/O limits
    stay TensorStore's defaults: tuning them made no difference beyond noise (see README, Engine).
    """
    import tensorstore as ts

    return ts.Context({"cache_pool": {"total_bytes_limit": int(cache_bytes)}})


class TensorStoreEngine:
    """One TensorStore handle on a zarr v2 or v3 array (local file, or S3), opened once and reused."""

    name = "tensorstore"

    def __init__(self, kvstore: dict[str, Any], zarr_format: int, *, writable: bool, cache_bytes: int) -> None:
        import tensorstore as ts

        self._ts = ts
        spec: dict[str, Any] = {"driver": "zarr3" if zarr_format == 3 else "zarr", "kvstore": kvstore}
        atomic = kvstore.get("driver") == "file"
        if not atomic:
            spec["store_data_equal_to_fill_value"] = True
        self._store = ts.open(spec, open=True, read=True, write=writable, context=ts_context(cache_bytes)).result()
        self.atomic_chunks = atomic

    def read(self, slices: Slices) -> np.ndarray:
        source = self._store[slices]
        out = np.empty(source.shape, dtype=source.dtype.numpy_dtype)
        # reading into our own array spares the copy the core would make of TensorStore's borrowed result, and is
        # measurably faster than ``source.read()`` on large reads (bench/bench_zarr.py)
        self._ts.array(out, copy=False, write=True).write(source).result()
        return out

    def write(self, slices: Slices, data: np.ndarray) -> None:
        self._store[slices].write(data).result()


class ZarrPythonEngine:
    """A zarr-python array (any store zarr-python reaches: fsspec URLs, local paths)."""

    name = "zarr-python"
    atomic_chunks = False

    def __init__(self, location: Location, *, writable: bool) -> None:
        import zarr

        store = location.zarr_store(read_only=not writable)
        self._array = zarr.open_array(store=store, mode="r+" if writable else "r")

    def read(self, slices: Slices) -> np.ndarray:
        data = np.asarray(self._array[slices])
        # intern volumes are in native byte order; a big-endian zarr v2 array is converted here, once
        return np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("=") if data.dtype.byteorder == ">" else None)

    def write(self, slices: Slices, data: np.ndarray) -> None:
        self._array[slices] = data


def open_engine(location: Location, zarr_format: int, *, writable: bool, prefer: str | None = None,
                cache_bytes: int | None = None) -> Engine:
    """The engine for the array of ``zarr_format`` (2 or 3) stored at ``location``.

    TensorStore for local stores and ``s3://`` (see :meth:`Location.ts_kvstore`) when it is installed (the
    ``tensorstore`` extra) unless ``prefer="zarr-python"``; zarr-python otherwise, for other URLs, and as the
    fallback when TensorStore cannot open the array (codecs or filters it does not implement, S3 options it cannot
    express). ``cache_bytes`` picks the chunk cache (default: the ``[zarr]`` config's ``cache_bytes``, else 256
    MiB; 0 turns it off).
    """
    use_ts = prefer != "zarr-python" and installed("tensorstore")
    kvstore = location.ts_kvstore() if use_ts else None
    if kvstore is not None:
        try:
            cache = cache_bytes_from_config() if cache_bytes is None else int(cache_bytes)
            return TensorStoreEngine(kvstore, zarr_format, writable=writable, cache_bytes=cache)
        except ValueError:
            pass  # e.g. a numcodecs filter TensorStore lacks: zarr-python reads every array zarr-python wrote
    return ZarrPythonEngine(location, writable=writable)
