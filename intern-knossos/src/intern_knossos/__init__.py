"""intern-knossos: KNOSSOS cube datasets as intern volumes (``knossos:///data/dataset``).

Importing this package costs nothing: intern loads :mod:`intern_knossos.plugin` to learn the scheme, and the driver
itself (:mod:`intern_knossos._remote`) only on the first ``knossos://`` URI.
"""

__version__ = "2.0.0.dev0"
