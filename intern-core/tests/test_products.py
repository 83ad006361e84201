"""Tests of intern._products: Mesh and Skeleton, their codecs and the precomputed directory layout."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from intern._products import (
    Mesh,
    Skeleton,
    read_precomputed_mesh_dir,
    read_precomputed_skeleton_dir,
    write_precomputed_mesh_dir,
    write_precomputed_skeleton_dir,
)
from intern.errors import MetadataError, NotFoundError

# -- fixtures and strategies ------------------------------------------------------------------------------------------
CUBE_VERTICES = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]  # index = 4x + 2y + z
# two triangles per side, counter-clockwise seen from outside
CUBE_FACES = [
    [0, 1, 3], [0, 3, 2],  # x = 0
    [4, 6, 7], [4, 7, 5],  # x = 1
    [0, 4, 5], [0, 5, 1],  # y = 0
    [2, 3, 7], [2, 7, 6],  # y = 1
    [0, 2, 6], [0, 6, 4],  # z = 0
    [1, 5, 7], [1, 7, 3],  # z = 1
]  # fmt: skip


def cube(offset=(0.0, 0.0, 0.0), size=1.0, id=None) -> Mesh:
    return Mesh(np.array(CUBE_VERTICES, float) * size + offset, CUBE_FACES, id=id)


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def meshes(draw):
    n = draw(st.integers(0, 20))
    vertices = draw(hnp.arrays(np.float32, (n, 3), elements=finite32))
    m = draw(st.integers(0, 20)) if n else 0
    faces = draw(hnp.arrays(np.uint32, (m, 3), elements=st.integers(0, max(n - 1, 0))))
    nrm = draw(hnp.arrays(np.float32, (n, 3), elements=finite32)) if draw(st.booleans()) else None
    return Mesh(vertices, faces, normals=nrm, id=draw(st.none() | st.integers(0, 2**64 - 1)))


@st.composite
def trees(draw):
    """Skeletons that are forests whose parents have lower indices, with edges in random order and direction."""
    n = draw(st.integers(0, 25))
    parents = [draw(st.integers(-1, i - 1)) for i in range(n)]
    edges = [(p, i) if draw(st.booleans()) else (i, p) for i, p in enumerate(parents) if p >= 0]
    edges = draw(st.permutations(edges)) if edges else []
    vertices = draw(hnp.arrays(np.float32, (n, 3), elements=finite32))
    radii = draw(hnp.arrays(np.float32, (n,), elements=finite32))
    return Skeleton(vertices, np.array(edges, dtype=np.int64).reshape(-1, 2), radii=radii)


@st.composite
def graphs(draw):
    """Skeletons with arbitrary edges: cycles, self-loops, repeats."""
    n = draw(st.integers(1, 15))
    edges = draw(hnp.arrays(np.uint32, (draw(st.integers(0, 30)), 2), elements=st.integers(0, n - 1)))
    vertices = draw(hnp.arrays(np.float32, (n, 3), elements=st.floats(-1e6, 1e6, width=32)))
    return Skeleton(vertices, edges, id=draw(st.none() | st.integers(0, 1000)))


def undirected(edges) -> set[frozenset[int]]:
    return {frozenset(map(int, e)) for e in np.asarray(edges)}


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# -- Mesh: construction and geometry ----------------------------------------------------------------------------------
def test_cube_area_volume_closed():
    m = cube()
    assert (len(m.vertices), len(m.faces)) == (8, 12)
    assert m.area == pytest.approx(6.0)
    assert m.volume == pytest.approx(1.0)
    assert m.is_closed


def test_volume_is_translation_invariant_and_scales():
    far = cube(offset=(1e6, 2e6, 3e6), size=100.0)
    assert far.volume == pytest.approx(1e6, rel=1e-6)
    assert far.area == pytest.approx(6e4, rel=1e-6)


def test_flipped_faces_give_negative_volume():
    flipped = Mesh(cube().vertices, cube().faces[:, ::-1])
    assert flipped.volume == pytest.approx(-1.0)
    assert flipped.is_closed  # orientation is not part of closedness


def test_open_mesh_is_not_closed():
    assert not Mesh(cube().vertices, cube().faces[:-1]).is_closed
    assert not Mesh(np.empty((0, 3)), np.empty((0, 3), int)).is_closed


def test_arrays_are_typed_and_read_only():
    m = cube()
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.uint32
    with pytest.raises(ValueError):
        m.vertices[0, 0] = 5
    with pytest.raises(AttributeError):
        m.id = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("vertices", "faces", "kwargs"),
    [
        ([[0, 0]], [], {}),  # not (N, 3)
        ([[0, 0, 0]], [[0, 0, 1]], {}),  # index out of range
        ([[0, 0, 0]], [[0, 0, -1]], {}),  # negative index
        ([[0, 0, np.nan]], [], {}),  # not finite
        ([[0, 0, 0]], [], {"normals": [[0, 0, 1], [0, 0, 1]]}),  # normals of another length
        ([[0, 0, 0]], [], {"id": -1}),
    ],
)
def test_invalid_construction_raises_value_error(vertices, faces, kwargs):
    with pytest.raises(ValueError):
        Mesh(vertices, faces, **kwargs)


def test_bounds_translate_allclose_eq():
    m = cube(id=4)
    lo, hi = m.translate((10, 20, 30)).bounds
    assert lo.tolist() == [10, 20, 30] and hi.tolist() == [11, 21, 31]
    assert m == cube(id=4) and m != cube(id=5) and m != "cube"
    assert m.allclose(m.translate((0, 0, 1e-4))) and not m.allclose(m.translate((0, 0, 1)))
    with pytest.raises(ValueError):
        _ = Mesh(np.empty((0, 3)), np.empty((0, 3), int)).bounds


def test_concatenate_offsets_faces_and_keeps_common_id():
    a, b = cube(id=2), cube(offset=(5, 0, 0), id=2)
    both = Mesh.concatenate([a, b])
    assert both.id == 2 and len(both.vertices) == 16 and both.faces.max() == 15
    assert both.volume == pytest.approx(2.0) and both.is_closed
    assert Mesh.concatenate([a, cube(id=3)]).id is None
    assert Mesh.concatenate([]).vertices.shape == (0, 3)


def test_deduplicate_welds_a_triangle_soup():
    c = cube()
    soup = Mesh(c.vertices[c.faces.ravel()], np.arange(36).reshape(12, 3))
    assert not soup.is_closed
    welded = soup.deduplicate()
    assert (len(welded.vertices), len(welded.faces)) == (8, 12)
    assert welded.is_closed and welded.volume == pytest.approx(1.0)
    assert welded.deduplicate() == welded  # idempotent: vertex order is order of first occurrence


def test_deduplicate_with_decimals_drops_collapsed_faces():
    m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1.0004, 0, 0], [-0.0, 0, 0]], [[0, 1, 2], [1, 3, 2], [0, 4, 2]])
    exact = m.deduplicate()  # -0.0 and 0.0 are one point, so face [0, 4, 2] collapses
    assert len(exact.vertices) == 4 and exact.faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    rounded = m.deduplicate(decimals=2)
    assert len(rounded.vertices) == 3 and rounded.faces.tolist() == [[0, 1, 2]]
    assert rounded.vertices[1].tolist() == [1, 0, 0]  # the first occurrence's position is kept


def test_deduplicate_averages_normals():
    m = Mesh([[0, 0, 0], [0, 0, 0], [1, 0, 0]], [[0, 2, 1]], normals=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    welded = m.deduplicate()
    np.testing.assert_allclose(welded.normals, [[2**-0.5, 2**-0.5, 0], [0, 0, 1]], rtol=1e-6)
    assert len(welded.faces) == 0


# -- Mesh codecs ------------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(meshes())
def test_precomputed_round_trip_is_exact(m):
    back = Mesh.from_precomputed(m.to_precomputed(), id=m.id)
    assert same_bytes(back.vertices, m.vertices) and same_bytes(back.faces, m.faces)
    assert back.normals is None  # the legacy format has no normals


@settings(max_examples=60, deadline=None)
@given(meshes())
def test_ply_round_trip_is_exact(m):
    back = Mesh.from_ply(m.to_ply(), id=m.id)
    assert same_bytes(back.vertices, m.vertices) and same_bytes(back.faces, m.faces)
    assert (back.normals is None) == (m.normals is None)
    if m.normals is not None:
        assert same_bytes(back.normals, m.normals)


@settings(max_examples=60, deadline=None)
@given(meshes())
def test_obj_round_trip_keeps_every_float32(m):
    text = m.to_obj()
    back = Mesh.from_obj(text, id=m.id)
    if not len(m.vertices):
        m = Mesh(m.vertices, m.faces, id=m.id)  # zero normals are no "vn" lines: OBJ cannot tell them from none
    assert back == m  # 9 significant digits bring every float32 back exactly
    assert Mesh.from_obj(text.encode(), id=m.id) == m


def test_precomputed_byte_layout():
    m = cube(offset=(1, 2, 3))
    data = m.to_precomputed()
    assert len(data) == 4 + 8 * 12 + 12 * 12
    assert struct.unpack_from("<I", data)[0] == 8
    assert struct.unpack_from("<3f", data, 4) == (1.0, 2.0, 3.0)
    assert list(struct.unpack_from("<3I", data, 4 + 96)) == CUBE_FACES[0]


def test_ply_header_is_binary_little_endian():
    data = cube().to_ply()
    header, _, body = data.partition(b"end_header\n")
    assert header.startswith(b"ply\nformat binary_little_endian 1.0\n")
    assert b"element vertex 8\n" in header and b"property list uchar uint vertex_indices\n" in header
    assert len(body) == 8 * 12 + 12 * 13
    assert body[96] == 3 and struct.unpack_from("<3I", body, 97) == tuple(CUBE_FACES[0])


def test_reads_ascii_ply_with_quads_and_extra_properties():
    text = b"""ply
