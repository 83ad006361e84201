"""The light plugin module of intern-zarr: registers the ``zarr://``, ``h5://`` and ``tiff://`` schemes.

The core imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin`; the
drivers (zarr-python, TensorStore, h5py, tifffile, fsspec) load on the first use of a scheme, through the dotted
references.
"""

from __future__ import annotations

from intern.plugin import SchemeSpec, hookimpl

__all__ = ["intern_schemes"]

_H5 = "intern_zarr._hdf5:H5Remote.from_uri"


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    """The schemes this distribution serves and the plain-path suffixes it claims."""
    return [
        SchemeSpec("zarr", "intern_zarr._zarr:ZarrRemote.from_uri", suffixes=(".zarr", ".ome.zarr"),
                   description="Zarr v2/v3 arrays and OME-Zarr 0.4/0.5 pyramids, local or on any fsspec URL"),
        SchemeSpec("h5", _H5, suffixes=(".h5", ".hdf5"), description="datasets in HDF5 files (single scale)"),
        SchemeSpec("hdf5", _H5, description="the same as h5://"),
        SchemeSpec("tiff", "intern_zarr._tiff:TiffRemote.from_uri", suffixes=(".tif", ".tiff", ".btf"),
                   description="multipage (Big/OME-)TIFF files and folders of TIFF or PNG slices, read lazily"),
    ]
