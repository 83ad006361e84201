"""The light plugin module of intern-knossos: registers the ``knossos://`` scheme.

intern imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin` and names
the driver by dotted reference; numpy codecs, Pillow and cramjam load on the first ``knossos://`` URI.
"""

from __future__ import annotations

from intern.plugin import SchemeSpec, hookimpl

__all__ = ["intern_schemes"]

#: plain paths ending so are KNOSSOS configuration files (``/data/ex145/ex145.k.toml``, ``.../mag1/knossos.conf``)
CONFIG_SUFFIXES = (".k.toml", ".pyk.conf", ".pyknossos.conf", ".k.conf", "knossos.conf")


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    """The scheme this distribution serves and the configuration-file suffixes it claims for plain paths."""
    return [SchemeSpec("knossos", "intern_knossos._remote:KnossosRemote.from_uri", suffixes=CONFIG_SUFFIXES,
                       description="KNOSSOS cube datasets (knossos.conf, .pyk.conf, .k.toml), local folders")]
