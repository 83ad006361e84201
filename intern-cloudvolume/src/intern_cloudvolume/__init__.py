"""intern-cloudvolume: the intern driver for neuroglancer precomputed volumes, through cloud-volume.

Nothing here is imported by ``import intern``: the core finds :mod:`intern_cloudvolume.plugin` through its entry
point and loads :mod:`intern_cloudvolume._remote` on the first use of ``precomputed://``. Use the volumes through the
core's API::

    import intern
    em = intern.array("precomputed://gs://bucket/em")
    meshes = intern.mesh("precomputed://file:///data/seg", ids=[12, 40])   # the stored meshes, when there are some
"""

from __future__ import annotations

__version__ = "2.0.0.dev0"
__all__ = ["__version__"]
