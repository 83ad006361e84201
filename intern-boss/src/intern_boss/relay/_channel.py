"""One mounted channel: its Boss geometry, derived from the upstream's metadata, and its cuboids through the cache.

Geometry. The upstream's scale 0 is Boss resolution 0: its shape and offset make the coordinate frame, its voxel size
(nm) the frame's voxel size. Its next levels become Boss resolutions while they follow one Boss hierarchy: x and y
halved at every level (``anisotropic``) or x, y and z (``isotropic``); levels after the first that does not are not
served. A ``t`` axis becomes the experiment's time samples; a ``c`` axis cannot be served (a Boss channel is one).

The geometry is saved beside the channel's cached cuboids, so a relay whose upstream is down (another relay that
stopped) still serves what it has cached after a restart.

Cuboids. Each comes from the memory tier, else the disk tier, else the upstream (read once however many requests want
it: ``_inflight``, guarded by ``_lock``). Every copy carries the write generation its fetch began at and is served only
while that is still the cuboid's (:mod:`._generations`), so a copy fetched before a write is never served after it,
whichever worker made it and whenever it was stored. Writes raise the generations of the cuboids they touch once the
upstream has the data, then drop the cached copies (to free the space: staleness is the generations' business).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from intern.errors import ConfigError, InternError, MetadataError, ReadOnlyError, RemoteError, TransientRemoteError
from intern.plugin import Box, run_parallel, write_atomic

from .._wire import BLOSC, CUBOID, decode_into, encode
from ._cache import CacheStats, DiskTier, Entry, MemoryTier
from ._config import Mount
from ._generations import Generations

__all__ = ["Geometry", "Level", "Piece", "ServedChannel", "UpstreamUnavailable"]

log = logging.getLogger("intern.relay")
_REOPEN_EVERY = 2.0  # seconds between attempts to reach an upstream that could not be opened


class UpstreamUnavailable(Exception):
    """The upstream cannot be reached and the relay has nothing cached to answer with.

    ``attempts`` is how many tries the upstream's client spent on the failure behind it (``None`` when it did not
    say): when more than one, the relay tells downstream clients not to try again (:data:`intern.plugin.ATTEMPTS_HEADER`).
    """

    def __init__(self, message: str, attempts: int | None = None) -> None:
        super().__init__(message, attempts)
        self.message, self.attempts = message, attempts

    def __str__(self) -> str:
        return self.message


class Piece(NamedTuple):
    """One cuboid of an answer: its (t, z, y, x) frame box, its blosc buffer and that buffer's CRC-32."""

    box: Box
    payload: bytes
    crc: int


@dataclass(frozen=True)
class Level:
    """One Boss resolution: (z, y, x) shape, frame offset and voxel size in nm, and the upstream scale it reads."""

    shape: tuple[int, int, int]
    offset: tuple[int, int, int]
    voxel: tuple[float, float, float]
    scale: int


