"""The light plugin module of intern-dvid: registers the ``dvid://`` and ``dvid+https://`` schemes.

The core imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin`; the
driver (and ``requests``) loads on the first use of a scheme. DVID's server-side services (stored meshes and
skeletons, labels at points, sparse volumes) are not registered here: the Remote advertises them per volume.
"""

from __future__ import annotations

from intern.plugin import SchemeSpec, hookimpl

__all__ = ["intern_schemes"]

_FACTORY = "intern_dvid._remote:DvidRemote.from_uri"


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    """``dvid://`` (HTTP) and ``dvid+https://`` (TLS)."""
    return [
        SchemeSpec("dvid", _FACTORY, description="DVID servers over HTTP: versioned volumes, meshes, skeletons"),
        SchemeSpec("dvid+https", _FACTORY, description="DVID servers over HTTPS"),
    ]
