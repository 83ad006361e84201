"""The compressor intern-zarr writes with unless told otherwise, and the ``compressor=`` option's forms.

Measured in ``COMPRESSION.md`` (``tools/measure_compression.py``) on EM-like uint8 images and uint64 segmentations:
blosc with zstd at level 1 is as small as higher levels on noisy EM and the fastest to write; byte shuffle costs
nothing on uint8 and groups the bytes of wider image types (not measured there); bitshuffle makes label volumes
(long runs of one 64-bit id) several times smaller *and* faster, but makes EM larger, so only segmentations get it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from intern.errors import MetadataError

__all__ = ["DEFAULT_LEVEL", "compressors_for"]

DEFAULT_LEVEL = 1
SEGMENTATION_LEVEL = 3


def default_compressor(dtype: np.dtype, kind: str) -> Any:
    """The blosc codec for a new array of ``dtype`` holding an ``image`` or a ``segmentation``."""
    from zarr.codecs import BloscCodec

    if kind == "segmentation":
        return BloscCodec(cname="zstd", clevel=SEGMENTATION_LEVEL, shuffle="bitshuffle")
    return BloscCodec(cname="zstd", clevel=DEFAULT_LEVEL, shuffle="shuffle")


def compressors_for(option: Any, dtype: np.dtype, kind: str) -> Any:
    """The ``compressors`` argument for zarr-python from the user's ``compressor=`` option.

    Args:
        option: ``None`` for the default; ``"none"`` or ``False`` for no compression; a zarr-python codec object
            (``zarr.codecs.ZstdCodec(level=3)``), or a list of them, as they are.
    """
    if option is None or option == "default":
        return default_compressor(dtype, kind)
    if option is False or (isinstance(option, str) and option.lower() == "none"):
        return None
    if isinstance(option, str):
        raise MetadataError(f"compressor {option!r}: pass None (the default), 'none', or a zarr.codecs codec object")
    return option