@dataclass(frozen=True)
class Geometry:
    """What the Boss JSON of a channel says about it."""

    dtype: str
    kind: str
    times: int | None
    method: str
    levels: tuple[Level, ...]
    attributes: dict[str, str]

    @classmethod
    def from_metadata(cls, metadata: Any, where: str) -> Geometry:
        axes = tuple(metadata.axes)
        if axes not in (("z", "y", "x"), ("t", "z", "y", "x")):
            raise MetadataError(f"{where} has axes {axes}; a Boss channel is (z, y, x) or (t, z, y, x): mount one "
                                "channel of a multi-channel volume per --mount")
        dtype = np.dtype(metadata.dtype)
        if dtype.kind not in "iuf":
            raise MetadataError(f"{where} is {dtype}; a Boss channel holds integers or floats")
        scales = metadata.scales
        method = "anisotropic"
        if len(scales) > 1 and tuple(scales[1].downsample) == (2.0, 2.0, 2.0):
            method = "isotropic"
        levels = []
        for r, level in enumerate(scales):
            want = (2.0**r if method == "isotropic" else 1.0, 2.0**r, 2.0**r)
            if tuple(level.downsample) != want:
                log.info("%s: scale %d is downsampled %s, not by the %s Boss hierarchy; serving resolutions 0..%d",
                         where, r, level.downsample, method, r - 1)
                break
            levels.append(Level(tuple(level.shape[-3:]), tuple(level.offset), tuple(level.voxel_size), r))
        attributes = {str(k): v if isinstance(v, str) else json.dumps(v, default=str)
                      for k, v in (metadata.attributes or {}).items()}
        return cls(dtype.name, metadata.kind, int(metadata.shape[0]) if axes[0] == "t" else None, method,
                   tuple(levels), attributes)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Geometry:
        """The geometry :meth:`to_json` wrote.

        Raises:
            ValueError: ``text`` is not such a geometry; the message says what is wrong.
        """
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"not a JSON object but {type(raw).__name__}")
        missing = sorted({"dtype", "kind", "times", "method", "levels", "attributes"} - set(raw))
        if missing:
            raise ValueError(f"without the field(s) {', '.join(missing)}")
        try:
            raw["levels"] = tuple(Level(tuple(lv["shape"]), tuple(lv["offset"]), tuple(lv["voxel"]), lv["scale"])
                                  for lv in raw["levels"])
            geometry = cls(**raw)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"with malformed levels or fields ({type(exc).__name__}: {exc})") from None
        if not geometry.levels or any(len(lv.shape) != 3 for lv in geometry.levels):
            raise ValueError("without a level of (z, y, x) shape")
        return geometry

    def frame(self) -> dict[str, Any]:
        """Coordinate frame fields (resolution 0)."""
        base = self.levels[0]
        out: dict[str, Any] = {}
        for axis, n, o, v in zip("zyx", base.shape, base.offset, base.voxel, strict=True):
            out.update({f"{axis}_start": o, f"{axis}_stop": o + n, f"{axis}_voxel_size": v})
        out["voxel_unit"] = "nanometers"
        return out


