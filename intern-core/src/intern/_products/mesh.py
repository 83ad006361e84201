"""`Mesh`: a triangle mesh of one segment, and the files meshes travel in (OBJ, PLY, neuroglancer precomputed).

Coordinates: intern indexes volumes (z, y, x), but mesh vertices are **physical (x, y, z) positions in nanometres**,
the order every mesh format and every viewer uses. The voxel ``(z, y, x)`` of a volume with voxel size
``(rz, ry, rx)`` nm sits at the vertex ``(x * rx, y * ry, z * rz)``: reverse the axes *and* scale. Nothing in this
module knows a volume's voxel size, so nothing here converts for you.

>>> tri = Mesh([[0, 0, 0], [4, 0, 0], [0, 4, 0]], [[0, 1, 2]], id=7)
>>> tri.area
8.0
>>> Mesh.from_precomputed(tri.to_precomputed(), id=7) == tri
True
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    _read_json,
    _safe_name,
    _suffix,
    _text,
    _write_info,
)
from ._ply import decode_ply, encode_ply

__all__ = ["Mesh", "read_precomputed_mesh_dir", "write_precomputed_mesh_dir"]

LEGACY_MESH_TYPE = "neuroglancer_legacy_mesh"


# -- the Mesh --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Mesh:
    """A triangle mesh; immutable, so every operation returns a new mesh.

    Arrays are stored as read-only views (no copy when the dtype already fits), so do not modify arrays you passed
    in afterwards. Use ``dataclasses.replace(mesh, id=5)`` to relabel.

    Args:
        vertices: ``(N, 3)`` positions, stored as float32, in nanometres, in **(x, y, z)** order (not the (z, y, x)
            of volumes).
        faces: ``(M, 3)`` vertex indices per triangle, stored as uint32; counter-clockwise seen from outside, so
            ``volume`` is positive for a closed mesh.
        normals: optional ``(N, 3)`` per-vertex normals, float32.
        id: the segment label the mesh belongs to, if any.

    Raises:
        ValueError: shapes disagree, an index is out of range, or a coordinate is not finite.

    Example:
        >>> m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
        >>> m.translate((10, 0, 0)).bounds[0].tolist()
        [10.0, 0.0, 0.0]
    """

    vertices: np.ndarray
    faces: np.ndarray
    _: KW_ONLY
    normals: np.ndarray | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        vertices = _points(self.vertices, "Mesh vertices")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "faces", _indices(self.faces, 3, "Mesh faces", len(vertices)))
        if self.normals is not None:
            object.__setattr__(self, "normals", _points(self.normals, "Mesh normals", len(vertices)))
        object.__setattr__(self, "id", _as_label(self.id))

    @classmethod
    def _decoded(cls, what: str, *args: Any, **kwargs: Any) -> Mesh:
        # Decoded files are input, not programming errors: report their inconsistencies as MetadataError.
        try:
            return cls(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise MetadataError(f"malformed {what}: {exc}") from None

    def __repr__(self) -> str:
        normals = self.normals is not None
        return f"Mesh(id={self.id}, vertices={len(self.vertices)}, faces={len(self.faces)}, normals={normals})"

    def __eq__(self, other: object) -> bool:
        """Exact equality of ids, vertices, faces and normals (use :meth:`allclose` for tolerance)."""
        if not isinstance(other, Mesh):
            return NotImplemented
        if (self.normals is None) != (other.normals is None):
            return False
        return (
            self.id == other.id
            and np.array_equal(self.vertices, other.vertices)
            and np.array_equal(self.faces, other.faces)
            and (self.normals is None or np.array_equal(self.normals, other.normals))  # type: ignore[arg-type]
        )

    __hash__ = None  # type: ignore[assignment]  # equal meshes must hash alike, and arrays are not hashable

    def allclose(self, other: Mesh, *, rtol: float = 1e-6, atol: float = 1e-3) -> bool:
        """Whether ``other`` has the same faces and vertices within tolerance (``atol`` in nm).

        Normals are compared only when both meshes have them; ids are not compared.

        Example:
            >>> m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
            >>> m.allclose(m.translate((0, 0, 1e-4)))
            True
        """
        if self.vertices.shape != other.vertices.shape or not np.array_equal(self.faces, other.faces):
            return False
        if not np.allclose(self.vertices, other.vertices, rtol=rtol, atol=atol):
            return False
        if self.normals is None or other.normals is None:
            return True
        return bool(np.allclose(self.normals, other.normals, rtol=rtol, atol=max(atol, 1e-6)))

    # -- geometry ----------------------------------------------------------------------------------------------------
    @property
    def area(self) -> float:
        """Surface area in nm²."""
        t = self.vertices.astype(np.float64)[self.faces]
        return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())

    @property
    def volume(self) -> float:
        """Signed enclosed volume in nm³ (divergence theorem); positive when faces are oriented outward.

        Meaningful only for a closed mesh (see :attr:`is_closed`).
        """
        if not len(self.faces):
            return 0.0
        v = self.vertices.astype(np.float64)
        # Same result for a closed surface, but meshes sit ~1e6 nm from the origin, where the triple products
        # would cancel catastrophically; centring keeps them small.
        v -= (v.min(axis=0) + v.max(axis=0)) / 2
        t = v[self.faces]
        return float(np.einsum("ij,ij->", t[:, 0], np.cross(t[:, 1], t[:, 2])) / 6.0)

    @property
    def is_closed(self) -> bool:
        """Whether every edge is shared by exactly two faces (watertight, manifold edges); False without faces.

        Orientation is not checked: a closed mesh with a flipped face is still closed.
        """
        if not len(self.faces):
            return False
        f = self.faces.astype(np.int64)
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        _, counts = np.unique(e[:, 0] * len(self.vertices) + e[:, 1], return_counts=True)
        return bool((counts == 2).all())

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(min, max)`` corners in nm, (x, y, z), each a float32 array of 3; ValueError for an empty mesh."""
        if not len(self.vertices):
            raise ValueError("an empty mesh has no bounds")
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def translate(self, offset: Sequence[float] | npt.ArrayLike) -> Mesh:
        """The mesh moved by ``offset`` nm, given as (x, y, z)."""
        o = np.asarray(offset, dtype=np.float64)
        if o.shape != (3,):
            raise ValueError(f"offset must be (x, y, z), got shape {o.shape}")
        return dataclasses.replace(self, vertices=(self.vertices + o).astype(np.float32))

    @classmethod
    def concatenate(cls, meshes: Iterable[Mesh], *, id: int | None = None) -> Mesh:
        """One mesh holding all triangles of ``meshes``; shared vertices are not welded (see :meth:`deduplicate`).

        Normals are kept only if every mesh has them. The id is ``id``, else the meshes' common id, if they share one.

        Example:
            >>> a = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], id=3)
            >>> Mesh.concatenate([a, a.translate((5, 0, 0))])
            Mesh(id=3, vertices=6, faces=2, normals=False)
        """
        meshes = list(meshes)
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
        faces = [m.faces.astype(np.int64) + o for m, o in zip(meshes, offsets[:-1], strict=True)]
        normals = None
        if meshes and all(m.normals is not None for m in meshes):
            normals = np.concatenate([m.normals for m in meshes if m.normals is not None])
        if id is None and len({m.id for m in meshes}) == 1:
            id = meshes[0].id
        return cls(
            np.concatenate([m.vertices for m in meshes]) if meshes else np.empty((0, 3), np.float32),
            np.concatenate(faces) if meshes else np.empty((0, 3), np.uint32),
            normals=normals,
            id=id,
        )

    def deduplicate(self, decimals: int | None = None) -> Mesh:
        """Weld identical vertices into one and drop the faces that collapse.

        Args:
            decimals: if given, vertices equal after rounding to this many decimals (of a nanometre; negative rounds
                to tens, hundreds...) count as identical. A welded vertex keeps the position of its first occurrence.

        Returns:
            A mesh whose vertices are unique, in order of first occurrence, with faces renumbered and degenerate
            faces (two corners on one vertex) removed. Normals of welded vertices are averaged and renormalised.

        Example:
            >>> soup = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [3, 4, 5]])
            >>> soup.deduplicate()
            Mesh(id=None, vertices=4, faces=2, normals=False)
        """
        key = self.vertices if decimals is None else np.round(self.vertices.astype(np.float64), decimals)
        key = key + 0.0  # turns -0.0 into 0.0: the same point, different bytes
        # Sort rows (stably, so each run of equal rows starts with its first occurrence) and cut at changes:
        # much faster than np.unique(axis=0), and it yields first occurrences directly.
        order = np.lexsort(key.T[::-1])
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = (key[order[1:]] != key[order[:-1]]).any(axis=1)
        first = order[starts]
        group = np.empty(len(order), dtype=np.int64)
        group[order] = np.cumsum(starts) - 1
        # Renumber by first occurrence, so an already welded mesh comes back unchanged.
        by_first = np.argsort(first, kind="stable")
        rank = np.empty_like(by_first)
        rank[by_first] = np.arange(len(by_first))
        new_index = rank[group]
        faces = new_index[self.faces] if len(self.faces) else np.empty((0, 3), np.int64)
        keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
        normals = None
        if self.normals is not None:
            acc = np.zeros((len(first), 3))
            np.add.at(acc, new_index, self.normals.astype(np.float64))
            length = np.linalg.norm(acc, axis=1, keepdims=True)
            normals = np.divide(acc, length, out=np.zeros_like(acc), where=length > 0)
        return Mesh(self.vertices[first[by_first]], faces[keep], normals=normals, id=self.id)

    # -- OBJ ---------------------------------------------------------------------------------------------------------
    def to_obj(self) -> str:
        """Wavefront OBJ text (``v``, optional ``vn``, 1-based ``f``); float32 coordinates survive exactly."""
        parts = ["# intern mesh: vertices in nanometres, (x, y, z)\n"]
        if self.id is not None:
            parts.append(f"o {self.id}\n")
        # One %-format over the whole array runs in C. 9 significant digits bring any float32 back exactly.
        parts.append("v %.9g %.9g %.9g\n" * len(self.vertices) % tuple(self.vertices.ravel().tolist()))
        faces = (self.faces.astype(np.int64) + 1).ravel()
        if self.normals is not None:
            parts.append("vn %.9g %.9g %.9g\n" * len(self.vertices) % tuple(self.normals.ravel().tolist()))
            parts.append("f %d//%d %d//%d %d//%d\n" * len(self.faces) % tuple(np.repeat(faces, 2).tolist()))
        else:
            parts.append("f %d %d %d\n" * len(self.faces) % tuple(faces.tolist()))
        return "".join(parts)

    @classmethod
    def from_obj(cls, data: bytes | str, *, id: int | None = None) -> Mesh:
        """Parse OBJ text; polygons are fan-triangulated, and everything but ``v``, ``vn`` and ``f`` is ignored.

        ``vn`` normals are kept only when they pair one-to-one with vertices (as many, and faces refer to the same
        index for both); OBJ lets normals be indexed apart from positions, which a per-vertex ``normals`` cannot hold.

        Raises:
            MetadataError: a line does not parse or a face refers to a missing vertex.
        """
        verts: list[list[str]] = []
        norms: list[list[str]] = []
        corners: list[str] = []  # "v", "v/t", "v//n" or "v/t/n" of each triangle corner, parsed together below
        counts: list[tuple[int, int, int]] = []  # per face: vertices and normals read before it, triangles made
        for lineno, line in enumerate(_text(data, "OBJ").splitlines(), 1):
            parts = line.split("#", 1)[0].split() if "#" in line else line.split()
            if not parts or parts[0] not in ("v", "vn", "f"):
                continue  # vt, g, o, s, usemtl, l, ...: nothing a Mesh stores
            if len(parts) < 4:
                raise MetadataError(f"OBJ line {lineno} ({line.strip()!r}) has fewer than 3 values")
            if parts[0] == "v":
                verts.append(parts[1:4])  # may carry w or colours after
            elif parts[0] == "vn":
                norms.append(parts[1:4])
            else:
                fan = range(2, len(parts) - 1)
                corners += [c for k in fan for c in (parts[1], parts[k], parts[k + 1])] if len(parts) > 4 else parts[1:]
                counts.append((len(verts), len(norms), len(parts) - 3))
        # negative indices count back from the vertex (normal) read last before their face
        c = np.array(counts, dtype=np.int64).reshape(-1, 3)
        seen = np.repeat(c[:, :2], 3 * c[:, 2], axis=0)
        try:
            vertices = np.array(verts, dtype=np.float64).reshape(-1, 3)
            normals = np.array(norms, dtype=np.float64).reshape(-1, 3)
            vi, has_n, ni = _obj_corners(corners, seen)
        except ValueError as exc:
            raise MetadataError(f"OBJ value does not parse: {exc}") from None
        paired = len(normals) == len(vertices) > 0 and np.array_equal(ni, vi[has_n])
        return cls._decoded("OBJ", vertices, vi.reshape(-1, 3), normals=normals if paired else None, id=id)

    # -- PLY ---------------------------------------------------------------------------------------------------------
    def to_ply(self) -> bytes:
        """Binary little-endian PLY: float x, y, z (and nx, ny, nz), faces as ``list uchar uint vertex_indices``."""
        return encode_ply(self.vertices, self.faces, self.normals, self.id)

    @classmethod
    def from_ply(cls, data: bytes, *, id: int | None = None) -> Mesh:
        """Parse PLY, ``ascii``, ``binary_little_endian`` or ``binary_big_endian``; polygons are fan-triangulated.

        Needs a ``vertex`` element with x, y, z (nx, ny, nz become normals); a ``face`` element with a
        ``vertex_indices`` (or ``vertex_index``) list is optional. Other elements and properties are skipped.

        Raises:
            MetadataError: the header or body is malformed or truncated.
        """
        vertices, faces, normals = decode_ply(data)
        return cls._decoded("PLY", vertices, faces, normals=normals, id=id)

    # -- neuroglancer precomputed (legacy) ---------------------------------------------------------------------------
    def to_precomputed(self) -> bytes:
        """A neuroglancer legacy mesh fragment: uint32 nv, float32 [nv, 3] xyz in nm, uint32 [nf, 3] indices (LE)."""
        header = struct.pack("<I", len(self.vertices))
        return header + self.vertices.astype("<f4").tobytes() + self.faces.astype("<u4").tobytes()

    @classmethod
    def from_precomputed(cls, data: bytes, *, id: int | None = None) -> Mesh:
        """Parse a neuroglancer legacy mesh fragment (see :meth:`to_precomputed`).

        Raises:
            MetadataError: the fragment is truncated, has a partial triangle or an index out of range.
        """
        data = bytes(data)
        if len(data) < 4:
            raise MetadataError(f"legacy mesh fragment of {len(data)} bytes is shorter than its 4-byte header")
        (nv,) = struct.unpack_from("<I", data)
        end = 4 + 12 * nv
        if end > len(data):
            raise MetadataError(f"legacy mesh fragment is truncated: {nv} vertices need {end} bytes, got {len(data)}")
        if (len(data) - end) % 12:
            raise MetadataError(f"legacy mesh fragment has {len(data) - end} bytes of indices, not whole triangles")
        vertices = np.frombuffer(data, "<f4", 3 * nv, 4).reshape(nv, 3)
        faces = np.frombuffer(data, "<u4", offset=end).reshape(-1, 3)
        return cls._decoded("legacy mesh fragment", vertices, faces, id=id)

    # -- files -------------------------------------------------------------------------------------------------------
    def save(self, path: StrPath) -> None:
        """Write to ``path`` (atomically) as OBJ or PLY, chosen by its suffix (``.obj``, ``.ply``).

        Raises:
            MetadataError: any other suffix.
        """
        p = Path(path)
        suffix = _suffix(p, (".obj", ".ply"), "mesh")
        write_atomic(p, self.to_obj().encode() if suffix == ".obj" else self.to_ply())

    @classmethod
    def load(cls, path: StrPath, *, id: int | None = None) -> Mesh:
        """Read an ``.obj`` or ``.ply`` file.

        Example:
            >>> import os, tempfile
            >>> m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
            >>> path = os.path.join(tempfile.mkdtemp(), "m.ply")
            >>> m.save(path); Mesh.load(path) == m
            True
        """
        p = Path(path)
        suffix = _suffix(p, (".obj", ".ply"), "mesh")
        data = p.read_bytes()
        return cls.from_obj(data, id=id) if suffix == ".obj" else cls.from_ply(data, id=id)


