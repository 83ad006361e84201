"""Provenance: what produced a data product, written as ``provenance.json`` beside it.

Data products intern writes (cutout files from the CLI, and the mesh and skeleton directories of services) get one,
so a result can be traced to its source, version, box, implementation, parameters and the package versions that
made it.

>>> rec = record(source="mem://demo", implementation="numpy", parameters={"factor": [1, 2, 2]})
>>> sorted(rec)[:3]
['box', 'created', 'implementation']
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from ._box import Box
from ._files import write_atomic

__all__ = ["package_versions", "record", "write"]


def package_versions() -> dict[str, str]:
    """Versions of every installed intern distribution, numpy and Python."""
    versions = {"python": platform.python_version()}
    for dist in importlib_metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("intern-") or name in ("numpy", "zarr", "tensorstore", "cloud-volume", "zmesh", "kimimaro",
                                                  "tinybrain", "h5py"):
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Box):
        return {"start": list(value.start), "stop": list(value.stop)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def record(
    *,
    source: str,
    implementation: str,
    parameters: dict[str, Any] | None = None,
    version: str | None = None,
    box: Box | None = None,
    scale: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A provenance record as a JSON-ready dict."""
    return _jsonable({
        "source": source,
        "version": version,
        "box": box,
        "scale": scale,
        "implementation": implementation,
        "parameters": parameters or {},
        "packages": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    })


def write(path: str | os.PathLike[str], **fields: Any) -> Path:
    """Write ``provenance.json`` into the directory ``path`` (or beside the file ``path``), atomically.

    Takes the arguments of :func:`record`; returns the file written.
    """
    path = Path(path)
    target = path / "provenance.json" if path.is_dir() else path.with_name(path.name + ".provenance.json")
    text = json.dumps(record(**fields), indent=2, sort_keys=True)
    return write_atomic(target, (text + "\n").encode())
