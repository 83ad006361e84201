"""intern-zarr: the intern driver for Zarr v2/v3, OME-Zarr 0.4/0.5 and HDF5 volumes.

Nothing here is imported by ``import intern``: the core finds :mod:`intern_zarr.plugin` through its entry point and
loads :mod:`intern_zarr._zarr` or :mod:`intern_zarr._hdf5` on the first use of ``zarr://`` or ``h5://``. Use the
volumes through the core's API::

    import intern
    em = intern.array("zarr:///data/em.ome.zarr")
    seg = intern.array("h5:///data/seg.h5/volumes/labels")
"""

from __future__ import annotations

__version__ = "2.0.0.dev0"
__all__ = ["__version__", "close_hdf5_files"]


def close_hdf5_files() -> None:
    """Close every HDF5 file intern-zarr holds open in this process (they reopen on next use)."""
    from ._hdf5 import close_files

    close_files()
