"""A neuroglancer precomputed volume as an intern volume: chunk reads and writes through cloud-volume's codecs.

The core cuts every request on the chunk grid and runs the pieces on its thread pool (its ``VolumeIO``
asks for single chunks), so this module only reads and writes single chunks:

- a read fetches one chunk file through cloud-files (or, for a sharded scale, one chunk out of its shard through
  cloud-volume's shard reader), decodes it with cloud-volume's codecs, and returns the part asked for;
- a write encodes one whole chunk and stores it. The core holds the chunk's lock meanwhile, also against other
  processes on a local disk, where :meth:`PrecomputedVolume.level_storage` names the scale's folder.

Precomputed stores a chunk as ``[x, y, z, c]`` in Fortran order, which is byte for byte a ``[c, z, y, x]`` array in C
order. The conversion to intern's (c,) z, y, x order is therefore ``array.T``: a view, no copy, no transpose loop,
done once per chunk here. The same holds for writes in the other direction.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, ClassVar, Literal

import numpy as np

from intern.errors import InvalidURIError, MetadataError, NotFoundError, ReadOnlyError
from intern.plugin import Box, LevelStorage, VolumeIO, VolumeMetadata, parse_bool, write_atomic

from ._cseg import layout_fault
from ._errors import translated, translating
from ._info import LevelInfo, levels_from_info, metadata_from_info
from ._location import Location

__all__ = ["MODES", "PrecomputedVolume", "compress_option", "volume_uri"]

MODES = ("r", "r+", "a")
#: what ``compress=`` takes; ``None`` is cloud-volume's rule (gzip for raw and compressed_segmentation)
_COMPRESSORS = ("gzip", "br", "zstd")
#: every suffix cloud-files gives a compressed file on a local disk
_SUFFIXES = ("", ".gz", ".br", ".zstd", ".xz", ".bz2")
_METHODS = {"": None, ".gz": "gzip", ".br": "br", ".zstd": "zstd", ".xz": "xz", ".bz2": "bz2"}


def compress_option(value: Any) -> str | Literal[False] | None:
    """``compress=`` as cloud-files takes it: ``None`` (the encoding's default), ``False``, or a method name."""
    if value is None or value is False or value in _COMPRESSORS:
        return value
    text = str(value).strip().lower()
    if text in ("", "default"):
        return None
    if text in _COMPRESSORS:
        return text
    if text == "none":
        return False
    try:  # yes or no, spelt as every boolean option is (intern.plugin.parse_bool)
        return "gzip" if parse_bool(value, "compress") else False
    except InvalidURIError:
        raise InvalidURIError(f"compress={value!r}: use 'gzip', 'br', 'zstd', 'none', or leave it out for the "
                              "encoding's default (gzip for raw and compressed_segmentation)") from None


def volume_uri(location: Location, *, mode: str = "r+", fill_missing: bool = True) -> str:
    """The URI that opens the volume again; a read-only mode and strict reads travel with it (not on http(s),
    whose query belongs to the server)."""
    text = f"precomputed://{location.url}"
    query = []
    if mode == "r" and not location.read_only_protocol:
        query.append("mode=r")
    if not fill_missing:
        query.append("fill_missing=false")
    if query and not location.read_only_protocol:
        text += "?" + "&".join(query)
    return text


class PrecomputedVolume:
    """One precomputed volume (every scale listed in its ``info``).

    Chunks that were never written read as zeros, as neuroglancer and TensorStore show them; ``fill_missing=False``
    makes a missing chunk a :class:`~intern.errors.NotFoundError` instead. Sharded scales are read-only.
    """

    io: ClassVar[VolumeIO] = VolumeIO()

    def __init__(self, remote: Any, location: Location, info: dict[str, Any], *, mode: str = "r+",
                 fill_missing: Any = True, compress: Any = None) -> None:
        self._remote = remote
        self._location = location
        self._mode = mode
        self._fill_missing = parse_bool(fill_missing, "fill_missing")
        self._compress = compress_option(compress)
        # what is wrong with the metadata is wrong in the info file: messages name it
        where = (location.local_path if location.is_local else location.url) + "/info"
        self.info = info
        self._levels: list[LevelInfo] = levels_from_info(info, where=where)
        self._metadata = metadata_from_info(info, self._levels, where=where)
        self._dtype = self._metadata.numpy_dtype
        self._channels = int(info.get("num_channels", 1))
        self._files = location.cloudfiles()
        self._lock = threading.Lock()
        self._cloudvolume: Any = None
        self._shard_readers: dict[int, Any] = {}
        self._suffix_order: tuple[str, ...] = _SUFFIXES
        self._root = location.local_path + "/" if location.is_local else ""

    # -- what it is ---------------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return volume_uri(self._location, mode=self._mode, fill_missing=self._fill_missing)

    @property
    def remote(self) -> Any:
        return self._remote

    @property
    def metadata(self) -> VolumeMetadata:
        return self._metadata

    @property
    def location(self) -> Location:
        return self._location

    @property
    def writable(self) -> bool:
        return self._mode != "r" and not self._location.read_only_protocol

    @property
    def levels(self) -> list[LevelInfo]:
        """Each scale as precomputed describes it (key, encoding, sharding, x/y/z sizes)."""
        return list(self._levels)

    def level_storage(self, scale: int) -> LevelStorage:
        """Where scale ``scale`` lives, for the core's chunk locks: its folder of chunk files on a local disk (the core
        locks chunks across processes there), nothing on object stores (locks within this process only)."""
        if not self._location.is_local:
            return LevelStorage()
        return LevelStorage(local_directory=os.path.join(self._location.local_path, *self._levels[scale].key.split("/")))

    def cloudvolume(self) -> Any:
        """A ``cloudvolume.CloudVolume`` on this volume (made on first use), for what intern does not wrap."""
        with self._lock:
            if self._cloudvolume is None:
                from cloudvolume import CloudVolume

                self._cloudvolume = CloudVolume(self._location.cloudpath, secrets=self._location.secrets,
                                                progress=False, parallel=1, fill_missing=self._fill_missing,
                                                cache=False)
            return self._cloudvolume

    # -- voxels -------------------------------------------------------------------------------------------------
    @translated
    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        level = self._levels[scale]
        # the core hands boxes inside one chunk: round the box out to that chunk, clipped to the level
        (z0, y0, x0), (bz, by, bx) = box.start[-3:], box.stop[-3:]
        cx, cy, cz = level.chunk
        sx, sy, sz = level.size
        x0, y0, z0 = x0 - x0 % cx, y0 - y0 % cy, z0 - z0 % cz
        x1, y1, z1 = min(x0 + cx, sx), min(y0 + cy, sy), min(z0 + cz, sz)
        zs, ze = box.start[-3] - z0, bz - z0  # the planes of the chunk the box needs
        name = level.chunk_name(x0, x1, y0, y1, z0, z1)
        if level.sharded:
            content = self._fetch_sharded(level, scale, x0, y0, z0)
        elif self._location.is_local:
            if level.encoding == "raw" and self._channels == 1:
                # raw chunks are planes of z one after the other: read only the planes the box needs
                plane = (x1 - x0) * (y1 - y0) * self._dtype.itemsize
                content = self._get_local(name, zs * plane, ze * plane)
                if content is not None and len(content) == (ze - zs) * plane:
                    z0, z1, zs, ze = z0 + zs, z0 + ze, 0, ze - zs
            else:
                content = self._get_local(name)
        else:
            with translating(f"{self.uri}: chunk {name}"):  # a damaged chunk is named, whatever decompressed it
                content = self._files.get(name)
        if content is None:
            if self._fill_missing:
                return np.zeros(box.shape, self._dtype)
            raise NotFoundError(f"{self.uri}: chunk {name} is missing (open with fill_missing=true to read missing "
                                "chunks as zeros)")
        shape = (x1 - x0, y1 - y0, z1 - z0, self._channels)
        if level.encoding == "raw":  # cloud-volume's raw decoding, without its per-call checks
            need = shape[0] * shape[1] * shape[2] * shape[3] * self._dtype.itemsize
            if len(content) != need:
                raise MetadataError(f"{self.uri}: chunk {name} holds "
                                    f"{len(content)} bytes; {shape} voxels of {self._dtype} need {need}")
            decoded = np.frombuffer(content, dtype=self._dtype).reshape(shape, order="F")
        else:
            from cloudvolume import chunks

            if level.encoding == "compressed_segmentation":
                # its decoder trusts the chunk's offsets: a damaged chunk would crash the process, not raise
                fault = layout_fault(content, shape, level.block_size or (8, 8, 8), self._dtype)
                if fault:
                    raise MetadataError(f"{self.uri}: chunk {name} is damaged: {fault} (compressed_segmentation)")
            try:
                decoded = chunks.decode(content, level.encoding, shape=shape, dtype=self._dtype,
                                        block_size=level.block_size)
            except Exception as exc:  # each codec fails its own way on damaged bytes
                raise MetadataError(f"{self.uri}: chunk {name} does not decode as {level.encoding} "
                                    f"({type(exc).__name__}: {exc})") from exc
        # [x, y, z, c] in Fortran order is [c, z, y, x] in C order: .T is the conversion, and a view
        data = decoded.T if type(decoded) is np.ndarray else np.asarray(decoded).T
        if data.dtype != self._dtype:  # png decodes to its own type; the info's dtype is what intern promises
            data = data.astype(self._dtype)
        within = (slice(zs, ze), slice(box.start[-2] - y0, by - y0), slice(box.start[-1] - x0, bx - x0))
        if len(box.start) == 3:
            return data[(0, *within)]
        return data[(slice(box.start[0], box.stop[0]), *within)]

    def _get_local(self, name: str, start: int | None = None, stop: int | None = None) -> bytes | None:
        """A local chunk file's content, decompressed; ``None`` when there is none.

        cloud-files spends more on bookkeeping than on reading a local chunk, so it is read here directly, trying
        first the compression suffix the last chunk had. ``start``/``stop`` read only that byte range of an
        uncompressed file (a compressed one is read whole: its caller checks the length it got).
        """
        base = self._root + name
        order = self._suffix_order
        for suffix in order:
            try:
                fd = os.open(base + suffix, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if suffix or start is None:
                    content = os.pread(fd, os.fstat(fd).st_size, 0)
                else:
                    content = os.pread(fd, stop - start, start)  # type: ignore[operator]
            finally:
                os.close(fd)
            if suffix != order[0]:
                self._suffix_order = (suffix,) + tuple(s for s in order if s != suffix)
            if not suffix:
                return content
            from cloudfiles import compression

            try:
                return compression.decompress(content, _METHODS[suffix])
            except Exception as exc:  # DeflateError, zlib.error, brotli.error...: each codec has its own
                raise MetadataError(f"{self.uri}: chunk file {base + suffix} is damaged: it does not decompress as "
                                    f"{_METHODS[suffix]} ({type(exc).__name__}: {exc}); restore it, or delete it to "
                                    "read the chunk as missing") from exc
        return None

    def _fetch_sharded(self, level: LevelInfo, scale: int, x0: int, y0: int, z0: int) -> bytes | None:
        from cloudvolume.datasource.precomputed.common import compressed_morton_code

        cx, cy, cz = level.chunk
        grid = [-(-n // c) for n, c in zip(level.size, level.chunk, strict=True)]
        code = compressed_morton_code((x0 // cx, y0 // cy, z0 // cz), grid)
        return self._shard_reader(scale, level).get_data(int(code), level.key)

    def _shard_reader(self, scale: int, level: LevelInfo) -> Any:
        reader = self._shard_readers.get(scale)
        if reader is None:
            from cloudvolume.datasource.precomputed.sharding import ShardingSpecification, ShardReader

            cv = self.cloudvolume()
            with self._lock:
                reader = self._shard_readers.get(scale)
                if reader is None:
                    spec = ShardingSpecification.from_dict(level.sharding)
                    reader = self._shard_readers[scale] = ShardReader(cv.meta.cloudpath, cv.cache, spec)
        return reader

    @translated
    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        if not self.writable:
            why = "a plain HTTP server takes no writes" if self._location.read_only_protocol else "it is open with mode='r'"
            raise ReadOnlyError(f"{self.uri} cannot be written: {why}")
        level = self._levels[scale]
        if level.sharded:
            raise ReadOnlyError(f"{self.uri}: scale {scale} ({level.key}) is sharded; intern writes only unsharded "
                                "scales (re-shard with igneous after writing unsharded)")
        from cloudvolume import chunks
        from cloudvolume.datasource.precomputed.common import content_type

        (z0, y0, x0), (z1, y1, x1) = box.start[-3:], box.stop[-3:]
        # C-order [c,] z, y, x is Fortran-order [x, y, z, c]: .T again, a view
        block = data.T if data.ndim == 4 else data.T[..., np.newaxis]
        content = chunks.encode(block, level.encoding, block_size=level.block_size)
        name = level.chunk_name(x0, x1, y0, y1, z0, z1)
        method = self._compression(level)
        if self._location.is_local:
            self._put_local(name, content, method)
        else:
            self._files.put(name, content, content_type=content_type(level.encoding), compress=method,
                            cache_control="no-cache")

    @translated
    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str | None:
        """The stored state of every chunk file holding voxels of ``box``, without reading them.

        On a local disk one ``stat`` per file and compression suffix (inode, size, ``mtime_ns``; chunks are
        written by renaming a new file over the old); elsewhere one ``HEAD`` per object (ETag, size, modification
        time). A missing chunk is a state of its own. ``None`` for a sharded scale: a shard holds many chunks, and
        which shard holds a chunk takes its index to find out.
        """
        level = self._levels[scale]
        if level.sharded:
            return None
        sx, sy, sz = level.size
        cx, cy, cz = level.chunk
        (z0, y0, x0), (z1, y1, x1) = box.start[-3:], box.stop[-3:]
        names = [level.chunk_name(x, min(x + cx, sx), y, min(y + cy, sy), z, min(z + cz, sz))
                 for z, y, x in itertools.product(range(z0 - z0 % cz, z1, cz), range(y0 - y0 % cy, y1, cy),
                                                  range(x0 - x0 % cx, x1, cx))]
        if self._location.is_local:
            return "\n".join(f"{name} {self._local_state(name)}" for name in names)
        heads = self._files.head(names)
        states = []
        for name in names:
            head = heads.get(name)
            fields = ("ETag", "Content-Length", "Last-Modified", "Content-Encoding")
            states.append(f"{name} -" if head is None else " ".join([name, *(str(head.get(f)) for f in fields)]))
        return "\n".join(states)

    def _local_state(self, name: str) -> str:
        states = []
        for suffix in _SUFFIXES:  # every variant a reader might pick up
            try:
                st = os.stat(self._root + name + suffix)
            except FileNotFoundError:
                continue
            states.append(f"{suffix or '.'}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        return " ".join(states) or "-"

    def _compression(self, level: LevelInfo) -> str | None:
        if self._compress is None:
            # a local ".gz" chunk is cloud-volume's own convention, which neither TensorStore nor a static file
            # server behind neuroglancer understands: by default local chunks stay uncompressed. Object stores
            # carry gzip as Content-Encoding, which every reader handles, so there cloud-volume's rule holds.
            if self._location.is_local:
                return None
            return "gzip" if level.encoding in ("raw", "compressed_segmentation", "compresso", "crackle") else None
        return self._compress or None

    def _put_local(self, name: str, content: bytes, method: str | None) -> None:
        # cloud-files writes local files in place (a reader can catch half a chunk) and leaves a chunk stored under
        # another compression suffix beside the new one (a reader may pick the stale one): write atomically and
        # remove the other variants
        from cloudfiles import compression

        path = os.path.join(self._location.local_path, *name.split("/"))
        suffix = {None: "", "gzip": ".gz", "br": ".br", "zstd": ".zstd"}[method]
        if method:
            content = compression.compress(content, method)
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        write_atomic(path + suffix, content)
        # unlink takes the directory's lock even for a missing name, and every chunk of a scale shares one directory:
        # look first (a lock-free lookup), so parallel writers of a scale do not queue on five failed unlinks a chunk
        for other in _SUFFIXES:
            if other != suffix and os.path.lexists(path + other):
                try:
                    os.unlink(path + other)
                except FileNotFoundError:
                    pass

    def __repr__(self) -> str:
        return f"<PrecomputedVolume {self.uri} {self._metadata.dtype}{list(self._metadata.shape)}>"
