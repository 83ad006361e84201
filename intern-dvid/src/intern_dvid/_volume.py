"""``DvidVolume``: a uint8blk, labelblk, labelarray or labelmap instance at one version node.

Reads take any box (``VolumeIO(whole_reads=True, ...)``): the box is cut along DVID's block grid into pieces of a few megabytes,
fetched in parallel on intern's thread pool, each straight into its place in the output when the piece is a
contiguous slab. Writes are cut the same way; DVID stores only whole blocks, so the blocks a write covers only in part
(the faces of an unaligned box) are read, merged and written back, and the others are sent as they are.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from intern.errors import MetadataError, ReadOnlyError
from intern.plugin import Box, VolumeIO, VolumeMetadata, run_parallel

from ._layout import LABEL_TYPES, Level
from ._versions import DvidNode

if TYPE_CHECKING:
    from ._remote import DvidRemote, Options

__all__ = ["DvidVolume", "plan_pieces"]

# Pieces of 4-16 MB: enough of them to keep the thread pool busy on large cutouts, few enough that per-request costs
# (DVID's and ours) stay small; measured on loopback, see docs/dvid.md
_MIN_PIECE = 4 * 1024 * 1024
_MAX_PIECE = 16 * 1024 * 1024


class DvidVolume:
    """A DVID volume at a version node, as an intern VolumeResource (``intern.array`` wraps it).

    Attributes:
        node: the version node (:class:`~intern_dvid.DvidNode`) this resource points at.
        name: the instance name.
        typename: ``uint8blk``, ``labelblk``, ``labelarray`` or ``labelmap``.
    """

    io: ClassVar[VolumeIO] = VolumeIO(whole_reads=True, whole_writes=True)

    def __init__(self, remote: DvidRemote, node: DvidNode, name: str, typename: str, metadata: VolumeMetadata,
                 levels: list[Level], options: Options) -> None:
        self._remote = remote
        self.node = node
        self.name = name
        self.typename = typename
        self._metadata = metadata
        self._levels = levels
        self.options = options

    # -- what it is -----------------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"{self.node.uri}/{self.name}{self.options.query()}"

    @property
    def remote(self) -> DvidRemote:
        return self._remote

    @property
    def metadata(self) -> VolumeMetadata:
        return self._metadata

    @property
    def version(self) -> str:
        """The UUID of the version node."""
        return self.node.uuid

    @property
    def writable(self) -> bool:
        return not self.node.committed and not self.options.read_only

    @property
    def is_labels(self) -> bool:
        return self.typename in LABEL_TYPES

    # -- versions -------------------------------------------------------------------------------------------------
    def versions(self) -> list[dict[str, Any]]:
        """Every version of the repo, oldest first (``id``, ``committed``, ``note``, ``branch``, ``parents``, ...)."""
        return self.node.versions()

    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str | None:
        """The version node, when it is committed: its data can no longer change, so its UUID is the stamp of every
        box. ``None`` on an open node, whose data may change without DVID saying so (it keeps no mutation id for
        grayscale, and none per block)."""
        return f"dvid {self.node.uuid} committed" if self.node.committed else None

    def commit(self, note: str = "", *, log: list[str] | None = None) -> str:
        """Commit this volume's version node; returns its UUID. The resource becomes read-only.

        Raises:
            ReadOnlyError: the node is committed already.
        """
        self.node = self.node.commit(note, log=log)
        return self.node.uuid

    def newversion(self, note: str = "") -> DvidVolume:
        """This volume at a new child of its (committed) node, open for writes."""
        return self._reopen(self.node.newversion(note))

    def branch(self, name: str, note: str = "") -> DvidVolume:
        """This volume at a new child of its (committed) node, starting branch ``name``."""
        return self._reopen(self.node.branch(name, note))

    def at(self, version: str) -> DvidVolume:
        """This volume at another version: a UUID prefix or ``prefix:branch`` of the same repo."""
        return self._reopen(self._remote.node(version))

    def _reopen(self, node: DvidNode) -> DvidVolume:
        """This volume's instance at another node (an instance keeps its type in every version of a repo)."""
        volume = self._remote.volume(node, self.name, self.options)
        if not isinstance(volume, DvidVolume):
            raise MetadataError(f"{node.uri}/{self.name} is a key-value instance at that version, not a volume")
        return volume

    # -- voxels ---------------------------------------------------------------------------------------------------
    def _url(self, level: Level, box: Box) -> str:
        (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
        o = self._metadata.scales[self._levels.index(level)].offset
        return (f"/api/node/{self.node.uuid}/{level.instance}/raw/0_1_2/{x1 - x0}_{y1 - y0}_{z1 - z0}/"
                f"{x0 + o[2]}_{y0 + o[1]}_{z0 + o[0]}")

    def _params(self, level: Level, *, reading: bool) -> dict[str, str]:
        params: dict[str, str] = {}
        if level.scale:
            params["scale"] = str(level.scale)
        if self.is_labels:
            if reading:
                if self.options.compression != "none":
                    params["compression"] = self.options.compression
                if self.options.supervoxels:
                    params["supervoxels"] = "true"
            else:
                params["mutate"] = "true"  # overwriting blocks: DVID must update its label index
        if self.options.throttle:
            params["throttle"] = "true"
        return params

    def _fetch(self, level: Level, box: Box, dest: np.ndarray | None = None) -> np.ndarray:
        """GET ``box`` of ``level`` into ``dest`` (or a new array)."""
        dtype = self._metadata.numpy_dtype
        params = self._params(level, reading=True)
        compression = params.get("compression")
        if dest is None:
            dest = np.empty(box.shape, dtype)
        if compression is None and dest.flags.c_contiguous and dtype.byteorder in ("=", "<", "|"):
            self._remote.http.read(self._url(level, box), dest.nbytes, params=params,
                                   into=dest.data.cast("B"))
            return dest
        body = self._remote.http.read(self._url(level, box), None if compression else box.size * dtype.itemsize,
                                      params=params)
        assert body is not None
        if compression == "lz4":
            import lz4.block

            body = lz4.block.decompress(body, uncompressed_size=box.size * dtype.itemsize)
        elif compression == "gzip":
            body = gzip.decompress(body)
        if len(body) != box.size * dtype.itemsize:
            raise MetadataError(f"{self.uri}: DVID sent {len(body)} bytes of voxels for [{box}], expected "
                                f"{box.size * dtype.itemsize}")
        dest[...] = np.frombuffer(body, dtype=dtype.newbyteorder("<")).reshape(box.shape)
        return dest

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        level = self._levels[scale]
        out = np.empty(box.shape, self._metadata.numpy_dtype)
        pieces = list(plan_pieces(box, level.block_zyx, out.itemsize))

        def fetch(piece: Box) -> None:
            self._fetch(level, piece, out[piece.relative_to(box).to_slices()])

        run_parallel(fetch, pieces)
        return out

    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        if not self.writable:
            self.node.check_writable()
            raise ReadOnlyError(f"{self.uri} is open read-only (mode='r')")
        level = self._levels[scale]
        if self.is_labels and level.scale:
            raise ReadOnlyError(f"{self.uri}: DVID computes scale {scale} of a {self.typename} from scale 0 on every "
                                "write; write scale 0")
        block = level.block_zyx
        jobs = [(piece, box.contains(piece)) for region in _regions(box, block)
                for piece in plan_pieces(region, block, data.itemsize, aligned=True)]

        def store(job: tuple[Box, bool]) -> None:
            piece, full = job
            part = piece.intersection(box)
            src = data[part.relative_to(box).to_slices()]
            if full:
                payload = np.ascontiguousarray(src)
            else:
                payload = self._fetch(level, piece)
                payload[part.relative_to(piece).to_slices()] = src
            body = payload.astype(payload.dtype.newbyteorder("<"), copy=False)
            self._remote.http.send(self._url(level, piece), np.ascontiguousarray(body).data.cast("B"),
                                   params=self._params(level, reading=False))

        run_parallel(store, jobs)

    def __repr__(self) -> str:
        return f"<DvidVolume {self.uri} {self.typename} {self._metadata.dtype}{list(self._metadata.shape)}>"


def _regions(box: Box, block: tuple[int, ...]) -> Iterator[Box]:
    """The box's block-aligned cover, split per axis into its first partial block, whole blocks, last partial block.

    Each region is either wholly covered by ``box`` (sent as it is) or made of blocks it covers in part (the faces:
    read, merged and written back).
    """
    axes = []
    for a, b, c in zip(box.start, box.stop, block, strict=True):
        lo, hi = a // c * c, -(-b // c) * c
        cuts = sorted({lo, min(-(-a // c) * c, hi), max(b // c * c, lo), hi})
        # Neighbouring cuts: the shifted copy is one shorter by design.
        axes.append([(p, q) for p, q in zip(cuts, cuts[1:], strict=False) if q > p])
    for z in axes[0]:
        for y in axes[1]:
            for x in axes[2]:
                yield Box((z[0], y[0], x[0]), (z[1], y[1], x[1]))


def plan_pieces(box: Box, block: tuple[int, ...], itemsize: int, *, aligned: bool = False) -> Iterator[Box]:
    """Cut ``box`` on the block grid into pieces of about 4-16 MB: slabs of whole z-blocks first (contiguous in a
    C-order output), then rows of y-blocks, then x-blocks, so that there are enough pieces for every thread."""
    from intern.plugin import max_workers

    if box.is_empty():
        return
    total = box.size * itemsize
    target = max(_MIN_PIECE, min(_MAX_PIECE, total // max(1, max_workers())))
    cover = box.align(block) if not aligned else box
    steps = [1, 1, 1]  # blocks per piece on each axis, grown from x (the fastest) outwards
    span = [-(-(cover.stop[i] - cover.start[i]) // block[i]) for i in range(3)]
    for axis in (2, 1, 0):
        row = itemsize * block[axis] * math.prod(block[i] * steps[i] for i in range(3) if i != axis)
        steps[axis] = int(max(1, min(span[axis], round(target / max(1, row)))))
        if steps[axis] < span[axis]:
            break
    cuts = []
    for i in range(3):
        edges = list(range(cover.start[i] // block[i] * block[i], cover.stop[i], block[i] * steps[i]))
        cuts.append([(max(e, box.start[i]), min(e + block[i] * steps[i], box.stop[i])) for e in edges])
    for z in cuts[0]:
        for y in cuts[1]:
            for x in cuts[2]:
                if z[1] > z[0] and y[1] > y[0] and x[1] > x[0]:
                    yield Box((z[0], y[0], x[0]), (z[1], y[1], x[1]))