format ascii 1.0
comment a unit square as one quad, plus an edge element to skip
element vertex 4
property double x
property double y
property double z
property uchar red
element face 1
property list uchar int vertex_index
property int flags
element edge 1
property int vertex1
property int vertex2
end_header
0 0 0 255
1 0 0 255
1 1 0 255
0 1 0 255
4 0 1 2 3 7
0 1
"""
    m = Mesh.from_ply(text)
    assert m.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3]] and m.area == pytest.approx(1.0)


def test_reads_ply_with_mixed_polygon_sizes():
    header = b"ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
    header += b"property float z\nelement face 2\nproperty list uchar uint vertex_indices\nend_header\n"
    body = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], "<f4").tobytes()
    body += struct.pack("<B3I", 3, 0, 1, 2) + struct.pack("<B4I", 4, 0, 1, 2, 3)
    m = Mesh.from_ply(header + body)
    assert m.faces.tolist() == [[0, 1, 2], [0, 1, 2], [0, 2, 3]]
    ascii_ = b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
    ascii_ += b"element face 2\nproperty list uchar uint vertex_indices\nend_header\n"
    ascii_ += b"0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n4 0 1 2 3\n"
    assert Mesh.from_ply(ascii_) == m


def test_reads_obj_variants():
    text = """# comment
