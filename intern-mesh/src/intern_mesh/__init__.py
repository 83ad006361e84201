"""intern-mesh: local meshes, skeletons and downsampled pyramids for any intern volume.

Normally used through intern's front doors, which pick these implementations when the datastore does not serve the
service itself::

    import intern
    meshes = intern.mesh("zarr:///data/seg.ome.zarr", ids=[12, 13])     # {label: intern.Mesh}, vertices in nm
    skeletons = intern.skeleton(seg_array, ids=[12])                    # {label: intern.Skeleton}
    intern.downsample(em, levels=3, dest=em)                            # fills em's pyramid

This package also writes those results as directories with a ``provenance.json`` (:func:`write_meshes`,
:func:`write_skeletons`). Names load on first use, so importing the plugin module stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "2.0.0.dev0"

_LAZY = {
    "mesh_zmesh": "_meshing", "mesh_skimage": "_meshing",
    "skeleton": "_skeleton",
    "downsample": "_downsample",
    "write_meshes": "_output", "write_skeletons": "_output",
}
__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'intern_mesh' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
