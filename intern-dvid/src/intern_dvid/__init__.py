"""intern-dvid: the DVID driver of intern (``dvid://HOST:PORT/UUID/INSTANCE``, ``dvid+https://``).

>>> import intern                                                          # doctest: +SKIP
>>> em = intern.array("dvid://localhost:8000/a1b2/grayscale")              # doctest: +SKIP
>>> em[100:110, 2000:2512, 3000:3512].shape                                # doctest: +SKIP
(10, 512, 512)

Versions are nodes of the repo's DAG; a volume points at one (``versions()``, ``commit()``, ``newversion()``,
``branch()``, ``at()``). Stored meshes and skeletons, labels at points and sparse volumes are served by DVID itself
through intern's resolver (``intern.mesh``, ``intern.resolve("sparsevol", volume)``). See ``docs/dvid.md``.

The names below load on first use, so importing the package stays as light as the plugin module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "2.0.0.dev0"

_LAZY = {
    "DvidRemote": "_remote", "Options": "_remote",
    "DvidVolume": "_volume", "DvidNode": "_versions", "DvidKeyValue": "_keyvalue", "SparseVolume": "_sparse",
}

__all__ = ["DvidKeyValue", "DvidNode", "DvidRemote", "DvidVolume", "Options", "SparseVolume", "__version__",
           "create_repo"]

if TYPE_CHECKING:
    from ._keyvalue import DvidKeyValue
    from ._remote import DvidRemote, Options
    from ._sparse import SparseVolume
    from ._versions import DvidNode
    from ._volume import DvidVolume


def create_repo(server: str, *, alias: str = "", description: str = "") -> DvidNode:
    """Make a new repo on the DVID server ``dvid://HOST:PORT``; returns its root node (its URI is ``.uri``).

    >>> root = create_repo("dvid://localhost:8000", alias="mouse-v1")          # doctest: +SKIP
    >>> intern.create(f"{root.uri}/grayscale", shape=(64, 512, 512), dtype="uint8")   # doctest: +SKIP
    """
    from intern.plugin import remote_for

    remote, path, parsed = remote_for(server)
    if not hasattr(remote, "create_repo") or path:
        from intern.errors import InvalidURIError

        raise InvalidURIError(f"{server}: give the server alone, dvid://HOST:PORT")
    return remote.create_repo(alias=alias, description=description)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'intern_dvid' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
