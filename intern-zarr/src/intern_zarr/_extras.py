"""The optional parts of intern-zarr and the ``pip install`` that brings each.

zarr-python is always installed; TensorStore (the faster engine), h5py (``h5://``) and tifffile with Pillow
(``tiff://``) come with extras of their own, so a Zarr-only installation stays small. A scheme or engine whose
extra is missing raises :class:`~intern.errors.DriverNotInstalledError` naming the extra, before anything is read
or written.
"""

from __future__ import annotations

from importlib.util import find_spec

from intern.errors import DriverNotInstalledError

__all__ = ["installed", "require"]


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (looked up without importing it)."""
    return find_spec(module) is not None


def require(module: str, extra: str, needed_for: str) -> None:
    """Make sure ``module`` is installed.

    Args:
        module: the import name (``"h5py"``).
        extra: the intern-zarr extra that installs it (``"hdf5"``).
        needed_for: what the user asked for, for the message (``"h5:// (HDF5 files)"``).

    Raises:
        DriverNotInstalledError: it is not; the message ends with the ``pip install`` to run.
    """
    if not installed(module):
        requirement = f"intern-zarr[{extra}]"
        raise DriverNotInstalledError(
            f"{needed_for} needs {module}, which intern-zarr installs with its '{extra}' extra: "
            f'pip install "{requirement}"', None, requirement)
