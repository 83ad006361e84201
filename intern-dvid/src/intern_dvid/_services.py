"""The services DVID serves itself, advertised by :meth:`DvidRemote.server_services` for label volumes.

DVID has no capability endpoint: what it offers follows from the repo's instances and their types, by the field's
conventions.

| capability | when | from |
|---|---|---|
| ``mesh`` | keyvalue ``<seg>_meshes`` exists | key ``<body>.ngmesh``: neuroglancer legacy mesh, vertices in nm |
| ``skeleton`` | keyvalue ``<seg>_skeletons`` exists | key ``<body>_swc``: SWC in scale-0 voxel units (see below) |
| ``label_at`` | any label volume | ``GET .../labels`` (``.../label/x_y_z`` for one point) |
| ``sparsevol`` | labelmap, labelarray | ``GET .../sparsevol/{label}`` (RLE) |
| ``bounding_box``, ``size`` | labelmap, labelarray | ``GET .../sparsevol-size/{label}`` |

Every function takes the resource first and keyword parameters, like any intern service; points and boxes are in
intern's (z, y, x) voxel frame of scale 0, meshes and skeletons are (x, y, z) in nanometres.

SWC units: skeletons kept in DVID (NeuTu, neuPrint exports) are in voxel units of scale 0, so intern scales them
by the voxel size; ``units="nm"`` reads files that are in nanometres already.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from intern.errors import CapabilityUnavailableError, InvalidURIError, NotFoundError, OutOfBoundsError
from intern.plugin import Box, Mesh, Skeleton, run_parallel

from ._keyvalue import DvidKeyValue
from ._sparse import SparseVolume
from ._volume import DvidVolume

__all__ = ["bounding_box", "label_at", "size", "sparsevol", "stored_mesh", "stored_skeleton"]


def _store(resource: DvidVolume, suffix: str) -> DvidKeyValue:
    return DvidKeyValue(resource.remote, resource.node, f"{resource.name}{suffix}")


def _whole_bodies_only(resource: DvidVolume, what: str, box: Box | None) -> None:
    if box is not None and box != Box.from_shape(resource.metadata.shape):
        raise CapabilityUnavailableError(
            f"the {what} DVID stores for {resource.uri} are whole bodies and cannot be cut to box [{box}]; pass "
            f"prefer='local' to compute them from the voxels in the box")


def _ids(store: DvidKeyValue, ids: Sequence[int] | None, suffix: str) -> list[int]:
    if ids is not None:
        return [int(i) for i in ids]
    found = []
    for key in store.keys():
        head = key[: -len(suffix)]
        if key.endswith(suffix) and head.isdigit():
            found.append(int(head))
    return sorted(found)


def _fetch_all(store: DvidKeyValue, ids: list[int], suffix: str, what: str) -> list[bytes]:
    def get(label: int) -> bytes:
        try:
            return store.get(f"{label}{suffix}")
        except NotFoundError:
            raise NotFoundError(f"{store.uri} holds no {what} of body {label} (key '{label}{suffix}'); pass "
                                "prefer='local' to compute it from the segmentation") from None

    return run_parallel(get, ids)


def stored_mesh(resource: DvidVolume, *, ids: Sequence[int] | None = None, box: Box | None = None,
                scale: int = 0) -> dict[int, Mesh]:
    """Meshes kept in keyvalue ``<seg>_meshes`` (``<body>.ngmesh``); every stored mesh when ``ids`` is None.

    The stored meshes are whatever resolution they were made at: ``scale`` does not change them.
    """
    _whole_bodies_only(resource, "meshes", box)
    store = _store(resource, "_meshes")
    labels = _ids(store, ids, ".ngmesh")
    blobs = _fetch_all(store, labels, ".ngmesh", "mesh")
    return {label: Mesh.from_precomputed(blob, id=label) for label, blob in zip(labels, blobs, strict=True)}


def stored_skeleton(resource: DvidVolume, *, ids: Sequence[int] | None = None, box: Box | None = None,
                    scale: int = 0, units: str = "voxels") -> dict[int, Skeleton]:
    """Skeletons kept in keyvalue ``<seg>_skeletons`` (``<body>_swc``), vertices and radii converted to nm.

    Args:
        units: ``"voxels"`` (DVID's convention: scale-0 voxel units) or ``"nm"``.
    """
    if units not in ("voxels", "nm"):
        raise InvalidURIError(f"units={units!r}: stored SWC files are in 'voxels' (scale 0) or 'nm'")
    _whole_bodies_only(resource, "skeletons", box)
    store = _store(resource, "_skeletons")
    labels = _ids(store, ids, "_swc")
    blobs = _fetch_all(store, labels, "_swc", "skeleton")
    vz, vy, vx = resource.metadata.scales[0].voxel_size
    scale_xyz = np.array([vx, vy, vz], dtype=np.float64) if units == "voxels" else np.ones(3)
    radius = float(np.mean([vx, vy])) if units == "voxels" else 1.0
    out = {}
    for label, blob in zip(labels, blobs, strict=True):
        skel = Skeleton.from_swc(blob, id=label)
        out[label] = Skeleton(skel.vertices * scale_xyz, skel.edges, radii=skel.radii * radius, id=label)
    return out


def _dvid_xyz(resource: DvidVolume, points: np.ndarray) -> np.ndarray:
    offset = np.asarray(resource.metadata.scales[0].offset)
    return (points + offset)[:, ::-1]


def label_at(resource: DvidVolume, points: Any = None, *, supervoxels: bool | None = None) -> np.ndarray | int:
    """The label at (z, y, x) voxel ``points`` of scale 0: an ``(n,)`` uint64 array, or an int for one point."""
    if points is None:
        raise TypeError("label_at needs points: one (z, y, x) voxel or an (n, 3) array of them")
    pts = np.asarray(points, dtype=np.int64)
    single = pts.ndim == 1
    pts = pts.reshape(-1, 3)
    # DVID answers 0 for any point, inside its extents or not; intern's volumes have bounds (as the local scan does)
    if len(pts) and ((pts < 0).any() or (pts >= np.asarray(resource.metadata.shape)).any()):
        raise OutOfBoundsError(f"points outside the volume {Box.from_shape(resource.metadata.shape)} of {resource.uri}")
    if not len(pts):
        return np.zeros(0, dtype=np.uint64)
    query = {"supervoxels": "true"} if (resource.options.supervoxels if supervoxels is None else supervoxels) else {}
    base = f"/api/node/{resource.node.uuid}/{resource.name}"
    xyz = _dvid_xyz(resource, pts)
    if single:
        x, y, z = (int(v) for v in xyz[0])
        return int(resource.remote.http.json("GET", f"{base}/label/{x}_{y}_{z}", params=query)["Label"])
    labels = resource.remote.http.json("GET", f"{base}/labels", params=query, json=xyz.tolist())
    return np.asarray(labels, dtype=np.uint64)


def _label(label: Any) -> int:
    value = int(label)
    if value <= 0:
        raise ValueError(f"label {label!r}: DVID's sparse volumes are of labels > 0 (0 is background)")
    return value


def sparsevol(resource: DvidVolume, label: Any = None, *, supervoxels: bool | None = None) -> SparseVolume:
    """The voxels of ``label`` as a :class:`SparseVolume` (runs, ``coords``, ``mask()``, ``box``, ``size``).

    Raises:
        NotFoundError: the label has no voxels at this version.
    """
    label = _label(label)
    query = {"supervoxels": "true"} if (resource.options.supervoxels if supervoxels is None else supervoxels) else {}
    try:
        body = resource.remote.http.read(f"/api/node/{resource.node.uuid}/{resource.name}/sparsevol/{label}", None,
                                         params=query)
    except NotFoundError:
        raise NotFoundError(f"{resource.uri} has no voxels of label {label} at version {resource.version}") from None
    assert body is not None
    return SparseVolume.from_rle(label, body, offset=resource.metadata.scales[0].offset)


def _sparsevol_size(resource: DvidVolume, label: Any) -> dict[str, Any]:
    if label is not None and int(label) == 0:
        # DVID's label index keeps no background; the local scan counts it (the resolver hands over)
        raise CapabilityUnavailableError(f"DVID's label index of {resource.uri} has no background label 0")
    label = _label(label)
    try:
        return resource.remote.http.json("GET", f"/api/node/{resource.node.uuid}/{resource.name}/sparsevol-size/"
                                                f"{label}")
    except NotFoundError:
        raise NotFoundError(f"{resource.uri} has no voxels of label {label} at version {resource.version}") from None


def bounding_box(resource: DvidVolume, label: Any = None) -> Box:
    """The (z, y, x) half-open box around ``label``'s voxels at scale 0, from DVID's label index."""
    found = _sparsevol_size(resource, label)
    offset = resource.metadata.scales[0].offset
    lo = [int(v) for v in reversed(found["minvoxel"])]
    hi = [int(v) + 1 for v in reversed(found["maxvoxel"])]
    return Box(tuple(a - o for a, o in zip(lo, offset, strict=True)), tuple(b - o for b, o in zip(hi, offset, strict=True)))


def size(resource: DvidVolume, label: Any = None) -> int:
    """How many voxels ``label`` has at scale 0, from DVID's label index."""
    return int(_sparsevol_size(resource, label)["voxels"])