mtllib x.mtl
o thing
v 0 0 0
v 1 0 0 1.0
v 1 1 0
v 0 1 0
vt 0 0
vn 0 0 1
vn 0 0 1
vn 0 0 1
vn 0 0 1
s off
f 1/1/1 2/1/2 3/1/3 4/1/4
f -4 -2 -1
"""
    m = Mesh.from_obj(text, id=9)
    assert m.id == 9 and len(m.vertices) == 4
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]]
    assert m.normals is not None and m.normals[:, 2].tolist() == [1, 1, 1, 1]
    # normals indexed apart from positions cannot be per-vertex: dropped
    assert Mesh.from_obj(text.replace("4/1/4", "4/1/1")).normals is None
    # corners of mixed forms
    mixed = Mesh.from_obj(text.replace("f 1/1/1 2/1/2 3/1/3 4/1/4", "f 1 2//2 3/1 4/1/4"))
    assert mixed.faces.tolist() == m.faces.tolist() and mixed.normals is not None


def test_reads_big_endian_ply():
    m = cube(offset=(0.5, 0, 0))
    header = cube().to_ply().partition(b"end_header\n")[0].replace(b"binary_little_endian", b"binary_big_endian")
    face = np.empty(12, dtype=[("n", "u1"), ("i", ">u4", (3,))])
    face["n"], face["i"] = 3, m.faces
    assert Mesh.from_ply(header + b"end_header\n" + m.vertices.astype(">f4").tobytes() + face.tobytes()) == m


XYZ_ASCII_HEADER = b"ply\nformat ascii 1.0\nelement vertex 1\n"
XYZ_ASCII_HEADER += b"property float x\nproperty float y\nproperty float z\nend_header\n"
FACE_NOT_A_LIST = b"element face 1\nproperty int vertex_indices\nend_header"


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (Mesh.from_precomputed, b""),
        (Mesh.from_precomputed, b"\x01\x00"),
        (Mesh.from_precomputed, struct.pack("<I", 3) + b"\x00" * 20),  # vertices truncated
        (Mesh.from_precomputed, struct.pack("<I", 1) + b"\x00" * 12 + b"\x00" * 8),  # partial triangle
        (Mesh.from_precomputed, struct.pack("<I", 1) + b"\x00" * 12 + struct.pack("<3I", 0, 0, 1)),  # bad index
        (Mesh.from_ply, b"not a ply"),
        (Mesh.from_ply, b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"),  # no end_header
        (Mesh.from_ply, b"ply\nformat ascii 1.0\nelement vertex 1\nproperty quaternion x\nend_header\n"),
        (Mesh.from_ply, b"ply\nformat binary_vax 1.0\nend_header\n"),
        (Mesh.from_ply, b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n"),  # no y, z
        (Mesh.from_ply, cube().to_ply()[:-5]),  # truncated body
        (Mesh.from_ply, XYZ_ASCII_HEADER.replace(b"vertex 1", b"vertex 2") + b"0 0 0\n1 1\n"),  # short row
        (Mesh.from_ply, XYZ_ASCII_HEADER + b"0 0 nan\n"),
        (  # faces that are not a list
            Mesh.from_ply,
            XYZ_ASCII_HEADER.replace(b"end_header", FACE_NOT_A_LIST) + b"0 0 0\n0\n",
        ),
        (Mesh.from_obj, "v 1 2\n"),
        (Mesh.from_obj, "v 1 2 x\n"),
        (Mesh.from_obj, "v 0 0 0\nf 1 1\n"),
        (Mesh.from_obj, "v 0 0 0\nf 1 1 2\n"),  # refers to a missing vertex
        (Mesh.from_obj, "v 0 0 0\nf 0 1 1\n"),
        (Mesh.from_obj, b"\xff\xfe"),
    ],
)
def test_malformed_mesh_data_raises_metadata_error(decode, data):
    with pytest.raises(MetadataError):
        decode(data)
    assert issubclass(MetadataError, ValueError)


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".PLY"])
def test_save_and_load_by_suffix(tmp_path, suffix):
    m = cube(offset=(0.1, 0.2, 0.3))
    path = tmp_path / f"cube{suffix}"
    m.save(path)
    assert Mesh.load(path) == m and Mesh.load(str(path), id=3).id == 3
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_save_rejects_unknown_suffix(tmp_path):
    with pytest.raises(MetadataError, match="suffix"):
        cube().save(tmp_path / "cube.stl")
    with pytest.raises(MetadataError):
        Mesh.load(tmp_path / "cube")
    assert not list(tmp_path.iterdir())


# -- precomputed mesh directories -------------------------------------------------------------------------------------
def test_mesh_dir_layout_and_round_trip(tmp_path):
    meshes = {7: cube(), 2**40: cube(offset=(10, 0, 0), size=2, id=2**40)}
    write_precomputed_mesh_dir(tmp_path / "mesh", meshes)
    root = tmp_path / "mesh"
    assert sorted(p.name for p in root.iterdir()) == sorted(["info", "7:0", "7:0:1", f"{2**40}:0", f"{2**40}:0:1"])
    assert json.loads((root / "info").read_text()) == {"@type": "neuroglancer_legacy_mesh"}
    assert json.loads((root / "7:0").read_text()) == {"fragments": ["7:0:1"]}
    # the fragment's bytes, parsed independently of the reader
    raw = (root / "7:0:1").read_bytes()
    (nv,) = struct.unpack_from("<I", raw)
    vertices = np.frombuffer(raw, "<f4", nv * 3, 4).reshape(nv, 3)
    faces = np.frombuffer(raw, "<u4", offset=4 + 12 * nv).reshape(-1, 3)
    assert nv == 8 and vertices.tolist() == CUBE_VERTICES and faces.tolist() == CUBE_FACES
    assert read_precomputed_mesh_dir(root, 7) == cube(id=7)
    assert read_precomputed_mesh_dir(str(root), 2**40) == meshes[2**40]


def test_mesh_dir_custom_fragment_names_and_multiple_fragments(tmp_path):
    write_precomputed_mesh_dir(tmp_path, {1: cube(), 2: cube()}, fragment_name="{id}:0:mesh")
    assert json.loads((tmp_path / "2:0").read_text()) == {"fragments": ["2:0:mesh"]}
    write_precomputed_mesh_dir(tmp_path, {3: cube(offset=(5, 0, 0))}, fragment_name=lambda i: f"part-{i}")
    (tmp_path / "1:0").write_text(json.dumps({"fragments": ["1:0:mesh", "part-3"]}))
    both = read_precomputed_mesh_dir(tmp_path, 1)
    assert both.id == 1 and len(both.faces) == 24 and both.volume == pytest.approx(2.0)
    with pytest.raises(ValueError, match="collide"):
        write_precomputed_mesh_dir(tmp_path, {1: cube(), 2: cube()}, fragment_name="same")


def test_mesh_dir_keeps_other_info_keys_and_refuses_other_formats(tmp_path):
    (tmp_path / "info").write_text(json.dumps({"@type": "neuroglancer_legacy_mesh", "segment_properties": "props"}))
    write_precomputed_mesh_dir(tmp_path, {1: cube()})
    assert json.loads((tmp_path / "info").read_text())["segment_properties"] == "props"
    (tmp_path / "info").write_text(json.dumps({"@type": "neuroglancer_multilod_draco"}))
    with pytest.raises(MetadataError, match="multilod"):
        write_precomputed_mesh_dir(tmp_path, {1: cube()})
    with pytest.raises(MetadataError):
        read_precomputed_mesh_dir(tmp_path, 1)


def test_mesh_dir_errors(tmp_path):
    with pytest.raises(ValueError):
        write_precomputed_mesh_dir(tmp_path, {1: cube(id=2)})
    write_precomputed_mesh_dir(tmp_path, {1: cube()})
    with pytest.raises(NotFoundError):
        read_precomputed_mesh_dir(tmp_path, 5)
    (tmp_path / "1:0").write_text('{"fragments": ["../escape"]}')
    with pytest.raises(MetadataError):
        read_precomputed_mesh_dir(tmp_path, 1)
    (tmp_path / "1:0").write_text('{"fragments": ["gone"]}')
    with pytest.raises(NotFoundError):
        read_precomputed_mesh_dir(tmp_path, 1)
    (tmp_path / "1:0").write_text("not json")
    with pytest.raises(MetadataError):
        read_precomputed_mesh_dir(tmp_path, 1)
    (tmp_path / "1:0").write_text('{"fragments": ["1:0:1"]}')
    (tmp_path / "1:0:1").write_bytes(b"\x05\x00\x00\x00")
    with pytest.raises(MetadataError, match="truncated"):
        read_precomputed_mesh_dir(tmp_path, 1)


def test_mesh_dir_reads_gzipped_files(tmp_path):
    write_precomputed_mesh_dir(tmp_path, {1: cube()})
    for name in ("1:0", "1:0:1"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((tmp_path / name).read_bytes()))
        os.remove(tmp_path / name)
    assert read_precomputed_mesh_dir(tmp_path, 1) == cube(id=1)


# -- Skeleton ---------------------------------------------------------------------------------------------------------
def test_skeleton_defaults_and_cable_length():
    sk = Skeleton([[0, 0, 0], [3, 4, 0], [3, 4, 12]], [[0, 1], [2, 1]])
    assert sk.radii.dtype == np.float32 and sk.radii.tolist() == [0, 0, 0]
    assert sk.edges.dtype == np.uint32 and sk.cable_length == pytest.approx(17.0)
    assert Skeleton(np.empty((0, 3)), []).cable_length == 0.0
    with pytest.raises(ValueError):
        Skeleton([[0, 0, 0]], [[0, 1]])
    with pytest.raises(ValueError):
        Skeleton([[0, 0, 0]], [], radii=[1, 2])


def test_swc_parses():
    text = """# a soma with two branches; ids not contiguous, lines not in order
