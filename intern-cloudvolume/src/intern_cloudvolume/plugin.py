"""The light plugin module of intern-cloudvolume: registers the ``precomputed://`` scheme.

The core imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin`;
cloud-volume loads on the first use of the scheme, through the dotted reference. The stored meshes and skeletons are
not registered here: the remote advertises them per volume (``server_services``), as the resolver asks.
"""

from __future__ import annotations

from intern.plugin import SchemeSpec, hookimpl

__all__ = ["intern_schemes"]


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    """The scheme this distribution serves."""
    return [
        SchemeSpec("precomputed", "intern_cloudvolume._remote:PrecomputedRemote.from_uri",
                   description="neuroglancer precomputed volumes, meshes and skeletons (file, gs, s3, http) through "
                               "cloud-volume"),
    ]