# -- OBJ internals ---------------------------------------------------------------------------------------------------
def _obj_corners(corners: list[str], seen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 0-based vertex index of each face corner, which corners name a normal, and those normals' indices."""
    if not any("/" in c for c in corners):
        return _obj_indices(corners, seen[:, 0]), np.zeros(len(corners), bool), np.empty(0, np.int64)
    if all(c.count("/") == 2 for c in corners):
        # every corner "v/t/n" or "v//n", as most writers emit: split them all at once
        split = " ".join(corners).replace("//", "/0/").replace("/", " ").split()
        if len(split) == 3 * len(corners):
            vi, ni = _obj_indices(split[0::3], seen[:, 0]), _obj_indices(split[2::3], seen[:, 1])
            return vi, np.ones(len(corners), bool), ni
    refs = [c.split("/") for c in corners]
    has_n = np.array([len(r) > 2 and r[2] != "" for r in refs], dtype=bool)
    normal_refs = [r[2] for r in refs if len(r) > 2 and r[2]]
    return _obj_indices([r[0] for r in refs], seen[:, 0]), has_n, _obj_indices(normal_refs, seen[has_n, 1])


def _obj_indices(tokens: list[str], seen: npt.ArrayLike) -> np.ndarray:
    i = np.array(tokens, dtype=str).astype(np.int64) if tokens else np.empty(0, np.int64)
    if (i == 0).any():
        raise ValueError("OBJ indices start at 1, found 0")
    # negative indices count back from the latest element read
    return np.where(i > 0, i - 1, np.asarray(seen, dtype=np.int64) + i)


# -- precomputed mesh directories -------------------------------------------------------------------------------------
def write_precomputed_mesh_dir(
    directory: StrPath,
    meshes: Mapping[int, Mesh],
    *,
    fragment_name: str | Callable[[int], str] | None = None,
) -> None:
    """Write meshes as a neuroglancer legacy mesh directory, one fragment per id.

    Writes ``info`` (``{"@type": "neuroglancer_legacy_mesh"}``, merged into an existing legacy info), then per id the
    fragment (see :meth:`Mesh.to_precomputed`) and the manifest ``<id>:0`` = ``{"fragments": ["<fragment>"]}``, in
    that order so a reader that finds a manifest also finds its fragment. Every file is written atomically.
    File names contain ``:``, which Windows does not allow.

    Args:
        directory: created if missing.
        meshes: segment id to mesh; a mesh's own ``id``, if set, must equal its key.
        fragment_name: fragment file name, ``"<id>:0:1"`` by default; a string is formatted with ``id=<id>``
            (e.g. ``"{id}:0:mesh"``), a callable is called with the id.

    Raises:
        ValueError: an id disagrees with its mesh, or fragment names collide.
        MetadataError: the directory's existing info describes another mesh format or is sharded.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> write_precomputed_mesh_dir(d, {12: Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])})
        >>> sorted(os.listdir(d))
        ['12:0', '12:0:1', 'info']
        >>> read_precomputed_mesh_dir(d, 12)
        Mesh(id=12, vertices=3, faces=1, normals=False)
    """
    root = Path(directory)
    plan: list[tuple[int, str, Mesh]] = []
    for key, mesh in meshes.items():
        label = _label(key, "mesh id")
        if mesh.id is not None and mesh.id != label:
            raise ValueError(f"mesh with id {mesh.id} was given under id {label}")
        if fragment_name is None:
            name = f"{label}:0:1"
        else:
            name = fragment_name(label) if callable(fragment_name) else fragment_name.format(id=label)
        plan.append((label, _safe_name(name, "fragment name"), mesh))
    names = [name for _, name, _ in plan]
    reserved = {"info"} | {f"{label}:0" for label, _, _ in plan}
    if len(set(names)) != len(names) or reserved & set(names):
        raise ValueError(f"fragment names {names} collide with each other, a manifest or info")
    root.mkdir(parents=True, exist_ok=True)
    _write_info(root, {"@type": LEGACY_MESH_TYPE}, absent={"@type": LEGACY_MESH_TYPE})
    for label, name, mesh in plan:
        write_atomic(root / name, mesh.to_precomputed())
        write_atomic(root / f"{label}:0", json.dumps({"fragments": [name]}).encode())


def read_precomputed_mesh_dir(directory: StrPath, id: int) -> Mesh:
    """Read segment ``id`` from a neuroglancer legacy mesh directory: its manifest, then all its fragments.

    Fragments are concatenated without welding the vertices they share; call :meth:`Mesh.deduplicate` for that.
    Files cloud-volume stored gzipped (``<name>.gz``) are read too.

    Raises:
        NotFoundError: there is no manifest, or a fragment it lists is missing.
        MetadataError: the info is not a legacy mesh info, or a manifest or fragment is malformed.
    """
    root = Path(directory)
    label = _label(id, "mesh id")
    info = _read_info(root, "mesh info")
    if info is not None and info.get("@type", LEGACY_MESH_TYPE) != LEGACY_MESH_TYPE:
        raise MetadataError(f"{str(root)!r} holds {info.get('@type')!r} meshes, not {LEGACY_MESH_TYPE!r}")
    manifest = _read_json(root / f"{label}:0", f"mesh manifest of segment {label}")
    fragments = manifest.get("fragments") if isinstance(manifest, dict) else None
    if not isinstance(fragments, list):
        raise MetadataError(f"mesh manifest of segment {label} has no 'fragments' list: {manifest!r}")
    parts = []
    for name in fragments:
        path = root / _safe_name(name, f"fragment of segment {label}")
        try:
            parts.append(Mesh.from_precomputed(_read_file(path, f"mesh fragment of segment {label}")))
        except MetadataError as exc:
            raise MetadataError(f"{str(path)!r}: {exc}") from None
    return Mesh.concatenate(parts, id=label)
