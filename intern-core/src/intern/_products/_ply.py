"""PLY encoding and decoding for `Mesh.to_ply` and `Mesh.from_ply`: plain arrays in, plain arrays out."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import MetadataError


def encode_ply(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None, id: int | None) -> bytes:
    """Binary little-endian PLY: float x, y, z (and nx, ny, nz), faces as ``list uchar uint vertex_indices``."""
    names = ["x", "y", "z"] + (["nx", "ny", "nz"] if normals is not None else [])
    header = ["ply", "format binary_little_endian 1.0", "comment intern mesh: vertices in nanometres, (x, y, z)"]
    if id is not None:
        header.append(f"comment id {id}")
    header += [f"element vertex {len(vertices)}", *(f"property float {n}" for n in names)]
    header += [f"element face {len(faces)}", "property list uchar uint vertex_indices", "end_header", ""]
    vertex = np.empty(len(vertices), dtype=[(n, "<f4") for n in names])
    for i, n in enumerate(names):
        vertex[n] = (vertices if i < 3 else normals)[:, i % 3]  # type: ignore[index]
    face = np.empty(len(faces), dtype=[("n", "u1"), ("i", "<u4", (3,))])
    face["n"] = 3
    face["i"] = faces
    return "\n".join(header).encode("ascii") + vertex.tobytes() + face.tobytes()


def decode_ply(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(vertices, faces, normals)`` of PLY data, polygons fan-triangulated; not yet validated as a mesh.

    Raises:
        MetadataError: the header or body is malformed or truncated.
    """
    data = bytes(data)
    fmt, elements, pos = _ply_header(data)
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise MetadataError(f"PLY format {fmt!r} is not ascii, binary_little_endian or binary_big_endian")
    cols: dict[str, dict[str, Any]] = {}
    tokens = data[pos:].split() if fmt == "ascii" else []
    if fmt == "ascii":
        pos = 0  # from here on, a count of tokens rather than of bytes
    endian = ">" if fmt == "binary_big_endian" else "<"
    try:
        for name, count, props in elements:
            if fmt == "ascii":
                cols[name], pos = _ply_ascii_element(tokens, pos, count, props)
            else:
                cols[name], pos = _ply_binary_element(data, pos, count, props, endian)
        vertex = cols.get("vertex", {})
        if not all(k in vertex for k in "xyz"):
            raise MetadataError("PLY has no vertex element with x, y and z properties")
        vertices = np.stack([vertex[k] for k in "xyz"], axis=1)
        has_normals = all(k in vertex for k in ("nx", "ny", "nz"))
        normals = np.stack([vertex[k] for k in ("nx", "ny", "nz")], axis=1) if has_normals else None
    except (ValueError, IndexError, struct.error) as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"PLY body is malformed or truncated: {exc}") from None
    face = cols.get("face", {})
    polygons = face.get("vertex_indices", face.get("vertex_index", np.empty((0, 3))))
    return vertices, _triangulate(polygons), normals


# -- PLY internals ---------------------------------------------------------------------------------------------------
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}  # fmt: skip
_Prop = tuple[str, str, str | None]  # name, value type, list count type (None for a scalar)


def _ply_header(data: bytes) -> tuple[str, list[tuple[str, int, list[_Prop]]], int]:
    if not data.startswith(b"ply"):
        raise MetadataError("not a PLY file: it does not start with 'ply'")
    end = re.search(rb"end_header[ \t]*\r?\n", data)
    if end is None:
        raise MetadataError("PLY header has no end_header line")
    fmt = ""
    elements: list[tuple[str, int, list[_Prop]]] = []
    for line in data[: end.start()].decode("ascii", "replace").splitlines()[1:]:
        p = line.split()
        try:
            if not p or p[0] in ("comment", "obj_info"):
                continue
            if p[0] == "format":
                fmt = p[1]
            elif p[0] == "element":
                elements.append((p[1], int(p[2]), []))
            elif p[0] == "property" and elements:
                prop = (p[4], _PLY_TYPES[p[3]], _PLY_TYPES[p[2]]) if p[1] == "list" else (p[2], _PLY_TYPES[p[1]], None)
                elements[-1][2].append(prop)
            else:
                raise ValueError
        except (IndexError, KeyError, ValueError):
            raise MetadataError(f"PLY header line {line!r} does not parse") from None
    return fmt, elements, end.end()


