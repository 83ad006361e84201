"""The meshes and skeletons stored beside a precomputed segmentation, served as intern's ``mesh`` and ``skeleton``.

A segmentation's ``info`` may name a ``mesh`` directory (neuroglancer's legacy format, or the multi-resolution Draco
format, either of them sharded or not) and a ``skeletons`` directory. cloud-volume reads all of them; this module
picks the labels, asks cloud-volume for them and returns the core's :class:`~intern.plugin.Mesh` and
:class:`~intern.plugin.Skeleton`, vertices (x, y, z) in nanometres, keyed by label.

Which labels:

- ``ids`` given: exactly those; a label with nothing stored is a :class:`~intern.errors.NotFoundError` that says
  ``prefer="local"`` computes it from the voxels instead.
- ``box`` given (at ``scale``), no ``ids``: the labels present in that box that have something stored. The stored
  objects come whole; they are not clipped to the box.
- neither: every label stored in the directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from intern.errors import NotFoundError, OutOfBoundsError
from intern.plugin import Box, Mesh, Skeleton

from ._errors import translating

__all__ = ["stored_labels", "stored_meshes", "stored_skeletons"]

_COMPRESSED = re.compile(r"\.(gz|br|zstd|xz|bz2)$")
_PATTERNS = {
    "legacy": re.compile(r"^(\d+):0$"),
    "multires": re.compile(r"^(\d+)\.index$"),
    "skeletons": re.compile(r"^(\d+)$"),
}


def _directory(resource: Any, name: str) -> tuple[Any, str, dict[str, Any]]:
    """(cloud-files handle of the directory, its name, its info or {})."""
    sub = str(resource.info[name]).strip("/")
    files = resource.location.cloudfiles(sub)
    info = files.get_json("info") or {}
    return files, sub, info if isinstance(info, dict) else {}


def stored_labels(resource: Any, name: str) -> list[int]:
    """Every label stored in the volume's ``mesh`` or ``skeletons`` directory, ascending."""
    files, sub, info = _directory(resource, name)
    if info.get("sharding"):
        from cloudvolume.datasource.precomputed.sharding import ShardingSpecification, ShardReader

        cv = resource.cloudvolume()
        reader = ShardReader(cv.meta.cloudpath, cv.cache, ShardingSpecification.from_dict(info["sharding"]))
        found: set[int] = set()
        for path in files.list(flat=True):
            if path.endswith(".shard"):
                found.update(int(x) for x in reader.list_labels(path.rsplit("/", 1)[-1], path=sub))
        return sorted(found)
    if name == "skeletons":
        pattern = _PATTERNS["skeletons"]
    else:
        pattern = _PATTERNS["multires" if info.get("@type") == "neuroglancer_multilod_draco" else "legacy"]
    labels = set()
    for path in files.list(flat=True):
        m = pattern.match(_COMPRESSED.sub("", path.rsplit("/", 1)[-1]))
        if m:
            labels.add(int(m.group(1)))
    return sorted(labels)


def _labels(resource: Any, name: str, ids: Iterable[int] | None, box: Box | None, scale: int) -> tuple[list[int], bool]:
    """The labels to fetch, and whether each must exist (asked for by id)."""
    if ids is not None:
        return sorted({int(i) for i in ids}), True
    stored = stored_labels(resource, name)
    if box is None:
        return stored, False
    from intern.plugin import read_box

    present = np.unique(read_box(resource, box, scale=scale))
    return sorted(set(stored) & {int(v) for v in present if v != 0}), False


def _missing(resource: Any, labels: Sequence[int], what: str) -> NotFoundError:
    return NotFoundError(f"{resource.uri} stores no {what} for label(s) {', '.join(map(str, labels))}; "
                         f"prefer='local' computes them from the segmentation")


