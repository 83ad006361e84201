"""`Skeleton`: the centre-line graph of one segment, and the files skeletons travel in (SWC, neuroglancer precomputed).

As for meshes, vertices are **physical (x, y, z) positions in nanometres**, not the (z, y, x) voxel indices of
volumes; radii are in nanometres too.

>>> sk = Skeleton([[0, 0, 0], [3, 4, 0], [3, 4, 10]], [[0, 1], [1, 2]], radii=[2, 1, 1])
>>> sk.cable_length
15.0
>>> Skeleton.from_precomputed(sk.to_precomputed()) == sk
True
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._files import write_atomic
from ..errors import MetadataError
from ._common import (
    StrPath,
    _as_label,
    _indices,
    _label,
    _points,
    _read_file,
    _read_info,
    _readonly,
    _suffix,
    _text,
    _write_info,
)

__all__ = ["Skeleton", "read_precomputed_skeleton_dir", "write_precomputed_skeleton_dir"]

SKELETON_TYPE = "neuroglancer_skeletons"
IDENTITY_TRANSFORM = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
RADIUS_ATTRIBUTE = {"id": "radius", "data_type": "float32", "num_components": 1}
# the attribute types neuroglancer reads
_ATTRIBUTE_TYPES = ("float32", "int8", "uint8", "int16", "uint16", "int32", "uint32")


@dataclass(frozen=True, eq=False, repr=False)
class Skeleton:
    """A skeleton: vertices joined by undirected edges, with a radius per vertex; immutable.

    Arrays are stored as read-only views (no copy when the dtype already fits), so do not modify arrays you passed
    in afterwards.

    Args:
        vertices: ``(N, 3)`` positions, stored as float32, in nanometres, in **(x, y, z)** order.
        edges: ``(E, 2)`` vertex index pairs, stored as uint32. Any graph is allowed (forests, cycles); SWC can only
            hold a forest, see :meth:`to_swc`.
        radii: ``(N,)`` radii in nm, float32; zeros when omitted (always an array after construction).
        id: the segment label, if any.

    Raises:
        ValueError: shapes disagree, an index is out of range, or a value is not finite.
    """

    vertices: np.ndarray
    edges: np.ndarray
    _: KW_ONLY
    radii: np.ndarray = None  # type: ignore[assignment]  # None means zeros
    id: int | None = None

    def __post_init__(self) -> None:
        vertices = _points(self.vertices, "Skeleton vertices")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "edges", _indices(self.edges, 2, "Skeleton edges", len(vertices)))
        radii = np.zeros(len(vertices), np.float32)
        if self.radii is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf, refused below
                radii = np.asarray(self.radii, dtype=np.float32)
        if radii.shape != (len(vertices),):
            raise ValueError(f"Skeleton radii must have shape ({len(vertices)},), got {radii.shape}")
        if not np.isfinite(radii).all():
            raise ValueError("Skeleton radii contain NaN or infinity")
        object.__setattr__(self, "radii", _readonly(radii))
        object.__setattr__(self, "id", _as_label(self.id))

    @classmethod
    def _decoded(cls, what: str, *args: Any, **kwargs: Any) -> Skeleton:
        # Decoded files are input, not programming errors: report their inconsistencies as MetadataError.
        try:
            return cls(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise MetadataError(f"malformed {what}: {exc}") from None

    def __repr__(self) -> str:
        return f"Skeleton(id={self.id}, vertices={len(self.vertices)}, edges={len(self.edges)})"

    def __eq__(self, other: object) -> bool:
        """Exact equality of ids, vertices, edges (in order) and radii."""
        if not isinstance(other, Skeleton):
            return NotImplemented
        return (
            self.id == other.id
            and np.array_equal(self.vertices, other.vertices)
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.radii, other.radii)
        )

    __hash__ = None  # type: ignore[assignment]  # equal skeletons must hash alike, and arrays are not hashable

    def allclose(self, other: Skeleton, *, rtol: float = 1e-6, atol: float = 1e-3) -> bool:
        """Whether ``other`` has the same edges and, within tolerance (``atol`` in nm), vertices and radii; ids are
        not compared."""
        return (
            self.vertices.shape == other.vertices.shape
            and np.array_equal(self.edges, other.edges)
            and np.allclose(self.vertices, other.vertices, rtol=rtol, atol=atol)
            and np.allclose(self.radii, other.radii, rtol=rtol, atol=atol)
        )

    @property
    def cable_length(self) -> float:
        """Sum of the edge lengths in nm (an edge listed twice counts twice)."""
        v = self.vertices.astype(np.float64)
        return float(np.linalg.norm(v[self.edges[:, 0]] - v[self.edges[:, 1]], axis=1).sum())

    # -- SWC ---------------------------------------------------------------------------------------------------------
    def to_swc(self) -> str:
        """SWC text: ``id type x y z radius parent``, one line per vertex, ids 1-based, roots with parent -1.

        Vertex ``i`` gets SWC id ``i + 1`` and type 0 (undefined). SWC stores a forest, so the edges are turned into
        one: each connected component becomes a tree rooted at its lowest-index vertex, its parents found by
        breadth-first search. Edges that would close a cycle, self-loops and repeated edges are dropped; an isolated
        vertex becomes a root. Lines come in that BFS order, so every parent precedes its children, which many SWC
        readers need.

        Example:
            >>> print(Skeleton([[0, 0, 0], [1, 0, 0]], [[1, 0]]).to_swc().splitlines()[-1])
            2 0 1 0 0 0 1
        """
        order, parent = _spanning_forest(len(self.vertices), self.edges)
        table = np.empty((len(order), 7))
        table[:, 0] = order + 1
        table[:, 1] = 0
        table[:, 2:5] = self.vertices[order]
        table[:, 5] = self.radii[order]
        table[:, 6] = np.where(parent[order] >= 0, parent[order] + 1, -1)
        header = "# SWC written by intern\n# id type x y z radius parent; x, y, z and radius in nanometres\n"
        # One %-format over the whole table runs in C. 9 significant digits bring any float32 back exactly.
        return header + "%d %d %.9g %.9g %.9g %.9g %d\n" * len(table) % tuple(table.ravel().tolist())

    @classmethod
    def from_swc(cls, data: str | bytes, *, id: int | None = None) -> Skeleton:
        """Parse SWC text; vertices are ordered by ascending SWC id, each edge is ``(parent, child)``.

        Comments (``#``) and blank lines are skipped, columns after the seventh ignored, and so is the type column.
        Ids need not be contiguous; any negative parent marks a root.

        Raises:
            MetadataError: a line has fewer than 7 columns or a non-number, ids are repeated or not integers, or a
                parent names no node.
        """
        rows = []
        for lineno, line in enumerate(_text(data, "SWC").splitlines(), 1):
            cells = line.split("#", 1)[0].split()
            if not cells:
                continue
            if len(cells) < 7:
                raise MetadataError(f"SWC line {lineno} has {len(cells)} columns, not 7 (id type x y z r parent)")
            try:
                rows.append([float(c) for c in cells[:7]])
            except ValueError:
                raise MetadataError(f"SWC line {lineno} has a value that is not a number: {line!r}") from None
        table = np.array(rows, dtype=np.float64).reshape(-1, 7)
        ids, parents = table[:, 0], table[:, 6]
        for name, values in (("ids", ids), ("parent ids", parents)):
            if not ((np.abs(values) < 2**53).all() and (values == np.round(values)).all()):
                raise MetadataError(f"SWC {name} must be integers")  # (2**53: beyond it, floats skip integers)
        if (ids < 0).any():
            raise MetadataError(f"SWC ids must not be negative, got {int(ids.min())}")
        order = np.argsort(ids, kind="stable")
        ids, table = ids[order].astype(np.int64), table[order]
        if len(ids) > 1 and (repeated := ids[1:][ids[1:] == ids[:-1]]).size:
            raise MetadataError(f"SWC id {repeated[0]} appears more than once")
        children = np.flatnonzero(table[:, 6] >= 0)
        wanted = table[children, 6].astype(np.int64)
        found = np.minimum(np.searchsorted(ids, wanted), max(len(ids) - 1, 0))
        if len(children) and (missing := wanted[ids[found] != wanted]).size:
            raise MetadataError(f"SWC parent {missing[0]} names no node")
        if (found == children).any():
            raise MetadataError(f"SWC node {ids[children[found == children][0]]} is its own parent")
        edges = np.stack([found, children], axis=1)
        return cls._decoded("SWC", table[:, 2:5], edges, radii=table[:, 5], id=id)

    # -- neuroglancer precomputed ------------------------------------------------------------------------------------
    def to_precomputed(self) -> bytes:
        """A neuroglancer skeleton file: uint32 nv, uint32 ne, float32 [nv, 3], uint32 [ne, 2], float32 radius [nv]."""
        header = struct.pack("<II", len(self.vertices), len(self.edges))
        arrays = (self.vertices.astype("<f4"), self.edges.astype("<u4"), self.radii.astype("<f4"))
        return header + b"".join(a.tobytes() for a in arrays)

    @classmethod
    def from_precomputed(
        cls,
        data: bytes,
        *,
        vertex_attributes: Sequence[Mapping[str, Any]] | None = None,
        id: int | None = None,
    ) -> Skeleton:
        """Parse a neuroglancer skeleton file.

        Args:
            data: the file's bytes.
            vertex_attributes: the ``vertex_attributes`` of the directory's info, which say what follows the edges.
                Without it, the data after the edges must be either nothing or one float32 radius per vertex.
                A ``radius`` attribute becomes :attr:`radii`; other attributes are read past and dropped.
            id: label of the result.

        Raises:
            MetadataError: the data is truncated, too long, or an attribute description is invalid.
        """
        data = bytes(data)
        if len(data) < 8:
            raise MetadataError(f"skeleton file of {len(data)} bytes is shorter than its 8-byte header")
        nv, ne = struct.unpack_from("<II", data)
        pos = 8 + 12 * nv + 8 * ne
        if pos > len(data):
            raise MetadataError(
                f"skeleton file is truncated: {nv} vertices, {ne} edges need {pos} bytes, not {len(data)}"
            )
        vertices = np.frombuffer(data, "<f4", 3 * nv, 8).reshape(nv, 3)
        edges = np.frombuffer(data, "<u4", 2 * ne, 8 + 12 * nv).reshape(ne, 2)
        if vertex_attributes is None:
            vertex_attributes = [RADIUS_ATTRIBUTE] if len(data) - pos == 4 * nv and nv else []
        radii = None
        for attr in vertex_attributes:
            try:
                name, dtype, components = attr["id"], str(attr["data_type"]), int(attr["num_components"])
                if dtype not in _ATTRIBUTE_TYPES or components < 1:
                    raise ValueError
            except (KeyError, TypeError, ValueError):
                raise MetadataError(f"skeleton vertex attribute {attr!r} is not a valid description") from None
            size = np.dtype(dtype).itemsize * components * nv
            if pos + size > len(data):
                raise MetadataError(f"skeleton file is truncated inside vertex attribute {name!r}")
            if name == "radius" and components == 1:
                radii = np.frombuffer(data, "<" + np.dtype(dtype).str[1:], nv, pos)
            pos += size
        if pos != len(data):
            raise MetadataError(f"skeleton file has {len(data) - pos} bytes after its declared contents")
        return cls._decoded("skeleton file", vertices, edges, radii=radii, id=id)

    # -- files -------------------------------------------------------------------------------------------------------
    def save(self, path: StrPath) -> None:
        """Write to ``path`` (atomically) as SWC; the suffix must be ``.swc``.

        Raises:
            MetadataError: any other suffix.
        """
        p = Path(path)
        _suffix(p, (".swc",), "skeleton")
        write_atomic(p, self.to_swc().encode())

    @classmethod
    def load(cls, path: StrPath, *, id: int | None = None) -> Skeleton:
        """Read a ``.swc`` file (see :meth:`from_swc`)."""
        p = Path(path)
        _suffix(p, (".swc",), "skeleton")
        return cls.from_swc(p.read_bytes(), id=id)


def _spanning_forest(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BFS order of all vertices, and each vertex's parent (-1 for roots); roots are the lowest index per component."""
    e = edges[edges[:, 0] != edges[:, 1]].astype(np.int64)
    both = np.concatenate([e, e[:, ::-1]])
    both = both[np.lexsort((both[:, 1], both[:, 0]))]  # neighbours in ascending order: deterministic output
    start = np.searchsorted(both[:, 0], np.arange(n + 1)).tolist()
    neighbours = both[:, 1].tolist()
    parent = [-1] * n
    seen = [False] * n
    order: list[int] = []
    for root in range(n):
        if seen[root]:
            continue
        seen[root] = True
        order.append(root)
        i = len(order) - 1
        while i < len(order):
            u = order[i]
            i += 1
            for w in neighbours[start[u] : start[u + 1]]:
                if not seen[w]:  # a seen neighbour means this edge closes a cycle (or repeats one): dropped
                    seen[w] = True
                    parent[w] = u
                    order.append(w)
    return np.array(order, dtype=np.int64), np.array(parent, dtype=np.int64)


def _affine(transform: Sequence[float] | npt.ArrayLike) -> np.ndarray:
    m = np.asarray(transform, dtype=np.float64)
    if m.size != 12 or not np.isfinite(m).all():
        raise MetadataError(f"a skeleton transform is 12 finite numbers (a row-major 3x4 matrix), got {transform!r}")
    return m.reshape(3, 4)


def write_precomputed_skeleton_dir(
    directory: StrPath,
    skeletons: Mapping[int, Skeleton],
    *,
    transform: Sequence[float] | None = None,
) -> None:
    """Write skeletons as a neuroglancer precomputed skeleton directory: ``info`` and one file ``<id>`` per id.

    The info is ``{"@type": "neuroglancer_skeletons", "transform": ..., "vertex_attributes": [radius float32]}``,
    merged into an existing info with the same layout. Files are written atomically.

    Args:
        directory: created if missing.
        skeletons: segment id to skeleton; a skeleton's own ``id``, if set, must equal its key.
        transform: the info's row-major 3x4 affine from stored coordinates to nanometres; identity by default.
            Vertices are in nanometres, so they are stored through the inverse of this transform, and
            :func:`read_precomputed_skeleton_dir` applies it again (exact only for the identity).

    Raises:
        ValueError: an id disagrees with its skeleton.
        MetadataError: the transform is not invertible, or an existing info describes another layout.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> write_precomputed_skeleton_dir(d, {4: Skeleton([[0, 0, 0], [1, 0, 0]], [[0, 1]])})
        >>> sorted(os.listdir(d)), read_precomputed_skeleton_dir(d, 4).cable_length
        (['4', 'info'], 1.0)
    """
    root = Path(directory)
    m = _affine(IDENTITY_TRANSFORM if transform is None else transform)
    identity = np.array_equal(m, np.reshape(IDENTITY_TRANSFORM, (3, 4)))
    if not identity:
        try:
            inverse = np.linalg.inv(m[:, :3])
        except np.linalg.LinAlgError:
            raise MetadataError(f"skeleton transform {list(m.ravel())} is not invertible") from None
    plan = []
    for key, skeleton in skeletons.items():
        label = _label(key, "skeleton id")
        if skeleton.id is not None and skeleton.id != label:
            raise ValueError(f"skeleton with id {skeleton.id} was given under id {label}")
        if not identity:
            stored = (skeleton.vertices.astype(np.float64) - m[:, 3]) @ inverse.T
            skeleton = Skeleton(stored, skeleton.edges, radii=skeleton.radii)
        plan.append((label, skeleton))
    # integers stay integers, so the default transform reads [1, 0, 0, 0, ...] in the info
    written = [int(x) if float(x).is_integer() else float(x) for x in m.ravel()]
    info = {"@type": SKELETON_TYPE, "transform": written, "vertex_attributes": [RADIUS_ATTRIBUTE]}
    root.mkdir(parents=True, exist_ok=True)
    _write_info(
        root,
        info,
        absent={"@type": SKELETON_TYPE, "transform": list(IDENTITY_TRANSFORM), "vertex_attributes": []},
    )
    for label, skeleton in plan:
        write_atomic(root / str(label), skeleton.to_precomputed())


def read_precomputed_skeleton_dir(directory: StrPath, id: int) -> Skeleton:
    """Read skeleton ``id`` from a neuroglancer precomputed skeleton directory, in nanometres.

    The info's ``transform`` is applied to the stored vertices and its ``vertex_attributes`` say how to read the
    file. Without an info, the transform is the identity and the radius is guessed from the file's size. Files
    cloud-volume stored gzipped (``<id>.gz``) are read too.

    Raises:
        NotFoundError: there is no file for ``id``.
        MetadataError: the info or the file is malformed, or the directory is sharded.
    """
    root = Path(directory)
    label = _label(id, "skeleton id")
    info = _read_info(root, "skeleton info")
    attributes = None
    m = np.reshape(IDENTITY_TRANSFORM, (3, 4)).astype(np.float64)
    if info is not None:
        if info.get("@type", SKELETON_TYPE) != SKELETON_TYPE:
            raise MetadataError(f"{str(root)!r} holds {info.get('@type')!r}, not {SKELETON_TYPE!r}")
        m = _affine(info.get("transform", IDENTITY_TRANSFORM))
        attributes = info.get("vertex_attributes", [])
        if not isinstance(attributes, list):
            raise MetadataError(f"skeleton info's vertex_attributes is not a list: {attributes!r}")
    path = root / str(label)
    try:
        data = _read_file(path, f"skeleton of segment {label}")
        skeleton = Skeleton.from_precomputed(data, vertex_attributes=attributes, id=label)
    except MetadataError as exc:
        raise MetadataError(f"{str(path)!r}: {exc}") from None
    if np.array_equal(m, np.reshape(IDENTITY_TRANSFORM, (3, 4))):
        return skeleton
    vertices = skeleton.vertices.astype(np.float64) @ m[:, :3].T + m[:, 3]
    return Skeleton._decoded(str(path), vertices, skeleton.edges, radii=skeleton.radii, id=label)