def _ply_binary_element(
    data: bytes, pos: int, count: int, props: list[_Prop], endian: str
) -> tuple[dict[str, Any], int]:
    # Fast path: every list in the element is as long as in the first row (triangles, in practice), so the element
    # is one fixed-size record and numpy reads it in one go. Otherwise fall back to reading row by row.
    fields: list[tuple[Any, ...]] = []
    lengths: dict[int, int] = {}
    p = pos
    for i, (_, vtype, ctype) in enumerate(props):
        if ctype is None:
            fields.append((f"s{i}", endian + vtype))
            p += int(vtype[1])
            continue
        n = int(np.frombuffer(data, endian + ctype, 1, p)[0]) if count else 0
        lengths[i] = n
        fields += [(f"n{i}", endian + ctype), (f"l{i}", endian + vtype, (n,))]
        p += int(ctype[1]) + n * int(vtype[1])
    rec = np.dtype(fields)
    if pos + count * rec.itemsize <= len(data):
        arr = np.frombuffer(data, rec, count, pos)
        if all((arr[f"n{i}"] == n).all() for i, n in lengths.items()):
            cols = {name: arr[f"l{i}" if i in lengths else f"s{i}"] for i, (name, _, _) in enumerate(props)}
            return cols, pos + count * rec.itemsize
    codes = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}
    rows: list[list[Any]] = [[] for _ in props]
    for _ in range(count):
        for i, (_, vtype, ctype) in enumerate(props):
            if ctype is None:
                rows[i].append(struct.unpack_from(endian + codes[vtype], data, pos)[0])
                pos += int(vtype[1])
            else:
                (n,) = struct.unpack_from(endian + codes[ctype], data, pos)
                rows[i].append(struct.unpack_from(f"{endian}{n}{codes[vtype]}", data, pos + int(ctype[1])))
                pos += int(ctype[1]) + n * int(vtype[1])
    return {name: rows[i] if ctype else np.array(rows[i]) for i, (name, _, ctype) in enumerate(props)}, pos


def _ply_ascii_element(tokens: list[bytes], pos: int, count: int, props: list[_Prop]) -> tuple[dict[str, Any], int]:
    # ASCII rows are whitespace-separated values; ``pos`` counts tokens. Same fast path as the binary reader.
    widths, q = [], pos
    for _, _, ctype in props:
        widths.append(1 if ctype is None or not count else 1 + int(tokens[q]))
        q += widths[-1]
    w = sum(widths)
    block = tokens[pos : pos + count * w]
    if len(block) == count * w:
        arr = np.array(block, dtype=np.float64).reshape(count, w)
        spans = list(zip(props, np.cumsum([0, *widths[:-1]]).tolist(), widths, strict=True))
        if all(c is None or (arr[:, s] == wd - 1).all() for (_, _, c), s, wd in spans):
            cols = {name: arr[:, s] if c is None else arr[:, s + 1 : s + wd] for (name, _, c), s, wd in spans}
            return cols, pos + count * w
    rows: list[list[Any]] = [[] for _ in props]
    for _ in range(count):
        for i, (_, _, ctype) in enumerate(props):
            if ctype is None:
                rows[i].append(float(tokens[pos]))
                pos += 1
            else:
                n = int(tokens[pos])
                if n < 0 or pos + 1 + n > len(tokens):
                    raise ValueError(f"list of {n} values does not fit the file")
                rows[i].append([float(t) for t in tokens[pos + 1 : pos + 1 + n]])
                pos += 1 + n
    return {name: rows[i] if ctype else np.array(rows[i]) for i, (name, _, ctype) in enumerate(props)}, pos


def _triangulate(polygons: np.ndarray | list[Sequence[float]]) -> np.ndarray:
    """Fan-triangulate polygons, given as one (M, L) array or as a list of index sequences."""
    if len(polygons) == 0:
        return np.empty((0, 3), np.int64)
    if isinstance(polygons, np.ndarray):
        if polygons.ndim != 2:
            raise MetadataError("PLY face property is not a list of vertex indices")
        if polygons.shape[1] < 3:
            raise MetadataError(f"PLY faces have {polygons.shape[1]} corners; a face needs at least 3")
        fan = [polygons[:, [0, k, k + 1]] for k in range(1, polygons.shape[1] - 1)]
        return np.stack(fan, axis=1).reshape(-1, 3).astype(np.int64)
    out: list[tuple[float, float, float]] = []
    for poly in polygons:
        if len(poly) < 3:
            raise MetadataError(f"PLY face {list(poly)} has fewer than 3 corners")
        out.extend((poly[0], poly[k], poly[k + 1]) for k in range(1, len(poly) - 1))
    return np.array(out, dtype=np.int64).reshape(-1, 3)