def stored_meshes(resource: Any, *, ids: Iterable[int] | None = None, box: Box | None = None, scale: int = 0,
                  lod: int = 0) -> dict[int, Mesh]:
    """The stored meshes of a segmentation, ``{label: Mesh}`` with vertices (x, y, z) in nm.

    Args:
        resource: a precomputed segmentation whose info names a ``mesh`` directory.
        ids: labels to fetch (default: every stored one, or those in ``box``).
        box: a (z, y, x) box at ``scale`` whose labels to fetch; the meshes come whole.
        scale: the level ``box`` refers to.
        lod: level of detail of multi-resolution meshes (0 the finest, -1 the coarsest); legacy meshes have only 0.

    Raises:
        NotFoundError: a label in ``ids`` has no stored mesh.

    A parameter only a local mesher takes (``simplify``, ...) is refused by the resolver before this runs: stored
    meshes were computed when they were stored.
    """
    with translating(f"{resource.uri} (mesh)"):
        labels, strict = _labels(resource, "mesh", ids, box, scale)
        if not labels:
            return {}
        source = resource.cloudvolume().mesh
        multires = source.meta.is_multires()
        if not multires and lod != 0:
            raise OutOfBoundsError(f"lod={lod}: the stored meshes of {resource.uri} are legacy meshes, which have "
                                   "only lod 0")
        present = _present_meshes(source, labels, multires)
        absent = [label for label in labels if label not in present]
        if absent and strict:
            raise _missing(resource, absent, "mesh")
        labels = [label for label in labels if label in present]
        if not labels:
            return {}
        if multires:
            try:
                got = source.get(labels, lod=lod, concat=True)
            except Exception as exc:
                if "LOD value" in str(exc):  # cloud-volume says so with a decoding error; it is the caller's index
                    raise OutOfBoundsError(f"lod={lod} does not exist for every label of {labels} in "
                                           f"{resource.uri}: {_plain(exc)}") from exc
                raise
        else:
            got = source.get(labels, fuse=False)
        return {label: _mesh(got[label], label) for label in labels}


def _present_meshes(source: Any, labels: list[int], multires: bool) -> set[int]:
    if source.meta.is_sharded():
        return {label for label, manifest in zip(labels, source.exists(labels), strict=True) if manifest is not None}
    if multires:
        # cloud-volume 12's exists() for these looks relative to the working directory; ask for the index files
        from cloudfiles import CloudFiles

        cf = CloudFiles(source.meta.join(source.meta.cloudpath, source.path), secrets=source.config.secrets)
        there = cf.exists([f"{label}.index" for label in labels])
        return {int(path.rsplit("/", 1)[-1].split(".")[0]) for path, ok in there.items() if ok}
    return {int(label) for label, path in source.exists(labels).items() if path is not None}


def _plain(exc: BaseException) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()


def _mesh(m: Any, label: int) -> Mesh:
    vertices = np.asarray(m.vertices, dtype=np.float32).reshape(-1, 3)
    faces = np.asarray(m.faces).reshape(-1, 3)
    normals = getattr(m, "normals", None)
    if normals is None or np.asarray(normals).reshape(-1, 3).shape != vertices.shape:
        normals = None
    # fragments of one segment share the vertices on their seams; weld them as cloud-volume's fused get() does
    return Mesh(vertices, faces, normals=normals, id=label).deduplicate()


def stored_skeletons(resource: Any, *, ids: Iterable[int] | None = None, box: Box | None = None,
                     scale: int = 0) -> dict[int, Skeleton]:
    """The stored skeletons of a segmentation, ``{label: Skeleton}`` with vertices (x, y, z) in nm.

    Arguments are those of :func:`stored_meshes` (without ``lod``); the info's transform is applied, and the
    ``radius`` vertex attribute becomes :attr:`Skeleton.radii`.

    Raises:
        NotFoundError: a label in ``ids`` has no stored skeleton.

    A parameter only a local skeletoniser takes is refused by the resolver before this runs.
    """
    with translating(f"{resource.uri} (skeletons)"):
        labels, strict = _labels(resource, "skeletons", ids, box, scale)
        if not labels:
            return {}
        source = resource.cloudvolume().skeleton
        found: dict[int, Any] = {}
        if source.meta.is_sharded():
            binaries = source.reader.get_data(labels, source.meta.skeleton_path)
            present = [label for label in labels if binaries.get(label) is not None]
            got = source.get(present) if present else []
        else:
            got = source.get(labels, allow_missing=True)
        for skel in got:
            found[int(skel.id)] = skel
        absent = [label for label in labels if label not in found]
        if absent and strict:
            raise _missing(resource, absent, "skeleton")
        return {label: _skeleton(found[label], label) for label in labels if label in found}


def _skeleton(s: Any, label: int) -> Skeleton:
    vertices = np.asarray(s.vertices, dtype=np.float32).reshape(-1, 3)
    radius = getattr(s, "radius", None)  # cloud-volume's skeletons may lack radii
    radii = np.asarray(radius) if radius is not None else None
    if radii is None or radii.shape != (len(vertices),):
        return Skeleton(vertices, np.asarray(s.edges).reshape(-1, 2), id=label)
    return Skeleton(vertices, np.asarray(s.edges).reshape(-1, 2), radii=radii, id=label)


stored_meshes.description = "meshes stored in the volume's mesh directory, read by cloud-volume"  # type: ignore[attr-defined]
stored_skeletons.description = "skeletons stored in the volume's skeletons directory, read by cloud-volume"  # type: ignore[attr-defined]