class ServedChannel:
    """A mount, opened on first use: geometry, and cuboids from memory, disk or the upstream.

    Args:
        mount: what is served, from where.
        index: the mount's number, the first part of its cuboids' keys in the memory tier.
        memory, disk, stats: the relay's tiers (``disk`` is ``None`` without a disk tier) and counters.
        check_disk: whether several worker processes write through this relay: their copies are then checked against
            the generations of the disk tier, which must exist.

    Raises:
        ConfigError: several workers write, and there is a memory tier but no disk tier to share generations in.
    """

    def __init__(self, mount: Mount, index: int, *, memory: MemoryTier, disk: DiskTier | None, stats: CacheStats,
                 check_disk: bool) -> None:
        if check_disk and disk is None and memory.budget > 0:
            raise ConfigError("several --workers of a --writable relay learn of each other's writes through the disk "
                              "tier: give a --cache-dir (and a --cache-size above 0), or --memory-size 0, or one "
                              "worker")
        self.mount = mount
        self.index = index
        self.memory = memory
        self.disk = disk
        self.stats = stats
        self.generations = disk.generations if disk is not None else Generations.private()
        digest = sha256(mount.upstream.encode()).hexdigest()[:12]
        self.dirname = f"{mount.collection}-{mount.experiment}-{mount.channel}-{digest}"
        self._lock = threading.Lock()
        self._resource: Any = None
        self._geometry: Geometry | None = None
        self._last_attempt = float("-inf")
        self._last_error: str = ""
        # the tries the upstream's client spent on _last_error; both are set and read under _lock
        self._last_attempts: int | None = None
        self._inflight: dict[tuple[int, ...], threading.Event] = {}
        self.written = False

    # -- the upstream ------------------------------------------------------------------------------------------------
    def _saved(self) -> Path | None:
        return self.disk.root / self.dirname / "geometry.json" if self.disk else None

    def _open(self) -> None:
        """Open the upstream (again) unless that failed less than a moment ago."""
        now = time.monotonic()
        if self._resource is not None or now - self._last_attempt < _REOPEN_EVERY:
            return
        self._last_attempt = now
        import intern

        try:
            resource = intern.array(self.mount.upstream).resource  # NotFoundError: the upstream is no volume
            geometry = Geometry.from_metadata(resource.metadata, self.mount.upstream)
        except MetadataError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to reach the upstream is reported the same way
            self._last_error = str(exc)
            self._last_attempts = exc.attempts if isinstance(exc, RemoteError) else None
            log.warning("cannot open %s for %s: %s", self.mount.upstream, self.mount.path, exc)
            return
        self._resource, self._geometry = resource, geometry
        saved = self._saved()
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(saved, geometry.to_json().encode())

    @property
    def opened(self) -> bool:
        """Whether the geometry is known, so that answering from the cache waits on no lock and no upstream."""
        return self._geometry is not None

    def geometry(self) -> Geometry:
        """The channel's geometry: from the upstream, else as saved by an earlier run.

        Raises:
            UpstreamUnavailable: neither is available.
            MetadataError: the upstream is not a volume a Boss channel can be.
        """
        geometry = self._geometry  # set once and never cleared, so read without the lock (the event loop reads it)
        if geometry is not None:
            return geometry
        with self._lock:
            if self._geometry is None:
                self._open()
            if self._geometry is None:
                saved = self._saved()
                if saved is not None and saved.is_file():
                    try:
                        self._geometry = Geometry.from_json(saved.read_text(errors="replace"))
                    except ValueError as exc:
                        raise MetadataError(
                            f"{saved}, the geometry of {self.mount.path} saved from its upstream (which cannot be "
                            f"opened: {self._last_error}), is damaged: {exc}. Delete it; the relay saves it again "
                            "once the upstream answers") from None
                else:
                    raise UpstreamUnavailable(f"the upstream {self.mount.upstream} of {self.mount.path} cannot be "
                                              f"opened: {self._last_error}", self._last_attempts)
            return self._geometry

    def _upstream(self) -> Any:
        with self._lock:
            self._open()
            if self._resource is None:
                raise UpstreamUnavailable(f"the upstream {self.mount.upstream} of {self.mount.path} is unavailable "
                                          f"and this part is not cached: {self._last_error}", self._last_attempts)
            return self._resource

    def _lost(self, exc: Exception) -> None:
        """An upstream read failed: open it afresh next time (a restarted relay, a remounted disk)."""
        if isinstance(exc, TransientRemoteError):
            with self._lock:
                self._resource = None
                self._last_error = str(exc)
                self._last_attempts = exc.attempts

    # -- cuboids ------------------------------------------------------------------------------------------------------
    def cuboids(self, res: int, box: Box) -> list[tuple[tuple[int, ...], Box]]:
        """(key, cuboid box) of every cuboid ``box`` touches; boxes are (t, z, y, x) in frame voxels, clipped."""
        frame = _frame(self.geometry(), res)
        out = []
        for idx in box.chunk_indices((1, *CUBOID)):
            start = tuple(i * c for i, c in zip(idx, (1, *CUBOID), strict=True))
            cub = Box(start, tuple(s + c for s, c in zip(start, (1, *CUBOID), strict=True))).intersection(frame)
            out.append(((self.index, res, *idx), cub))
        return out

    def _parts(self, key: tuple[int, ...]) -> tuple[str, ...]:
        _, res, t, z, y, x = key
        return (self.dirname, f"r{res}", f"t{t}", f"{z}_{y}_{x}")

    def _slot(self, key: tuple[int, ...]) -> int:
        return self.generations.slot("/".join(self._parts(key)))

    def _nbytes(self, cub: Box) -> int:
        return cub.size * np.dtype(self.geometry().dtype).itemsize

    def _cached(self, key: tuple[int, ...], cub: Box) -> Entry | None:
        entry = self._from_memory(key)
        if entry is not None or self.disk is None:
            return entry
        parts = self._parts(key)
        entry = self.disk.read(self.disk.path(parts), "/".join(parts), self._nbytes(cub))
        if entry is None:
            return None
        self.memory.put(key, entry)
        self.stats.add(disk_hits=1)
        return entry

    def _from_memory(self, key: tuple[int, ...]) -> Entry | None:
        """A cuboid from the memory tier, if current; the disk is touched only to refresh the file's LRU time."""
        entry = self.memory.get(key)
        if entry is None:
            return None
        if entry.generation != self.generations.current(self._slot(key)):
            self.memory.drop(key, entry)  # fetched before a write (through any worker)
            self.stats.add(stale=1)
            return None
        disk = self.disk
        if disk is not None and disk.touch_due(entry.touched):
            disk.touch(disk.path(self._parts(key)))
            entry.touched = time.monotonic()
        self.stats.add(memory_hits=1)
        return entry

    def memory_answer(self, res: int, box: Box) -> Entry | None:
        """The cached cuboid that is exactly ``box``, when it is in memory, else ``None``.

        Takes no lock a slow upstream could hold, and touches the disk at most for an LRU refresh, so the relay
        answers it on its event loop.
        """
        geometry = self._geometry
        if geometry is None:
            return None
        idx = tuple(s // c for s, c in zip(box.start, (1, *CUBOID), strict=True))
        start = tuple(i * c for i, c in zip(idx, (1, *CUBOID), strict=True))
        if Box(start, tuple(s + c for s, c in zip(start, (1, *CUBOID), strict=True))).intersection(_frame(geometry, res)) != box:
            return None
        return self._from_memory((self.index, res, *idx))

    def _store(self, key: tuple[int, ...], cub: Box, entry: Entry) -> None:
        if entry.generation != self.generations.current(self._slot(key)):
            return  # a write came while it was fetched: it may be older than that write (and would never be served)
        if self.disk is not None:
            parts = self._parts(key)
            self.disk.write(self.disk.path(parts), "/".join(parts), entry, self._nbytes(cub))
        self.memory.put(key, entry)

    def payloads(self, res: int, box: Box) -> list[Piece]:
        """Every cuboid ``box`` touches (fetching and caching what is missing)."""
        found: dict[tuple[int, ...], Entry] = {}
        cubs = self.cuboids(res, box)
        missing = []
        for key, cub in cubs:
            entry = self._cached(key, cub)
            if entry is None:
                missing.append((key, cub))
            else:
                found[key] = entry
        if missing:
            self.stats.add(misses=len(missing))
            found.update(self._fetch(res, missing))
        return [Piece(cub, found[key].payload, found[key].crc) for key, cub in cubs]

    def _fetch(self, res: int, missing: list[tuple[tuple[int, ...], Box]]) -> dict[tuple[int, ...], Entry]:
        """Read missing cuboids from the upstream once, even when several requests want them at the same time."""
        # the generations before anything is fetched: what is fetched is as new as them, or newer
        generations = {key: self.generations.current(self._slot(key)) for key, _ in missing}
        mine, theirs = [], []
        with self._lock:  # _inflight: the cuboids some thread of this process is fetching
            for key, cub in missing:
                event = self._inflight.get(key)
                if event is None:
                    self._inflight[key] = threading.Event()
                    mine.append((key, cub))
                else:
                    theirs.append((key, cub, event))
        out: dict[tuple[int, ...], Entry] = {}
        try:
            if mine:
                out.update(self._read_upstream(res, mine, generations))
        finally:
            with self._lock:
                for key, _ in mine:
                    self._inflight.pop(key).set()
        for key, cub, event in theirs:
            event.wait()
            # what that fetch cached, if it is current (it may have begun before a write that came since)
            entry = self._cached(key, cub)
            out[key] = entry if entry is not None else self._read_upstream(res, [(key, cub)], generations)[key]
        return out

    def _read_upstream(self, res: int, wanted: list[tuple[tuple[int, ...], Box]],
                       generations: dict[tuple[int, ...], int]) -> dict[tuple[int, ...], Entry]:
        from intern.plugin import read_box

        resource = self._upstream()
        geometry = self.geometry()
        level = geometry.levels[res]
        origin = (0, *level.offset)
        lead = 1 if geometry.times else 0
        self.stats.add(upstream_reads=1)

        def upstream_box(cub: Box) -> Box:
            rel = cub.relative_to(origin)
            return rel if lead else Box(rel.start[1:], rel.stop[1:])

        union = wanted[0][1]
        for _, cub in wanted[1:]:
            union = Box(tuple(map(min, union.start, cub.start)), tuple(map(max, union.stop, cub.stop)))
        def one(item: tuple[tuple[int, ...], Box]) -> np.ndarray:
            data = read_box(resource, upstream_box(item[1]), scale=level.scale)
            return data if lead else data[None]

        try:
            if sum(c.size for _, c in wanted) == union.size:  # they tile one box: one upstream read
                block = one((wanted[0][0], union))
                datas = [block[cub.relative_to(union).to_slices()] for _, cub in wanted]
            else:
                datas = run_parallel(one, wanted)
        except InternError as exc:
            self._lost(exc)
            raise

        def pack(data: np.ndarray) -> tuple[bytes, int]:
            # the bytes of a (1, z, y, x) block are those of its (z, y, x) block: one encoding serves both layouts
            payload = encode(data, BLOSC)
            return payload, zlib.crc32(payload)

        out = {}
        for (key, cub), (payload, crc) in zip(wanted, run_parallel(pack, datas), strict=True):
            entry = Entry(payload, crc, generations[key])
            self._store(key, cub, entry)
            out[key] = entry
        return out

    # -- whole cutouts -------------------------------------------------------------------------------------------------
    def read(self, res: int, box: Box) -> np.ndarray:
        """The voxels of ``box`` ((t, z, y, x) frame voxels at ``res``), assembled from cached cuboids."""
        return self.assemble(box, self.payloads(res, box))

    def assemble(self, box: Box, items: list[Piece]) -> np.ndarray:
        """The voxels of ``box`` from the cuboids ``payloads`` returned for it."""
        dtype = np.dtype(self.geometry().dtype)
        out = np.empty(box.shape, dtype)

        def place(item: Piece) -> None:
            cub, payload, _ = item
            part = cub.intersection(box)
            if part == cub and part == box:
                decode_into(payload, out)
                return
            tile = decode_into(payload, np.empty(cub.shape, dtype))
            out[part.relative_to(box).to_slices()] = tile[part.relative_to(cub).to_slices()]

        run_parallel(place, items)
        return out

    def write(self, box: Box, data: np.ndarray) -> None:
        """Write ``data`` at ``box`` (frame voxels at resolution 0) to the upstream, then drop the cuboids it touched."""
        resource = self._upstream()
        if not getattr(resource, "writable", False):
            raise ReadOnlyError(f"the upstream {self.mount.upstream} of {self.mount.path} cannot be written")
        from intern.plugin import write_box

        geometry = self.geometry()
        level = geometry.levels[0]
        rel = box.relative_to((0, *level.offset))
        if not geometry.times:
            rel, data = Box(rel.start[1:], rel.stop[1:]), data.reshape(data.shape[1:])
        keys = [key for key, _ in self.cuboids(0, box)]
        try:
            write_box(resource, rel, data, scale=level.scale)
        except InternError as exc:
            self._lost(exc)
            raise
        finally:
            # the upstream has the data (or part of it, on failure): from now on every copy cached before is
            # stale, in every worker, and so is every fetch under way; then the copies are dropped to free space
            self.generations.advance(self._slot(key) for key in keys)
            self.invalidate(keys)
            self.written = True
            if self.disk is not None:
                marker = self.disk.root / self.dirname / "written"
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()

    def was_written(self) -> bool:
        """Whether a write has reached the upstream through this relay (its lower resolutions are now stale)."""
        return self.written or (self.disk is not None and (self.disk.root / self.dirname / "written").exists())

    def invalidate(self, keys: Iterable[tuple[int, ...]]) -> None:
        for key in keys:
            self.memory.drop(key)
            if self.disk is not None:
                self.disk.drop(self.disk.path(self._parts(key)))


def _frame(geometry: Geometry, res: int) -> Box:
    """The (t, z, y, x) frame box of resolution ``res``."""
    level = geometry.levels[res]
    return Box((0, *level.offset), (geometry.times or 1, *(o + n for o, n in zip(level.offset, level.shape, strict=True))))
