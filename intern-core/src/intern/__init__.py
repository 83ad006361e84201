"""intern: one API over the volumetric datastores of connectomics.

>>> import intern
>>> a = intern.create("mem://readme", shape=(8, 32, 32), dtype="uint8")
>>> a[0, :2, :2]
array([[0, 0],
       [0, 0]], dtype=uint8)

Drivers (``intern-zarr``, ``intern-dvid``, ``intern-boss``, ...) add URI schemes; ``intern.plugins()`` lists them.

The names below load on first use, so ``import intern`` and ``intern plugins`` stay fast: building the metadata
models (pydantic) costs more than the rest of the core together, and listing plugins never needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "2.0.0.dev0"

from . import errors
from ._registry import plugins
from .errors import InternError

# public name -> module that defines it (named in full, so a rename of the module rewrites it with its other uses)
_LAZY = {
    "array": "intern._api", "create": "intern._api", "ls": "intern._api", "open": "intern._api",
    "Array": "intern._array",
    "Box": "intern._box",
    "ScaleLevel": "intern._metadata", "VolumeMetadata": "intern._metadata",
    "Outcome": "intern._resolver", "Resolution": "intern._resolver", "capabilities": "intern._resolver", "resolve": "intern._resolver",
    "downsample": "intern._services", "mesh": "intern._services", "skeleton": "intern._services",
    "Mesh": "intern._products", "Skeleton": "intern._products",
    "copy": "intern._transfer", "CopyReport": "intern._transfer",
    "PluginWarning": "intern._registry",
}

__all__ = [
    "Array", "Box", "CopyReport", "InternError", "Mesh", "Outcome", "PluginWarning", "Resolution", "ScaleLevel", "Skeleton", "VolumeMetadata", "__version__",
    "array", "capabilities", "copy", "create", "downsample", "errors", "ls", "mesh", "open", "plugins", "resolve", "skeleton",
]

if TYPE_CHECKING:
    from ._api import array, create, ls, open
    from ._array import Array
    from ._box import Box
    from ._metadata import ScaleLevel, VolumeMetadata
    from ._products import Mesh, Skeleton
    from ._registry import PluginWarning
    from ._resolver import Outcome, Resolution, capabilities, resolve
    from ._services import downsample, mesh, skeleton
    from ._transfer import CopyReport, copy


#: the public submodules besides errors, reachable as attributes after ``import intern`` alone
_SUBMODULES = frozenset({"config", "jobs", "plugin"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'intern' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
