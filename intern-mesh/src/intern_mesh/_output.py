"""Directories of meshes and skeletons, each with a ``provenance.json``.

Formats:

- ``precomputed``: a neuroglancer legacy mesh directory (``info``, ``<id>:0`` manifests, ``<id>:0:1`` fragments) or a
  neuroglancer skeleton directory (``info``, ``<id>``), written by the core's writers
  (:func:`intern.plugin.write_precomputed_mesh_dir`); neuroglancer opens the directory as a ``precomputed://``
  source, and cloud-volume reads it when a volume's ``info`` names it as its ``mesh`` or ``skeletons``.
- ``obj``, ``ply``: one ``<id>.obj`` / ``<id>.ply`` per label; ``swc``: one ``<id>.swc`` per skeleton.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from intern.errors import AlreadyExistsError
from intern.plugin import (
    Mesh,
    Skeleton,
    write_precomputed_mesh_dir,
    write_precomputed_skeleton_dir,
    write_provenance,
)

__all__ = ["MESH_FORMATS", "SKELETON_FORMATS", "write_meshes", "write_skeletons"]

MESH_FORMATS = ("precomputed", "obj", "ply")
SKELETON_FORMATS = ("precomputed", "swc")


def write_meshes(meshes: Mapping[int, Mesh], directory: str | os.PathLike[str], *,
                 format: Literal["precomputed", "obj", "ply"] = "precomputed",
                 provenance_fields: Mapping[str, Any] | None = None) -> Path:
    """Write ``{label: Mesh}`` into ``directory`` (created if missing) and a ``provenance.json`` beside them.

    Args:
        format: ``"precomputed"`` (a neuroglancer legacy mesh directory), ``"obj"`` or ``"ply"`` (a file per label).
        provenance_fields: the arguments of :func:`intern.plugin.provenance_record` (``source``, ``implementation``,
            ``parameters``, ``box``, ``scale``, ...); ``implementation`` defaults to ``"unknown"``.

    Returns:
        the directory.

    Example:
        >>> import tempfile, intern
        >>> d = write_meshes({3: intern.Mesh([[0, 0, 0], [4, 0, 0], [0, 4, 0]], [[0, 1, 2]], id=3)},
        ...                  tempfile.mkdtemp(), format="obj", provenance_fields={"source": "mem://demo"})
        >>> sorted(p.name for p in d.iterdir())
        ['3.obj', 'provenance.json']
    """
    root = _directory(directory, format, MESH_FORMATS)
    if format == "precomputed":
        write_precomputed_mesh_dir(root, meshes)
    else:
        for label, mesh in meshes.items():
            mesh.save(root / f"{int(label)}.{format}")
    _provenance(root, provenance_fields, format, len(meshes))
    return root


def write_skeletons(skeletons: Mapping[int, Skeleton], directory: str | os.PathLike[str], *,
                    format: Literal["precomputed", "swc"] = "precomputed",
                    provenance_fields: Mapping[str, Any] | None = None) -> Path:
    """Write ``{label: Skeleton}`` into ``directory`` (a neuroglancer skeleton directory, or ``<id>.swc`` files) and a
    ``provenance.json`` beside them; arguments as for :func:`write_meshes`."""
    root = _directory(directory, format, SKELETON_FORMATS)
    if format == "precomputed":
        write_precomputed_skeleton_dir(root, skeletons)
    else:
        for label, skeleton in skeletons.items():
            skeleton.save(root / f"{int(label)}.swc")
    _provenance(root, provenance_fields, format, len(skeletons))
    return root


def _directory(directory: str | os.PathLike[str], format: str, allowed: tuple[str, ...]) -> Path:
    if format not in allowed:
        raise ValueError(f"format must be one of {', '.join(allowed)}, got {format!r}")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise AlreadyExistsError(f"{root} exists and is not a directory; name a new or existing directory")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _provenance(root: Path, fields: Mapping[str, Any] | None, format: str, count: int) -> None:
    fields = dict(fields or {})
    fields.setdefault("source", "unknown")
    fields.setdefault("implementation", "unknown")
    write_provenance(root, **fields, format=format, count=count)
