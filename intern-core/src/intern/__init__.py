"""intern: one API over the volumetric datastores of connectomics.

>>> import intern
>>> a = intern.create("mem://readme", shape=(8, 32, 32), dtype="uint8")
>>> a[0, :2, :2]
array([[0, 0],
       [0, 0]], dtype=uint8)

Drivers (``intern-zarr``, ``intern-dvid``, ``intern-boss``, ...) add URI schemes; ``intern.plugins()`` lists them.
"""

from __future__ import annotations

__version__ = "2.0.0.dev0"

from . import errors
from .api import array, create, ls, open
from .array import Array
from .box import Box
from .errors import InternError
from .metadata import ScaleLevel, VolumeMetadata
from .registry import plugins
from .resolver import Resolution, capabilities, resolve
from .services import downsample, mesh, skeleton

__all__ = [
    "Array",
    "Box",
    "InternError",
    "Mesh",
    "Resolution",
    "ScaleLevel",
    "Skeleton",
    "VolumeMetadata",
    "__version__",
    "array",
    "capabilities",
    "create",
    "downsample",
    "errors",
    "ls",
    "mesh",
    "open",
    "plugins",
    "resolve",
    "skeleton",
]


def __getattr__(name: str):  # the data products load on first use; most sessions never touch them
    if name in ("Mesh", "Skeleton"):
        from . import products

        return getattr(products, name)
    raise AttributeError(f"module 'intern' has no attribute {name!r}")
