"""Why a Zarr node's metadata does not open: the file at fault and what is wrong with it.

zarr-python reports damaged metadata with whatever its parser tripped over (``JSONDecodeError`` for an empty or
truncated ``zarr.json``, ``AttributeError`` for a list where an object belongs, ``ValueError`` for a data type it does
not know). When opening a node fails, :func:`metadata_error` reads the node's metadata files itself and turns the
failure into one :class:`~intern.errors.MetadataError` naming the file and the fault. It runs only after a failure,
so opening a healthy node costs nothing more.
"""

from __future__ import annotations

import json
from typing import Any

from intern.errors import MetadataError

from ._location import Location

__all__ = ["METADATA_FILES", "metadata_error", "metadata_file", "present_metadata_files"]

#: the files that make a directory a Zarr node: v3's one, then v2's array, group and attributes files
METADATA_FILES = ("zarr.json", ".zarray", ".zgroup", ".zattrs")
#: the key holding the data type in an array's metadata, by file
_DTYPE_KEY = {"zarr.json": "data_type", ".zarray": "dtype"}
_JSON_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def present_metadata_files(location: Location) -> list[str]:
    """The metadata files of :data:`METADATA_FILES` found at ``location`` (none when it is not a Zarr node)."""
    return [name for name in METADATA_FILES if location.child(name).exists()]


def metadata_file(location: Location, node: Any) -> str:
    """The path (or URL) of the file holding an opened node's own metadata: what a message about it names."""
    if int(getattr(node.metadata, "zarr_format", 3)) == 3:
        return location.child("zarr.json").path
    return location.child(".zarray" if hasattr(node, "dtype") else ".zattrs").path


def metadata_error(location: Location, present: list[str], exc: BaseException) -> MetadataError:
    """The error to raise when zarr-python failed with ``exc`` to open the node whose metadata files are ``present``.

    Each present file is checked in turn (empty, not JSON, not a JSON object, a data type Zarr does not define); the
    first fault found is reported with its file. When every file parses, the message names the node's own metadata
    file and passes on zarr-python's reason.
    """
    reason = f"it lacks the key {exc}" if isinstance(exc, KeyError) else (str(exc) or type(exc).__name__)
    for name in present:
        where = location.child(name).path
        problem = _problem(_read(location.child(name)), name, reason)
        if problem:
            return MetadataError(f"{where}: {problem}")
    own = next((n for n in present if n in _DTYPE_KEY), present[0])
    return MetadataError(f"{location.child(own).path}: not valid Zarr metadata ({reason})")


def _read(location: Location) -> bytes:
    fs, path = location.filesystem()
    return bytes(fs.cat_file(path))


def _problem(raw: bytes, name: str, reason: str) -> str | None:
    """What is wrong with the content of metadata file ``name``, or None when nothing is visibly wrong."""
    if not raw.strip():
        return "the file is empty (an interrupted write?); restore it from a copy, or rewrite the metadata"
    try:
        content = json.loads(raw)
    except ValueError as err:
        return f"not JSON ({err}); restore it from a copy, or fix it"
    if not isinstance(content, dict):
        return f"holds a JSON {_JSON_NAMES.get(type(content), 'value')}, where Zarr metadata is a JSON object"
    key = _DTYPE_KEY.get(name)
    if key is not None and "data type" in reason.lower():
        return f"data type {content.get(key)!r} is not one Zarr defines or intern reads ({reason})"
    return None