1 1 0 0 0 5.5 -1
5 3 0 10 0 1 1
3 3 10 0 0 1.5 1
7 3 20 0 0 1 3 extra columns are ignored
"""
    sk = Skeleton.from_swc(text, id=11)
    assert sk.id == 11
    assert sk.vertices.tolist() == [[0, 0, 0], [10, 0, 0], [0, 10, 0], [20, 0, 0]]  # ascending SWC id
    assert sk.radii.tolist() == [5.5, 1.5, 1, 1]
    assert sk.edges.tolist() == [[0, 1], [0, 2], [1, 3]]  # (parent, child)
    assert sk.cable_length == pytest.approx(30.0)


def test_swc_writes_parents_before_children():
    sk = Skeleton([[0, 0, 0], [1, 0, 0], [2, 0, 0], [9, 9, 9]], [[2, 1], [1, 0]], radii=[1, 2, 3, 4])
    lines = [line.split() for line in sk.to_swc().splitlines() if not line.startswith("#")]
    assert lines == [
        ["1", "0", "0", "0", "0", "1", "-1"],
        ["2", "0", "1", "0", "0", "2", "1"],
        ["3", "0", "2", "0", "0", "3", "2"],
        ["4", "0", "9", "9", "9", "4", "-1"],
    ]


@settings(max_examples=60, deadline=None)
@given(trees())
def test_swc_round_trip_of_forests(sk):
    back = Skeleton.from_swc(sk.to_swc())
    assert back.vertices.tolist() == sk.vertices.tolist() and back.radii.tolist() == sk.radii.tolist()
    assert undirected(back.edges) == undirected(sk.edges)


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_swc_of_any_graph_is_its_spanning_forest(sk):
    back = Skeleton.from_swc(sk.to_swc())
    loops = {e for e in undirected(sk.edges) if len(e) == 1}
    assert undirected(back.edges) <= undirected(sk.edges) - loops  # only edges that were there
    components = _components(len(sk.vertices), sk.edges)
    assert len(back.edges) == len(sk.vertices) - components  # ...and enough of them to keep components connected
    assert _components(len(back.vertices), back.edges) == components


def _components(n, edges) -> int:
    label = list(range(n))

    def find(i):
        while label[i] != i:
            i = label[i]
        return i

    for a, b in np.asarray(edges, dtype=np.int64):
        label[find(a)] = find(b)
    return len({find(i) for i in range(n)})


@settings(max_examples=60, deadline=None)
@given(graphs(), st.data())
def test_skeleton_precomputed_round_trip_is_exact(sk, data):
    radii = data.draw(hnp.arrays(np.float32, (len(sk.vertices),), elements=finite32))
    sk = Skeleton(sk.vertices, sk.edges, radii=radii, id=sk.id)
    raw = sk.to_precomputed()
    assert Skeleton.from_precomputed(raw, id=sk.id) == sk
    attrs = [{"id": "radius", "data_type": "float32", "num_components": 1}]
    assert Skeleton.from_precomputed(raw, vertex_attributes=attrs, id=sk.id) == sk


def test_skeleton_precomputed_byte_layout_and_other_attributes():
    sk = Skeleton([[1, 2, 3], [4, 5, 6]], [[0, 1]], radii=[7, 8])
    raw = sk.to_precomputed()
    assert struct.unpack("<II6f2I2f", raw) == (2, 1, 1, 2, 3, 4, 5, 6, 0, 1, 7, 8)
    # a file with an extra uint8 attribute before the radius, described by its info
    extra = raw[:-8] + bytes([9, 9]) + raw[-8:]
    attrs = [
        {"id": "type", "data_type": "uint8", "num_components": 1},
        {"id": "radius", "data_type": "float32", "num_components": 1},
    ]
    assert Skeleton.from_precomputed(extra, vertex_attributes=attrs) == sk
    assert Skeleton.from_precomputed(raw[:-8], vertex_attributes=[]).radii.tolist() == [0, 0]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01\x00\x00\x00",
        struct.pack("<II", 2, 0) + b"\x00" * 12,  # vertices truncated
        struct.pack("<II", 1, 1) + b"\x00" * 12 + struct.pack("<2I", 0, 0) + b"\x00",  # neither nothing nor radii
        struct.pack("<II", 1, 1) + b"\x00" * 12 + struct.pack("<2I", 0, 3),  # edge to a missing vertex
    ],
)
def test_malformed_skeleton_file_raises_metadata_error(data):
    with pytest.raises(MetadataError):
        Skeleton.from_precomputed(data)


@pytest.mark.parametrize(
    "text",
    [
        "1 1 0 0 0 1\n",  # 6 columns
        "1 1 0 0 zero 1 -1\n",
        "1 1 0 0 0 1 -1\n1 1 0 0 0 1 -1\n",  # repeated id
        "1 1 0 0 0 1 -1\n2 1 0 0 0 1 3\n",  # unknown parent
        "1 1 0 0 0 1 1\n",  # its own parent
        "1.5 1 0 0 0 1 -1\n",
        "1 1 0 0 nan 1 -1\n",
        b"\xff\xfe",
    ],
)
def test_malformed_swc_raises_metadata_error(text):
    with pytest.raises(MetadataError):
        Skeleton.from_swc(text)


def test_skeleton_save_load(tmp_path):
    sk = Skeleton([[0, 0, 0], [1.5, 0, 0]], [[0, 1]], radii=[1, 2])
    sk.save(tmp_path / "a.swc")
    assert Skeleton.load(tmp_path / "a.swc") == sk
    with pytest.raises(MetadataError, match="suffix"):
        sk.save(tmp_path / "a.txt")
    with pytest.raises(MetadataError):
        Skeleton.load(tmp_path / "a.json")


# -- precomputed skeleton directories ---------------------------------------------------------------------------------
def test_skeleton_dir_layout_and_round_trip(tmp_path):
    sk = Skeleton([[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[0, 1], [1, 2]], radii=[1, 2, 3])
    write_precomputed_skeleton_dir(tmp_path, {5: sk})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["5", "info"]
    assert json.loads((tmp_path / "info").read_text()) == {
        "@type": "neuroglancer_skeletons",
        "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
        "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}],
    }
    raw = (tmp_path / "5").read_bytes()
    nv, ne = struct.unpack_from("<II", raw)
    assert (nv, ne) == (3, 2) and len(raw) == 8 + 12 * nv + 8 * ne + 4 * nv
    assert np.frombuffer(raw, "<u4", 4, 8 + 36).tolist() == [0, 1, 1, 2]
    assert np.frombuffer(raw, "<f4", 3, 8 + 36 + 16).tolist() == [1, 2, 3]
    back = read_precomputed_skeleton_dir(tmp_path, 5)
    assert back.id == 5 and back == Skeleton(sk.vertices, sk.edges, radii=sk.radii, id=5)


def test_skeleton_dir_transform_is_undone_on_read(tmp_path):
    sk = Skeleton([[8, 16, 40], [16, 32, 80]], [[0, 1]], radii=[1, 1])
    transform = [8, 0, 0, 100, 0, 8, 0, 0, 0, 0, 40, 0]
    write_precomputed_skeleton_dir(tmp_path, {1: sk}, transform=transform)
    assert json.loads((tmp_path / "info").read_text())["transform"] == transform
    stored = np.frombuffer((tmp_path / "1").read_bytes(), "<f4", 6, 8).reshape(2, 3)
    assert stored.tolist() == [[-11.5, 2, 1], [-10.5, 4, 2]]  # voxel-like coordinates
    assert read_precomputed_skeleton_dir(tmp_path, 1).allclose(sk)
    with pytest.raises(MetadataError, match="mix"):
        write_precomputed_skeleton_dir(tmp_path, {2: sk})  # another transform would break the existing files
    with pytest.raises(MetadataError, match="invertible"):
        write_precomputed_skeleton_dir(tmp_path / "x", {1: sk}, transform=[0] * 12)


def test_skeleton_dir_errors(tmp_path):
    with pytest.raises(ValueError):
        write_precomputed_skeleton_dir(tmp_path, {1: Skeleton([[0, 0, 0]], [], id=2)})
    with pytest.raises(NotFoundError):
        read_precomputed_skeleton_dir(tmp_path, 1)
    (tmp_path / "info").write_text(json.dumps({"@type": "neuroglancer_skeletons", "sharding": {}}))
    with pytest.raises(MetadataError, match="sharded"):
        read_precomputed_skeleton_dir(tmp_path, 1)


def test_skeleton_dir_without_info_guesses_radius(tmp_path: Path):
    sk = Skeleton([[0, 0, 0], [1, 0, 0]], [[0, 1]], radii=[3, 4])
    (tmp_path / "9").write_bytes(sk.to_precomputed())
    assert read_precomputed_skeleton_dir(tmp_path, 9).radii.tolist() == [3, 4]
